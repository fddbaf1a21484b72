"""``accesswatch``: synthesise a world, run it through the system, and look at the results."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


class CliError(Exception):
    """A user-facing failure: one line, non-zero exit."""


def _cmd_synth(args: argparse.Namespace) -> int:
    from accesswatch.cli.progress import Progress
    from accesswatch.synth import generate

    bar = Progress("synthesising", 1)
    summary = generate(Path(args.out), staff=args.staff, clients=args.clients, days=args.days, seed=args.seed,
                       progress=bar.update)
    bar.close()
    print(json.dumps(summary.model_dump(mode="json") if hasattr(summary, "model_dump") else summary.__dict__,
                     indent=2, default=str))
    return 0


def _run(reference: Path, logs: Path, out: Path, system: str) -> int:
    from accesswatch.cli.local import run_local

    for path, what in ((reference, "--reference"), (logs, "--logs")):
        if not path.is_dir():
            raise CliError(f"{what} {path} is not a directory")
    outcome = run_local(reference, logs, out, system=system)
    _print_summary(outcome.summary, out)
    if not outcome.ok:
        for problem in outcome.problems:
            print(f"accesswatch: system failure: {problem}", file=sys.stderr)
        return 2
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    return _run(Path(args.reference), Path(args.logs), Path(args.out), args.system)


def _cmd_demo(args: argparse.Namespace) -> int:
    from accesswatch.cli.progress import Progress
    from accesswatch.synth import generate

    out = Path(args.out)
    world = out / "world"
    bar = Progress("synthesising", 1)
    generate(world, staff=args.staff, clients=args.clients, days=args.days, seed=args.seed, progress=bar.update)
    bar.close()
    return _run(world / "reference", world / "logs", out, "cms")


def _print_summary(summary: dict, out: Path) -> None:
    totals = summary["totals"]
    rows = [
        ("log files", totals["files"]),
        ("lines read", totals["lines_read"]),
        ("events accepted", totals["accepted"]),
        ("lines quarantined", totals["quarantined"]),
        ("files rejected", totals["rejected_files"]),
        ("findings", totals["findings"]),
        ("cases", totals["cases"]),
    ]
    rows += [(f"  {rule}", n) for rule, n in summary["findings_by_rule"].items()]
    width = max(len(r[0]) for r in rows)
    print(f"accesswatch run: reference snapshot {summary.get('snapshot_id')}, {summary.get('elapsed_s')}s")
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>10}")
    print(f"outputs in {out}/: findings.jsonl cases.jsonl quarantine.jsonl summary.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accesswatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", help="write a synthetic world (reference data, logs, truth) to the contract")
    synth.add_argument("--out", required=True)
    synth.add_argument("--staff", type=int, default=300)
    synth.add_argument("--clients", type=int, default=20000)
    synth.add_argument("--days", type=int, default=14)
    synth.add_argument("--seed", type=int, default=7)
    synth.set_defaults(func=_cmd_synth)

    run = sub.add_parser("run", help="run reference snapshots and logs through the system on the embedded runtime")
    run.add_argument("--reference", required=True)
    run.add_argument("--logs", required=True)
    run.add_argument("--out", required=True)
    run.add_argument("--system", default="cms", help="system for log files at the top of --logs (default cms)")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="synthesise a world and run it into ./demo-out")
    demo.add_argument("--out", default="demo-out")
    demo.add_argument("--staff", type=int, default=300)
    demo.add_argument("--clients", type=int, default=20000)
    demo.add_argument("--days", type=int, default=14)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"accesswatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("accesswatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
