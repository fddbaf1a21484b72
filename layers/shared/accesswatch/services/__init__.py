"""Use cases: each takes plain values and data-access objects and returns a result.

The Lambda handlers (``functions/*/app.py``) and the CLI (``accesswatch_tools.cli``) are thin front ends
over them: ingest, reference, detection of a partition and its outcome, case routing, replay, footprint,
reports, the digest and redrive.
"""
