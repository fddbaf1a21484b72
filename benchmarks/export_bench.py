"""The run's export (``export_run``) alone, on the embedded runtime: seconds and AWS calls by operation.

Runs a synthesised world through ``run_world`` once (its own export kept aside), then exports the same run
again ``--repeat`` times, timing each export and counting its calls (botocore operations). With ``--compare``
(a directory written by an earlier export of the same run) the files are compared byte for byte, except the
summary's ``elapsed_s``.

    .venv/bin/accesswatch synth --out /tmp/hH/w --staff 300 --clients 20000 --days 14
    .venv/bin/python benchmarks/export_bench.py /tmp/hH/w
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from accesswatch_tools.bench.stages import ApiCounter
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate import world_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("world", type=Path)
    parser.add_argument("--out", type=Path, default=Path("/tmp/export-bench"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last export here")
    args = parser.parse_args()
    captured: dict[str, Any] = {}
    real_export = world_run.export_run

    def keep(aws: Any, out_dir: Path, scope: Any, extra: dict[str, Any]) -> dict[str, Any]:
        captured.update(scope=scope, extra=extra)
        return real_export(aws, out_dir, scope, extra)

    world_run.export_run = keep  # type: ignore[assignment]
    with EmbeddedAws() as aws:
        started = time.monotonic()
        outcome = world_run.run_world(aws, args.world / "reference", args.world / "logs", args.out / "run")
        print(f"run: {time.monotonic() - started:.1f} s, problems {len(outcome.problems)}, "
              f"findings {outcome.summary['totals']['findings']}, cases {outcome.summary['totals']['cases']}")
        world_run.export_run = real_export  # type: ignore[assignment]
        for n in range(args.repeat):
            out = args.out / f"export-{n}"
            out.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            with ApiCounter() as api:
                if args.profile and n == args.repeat - 1:
                    import cProfile
                    with cProfile.Profile() as prof:
                        real_export(aws, out, captured["scope"], captured["extra"])
                    prof.dump_stats(str(args.profile))
                else:
                    real_export(aws, out, captured["scope"], captured["extra"])
            print(f"export {n}: {time.monotonic() - started:.2f} s, calls {sum(api.calls.values())}: "
                  + ", ".join(f"{k} {v}" for k, v in api.calls.most_common()))
            for name in ("findings.jsonl", "cases.jsonl", "quarantine.jsonl", "summary.json"):
                same = (out / name).read_bytes() == (args.out / "run" / name).read_bytes()
                print(f"  {name}: {'same as the run' if same else 'DIFFERS from the run'}"
                      f" ({(out / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
