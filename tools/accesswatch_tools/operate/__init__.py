"""Operating a deployment from a person's machine: where commands act (the local endpoint or a stack),
running a world through it (upload, wait, export), reading results back out, progress on a terminal, and
one module per use case on a deployment (cases, case_exceptions, digest, report, footprint, replay, redrive,
alarms, stored_state for verify). The CLI, the benchmark and the tests use these; none of it deploys, and
none of it imports the CLI (a failure a person can act on is an OperationError, which the CLI reports)."""
