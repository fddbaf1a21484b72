"""Operating a deployment from a person's machine: where commands act (the local endpoint or a stack),
running a world through it (upload, wait, export), reading results back out, progress on a terminal.
The CLI, the benchmark and the tests use these; none of it deploys."""
