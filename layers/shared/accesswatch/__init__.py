"""accesswatch: explainable detection of inappropriate access to client records.

One package, shipped as the SAM layer ``SharedLayer`` and imported the same way by the
Lambda handlers in ``functions/``, the ``accesswatch`` CLI and the tests.
"""

__version__ = "0.1.0"
