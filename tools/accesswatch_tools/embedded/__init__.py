"""The embedded AWS runtime: the real template.yaml, handlers and state machines on in-process moto.

Only the CLI and the tests import this package; Lambda functions never do (moto and the SAM
translator are not in the layer's requirements).
"""
