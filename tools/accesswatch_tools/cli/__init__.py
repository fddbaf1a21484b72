"""The ``accesswatch`` command line."""
