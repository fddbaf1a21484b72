"""What bringing up an embedded runtime (``EmbeddedAws``: template.yaml on in-process moto) costs, in fresh processes.

``python -m accesswatch_tools.bench.runtime_startup`` runs ``--processes`` fresh Python processes (default 3). Each
imports ``accesswatch_tools.embedded.runtime``, then brings a runtime up and closes it ``--starts`` times (default 5)
and reports the CPU seconds (user + sys of the process, ``time.process_time``) of the import, of the first start
(which pays moto's, botocore's and the SAM translator's first-time imports and model loading) and of each later
start (what every further e2e module or test with a fresh runtime pays in a pytest worker). A local endpoint
process pays "process" below: its interpreter start, the import and one first start with stable names (the
endpoint's own HTTP server and saved state come on top). Printed: the medians over the processes, as a Markdown
table. ``--tools DIR`` measures another checkout's ``tools`` directory (the "before" of a change).
Results are kept in benchmarks/results/runtime-startup.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from accesswatch_tools.bench.cli_startup import run_child

_CHILD = r"""
import json, sys, time
started = time.process_time()
from accesswatch_tools.embedded.runtime import EmbeddedAws
imported = time.process_time()
starts = []
for index in range({starts}):
    before = time.process_time()
    with EmbeddedAws(stable_names=index == 0):
        pass
    starts.append(time.process_time() - before)
with open({out!r}, "w") as fh:
    json.dump({{"import": imported - started, "starts": starts}}, fh)
"""


def _one_process(starts: int, tools: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "result.json")
        env = dict(os.environ)
        if tools is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(tools), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        exit_code, cpu, _ = run_child([sys.executable, "-c", _CHILD.format(starts=starts, out=out)], env)
        if exit_code != 0:
            raise SystemExit(f"the measuring process failed ({exit_code})")
        result = json.loads(Path(out).read_text(encoding="utf-8"))
    later = result["starts"][1:]
    return {
        "import": result["import"],
        "first": result["starts"][0],
        "later": statistics.median(later) if later else float("nan"),
        # Interpreter start + import + first start: what a local endpoint process pays before it serves (the
        # later starts' CPU taken off the process total).
        "process": cpu - sum(later),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accesswatch_tools.bench.runtime_startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=3, help="fresh processes (default 3)")
    parser.add_argument("--starts", type=int, default=5, help="runtimes brought up in each process (default 5)")
    parser.add_argument("--tools", type=Path, help="another checkout's tools/ directory to measure")
    args = parser.parse_args(argv)
    runs = [_one_process(args.starts, args.tools) for _ in range(args.processes)]
    print(f"| CPU s (median of {args.processes} processes) | import runtime | first start | later start "
          f"(median of {args.starts - 1}) | endpoint-like process (interpreter + import + first start) |")
    print("|---|---:|---:|---:|---:|")
    medians = {key: statistics.median(run[key] for run in runs) for key in ("import", "first", "later", "process")}
    print(f"| {args.tools or 'this checkout'} | {medians['import']:.2f} | {medians['first']:.2f} | "
          f"{medians['later']:.2f} | {medians['process']:.2f} |")
    for index, run in enumerate(runs):
        print(f"<!-- process {index}: " + ", ".join(f"{k} {v:.2f}" for k, v in run.items()) + " -->")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
