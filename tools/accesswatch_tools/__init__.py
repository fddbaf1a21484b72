"""accesswatch's tools: everything that runs on a person's machine and never in AWS Lambda.

The command line (``cli``), operating a deployment from a machine (``operate``: the local endpoint or a stack,
running a world through it, reading results back), the embedded AWS runtime and local endpoint (``embedded``), the synthetic
world generator (``world``), the benchmark and cost model (``bench``), the local CloudWatch alarm
evaluator (``alarms``), the invariant checker behind ``accesswatch verify`` (``verify``) and the scoring of
a run against a world's truth (``truth``). They import the runtime package ``accesswatch`` (the Lambda
layer); the runtime package never imports them.
"""
