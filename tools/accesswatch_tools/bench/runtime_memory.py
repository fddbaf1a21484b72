"""What holds the embedded runtime's memory at the end of a world run (issue 13).

``python -m accesswatch_tools.bench.runtime_memory <world> <out> [--no-spill]`` runs ``accesswatch run
--in-process`` on a world that ``accesswatch synth`` wrote (``EmbeddedAws`` then ``run_world``), then, before
the runtime closes, walks each holder (``gc.get_referents`` from the holder, ``sys.getsizeof`` of each object
reached, each object counted once, in the order printed; types, modules and functions not walked) and prints
MB and objects per holder, the threads alive and RSS. ``--no-spill`` turns off ``s3.bodies_spilled_to_disk``
(the before of that adapter). Results: benchmarks/results/runtime-memory.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

from accesswatch_tools.bench.stages import peak_rss_mb, resident_mb

_NOT_WALKED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
               types.CodeType, types.FrameType)


def rss_mb() -> dict[str, int]:
    """The process's resident memory now and at its highest, MB (``stages``' two readers)."""
    return {"VmRSS": int(resident_mb()), "VmHWM": int(peak_rss_mb())}


def deep_size(root: Any, seen: set[int]) -> tuple[int, int]:
    """Bytes and objects reachable from ``root`` not already in ``seen``."""
    size = count = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _NOT_WALKED):
            continue
        seen.add(id(obj))
        try:
            size += sys.getsizeof(obj)
        except TypeError:
            continue
        count += 1
        stack.extend(gc.get_referents(obj))
    return size, count


def holders(aws: Any) -> dict[str, Any]:
    from moto.backends import get_backend
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    account, region = "123456789012", "ap-southeast-2"
    return {
        "runtime.invocations": aws.invocations,
        "CloudWatch Logs (moto)": get_backend("logs")[account][region],
        "CloudWatch metrics (moto)": get_backend("cloudwatch")[account][region],
        "Step Functions executions (moto)": stepfunctions_parser_backends[account][region],
        "DynamoDB (moto)": get_backend("dynamodb")[account][region],
        "S3 (moto, bodies in memory)": get_backend("s3")[account]["global"],
        "SQS, EventBridge, Lambda (moto)": [get_backend(s)[account][region] for s in ("sqs", "events", "lambda")],
        "handler modules' globals": [vars(m) for m in aws._modules.values()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("world", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--no-spill", action="store_true", help="S3 bodies kept in memory as moto keeps them")
    args = parser.parse_args(argv)
    from accesswatch_tools.embedded.adapters import s3
    from accesswatch_tools.embedded.runtime import EmbeddedAws
    from accesswatch_tools.operate.world_run import run_world

    if args.no_spill:
        s3.bodies_spilled_to_disk = lambda *a, **k: contextlib.nullcontext()  # type: ignore[assignment]
    started = time.monotonic()
    with EmbeddedAws() as aws:
        print(f"runtime up: {rss_mb()}", flush=True)
        outcome = run_world(aws, args.world / "reference", args.world / "logs", args.out, system="cms")
        totals = outcome.summary["totals"]
        print(f"run {time.monotonic() - started:.1f} s ok={outcome.ok}: {totals['accepted']} events, "
              f"{totals['findings']} findings, {totals['cases']} cases, {len(aws.invocations)} invocations; "
              f"{rss_mb()}", flush=True)
        gc.collect()
        seen: set[int] = set()
        print("| holder | MB | objects |\n|---|---:|---:|")
        for name, holder in holders(aws).items():
            size, count = deep_size(holder, seen)
            print(f"| {name} | {size / 2**20:.1f} | {count:,} |")
        print(f"threads alive: {threading.active_count()}; {rss_mb()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
