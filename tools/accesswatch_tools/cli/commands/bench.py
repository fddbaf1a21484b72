"""``bench``: performance at ministry scale on this machine, and ``bench --cost``: what it costs on AWS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from accesswatch_tools.cli.context import CliError
from accesswatch_tools.cli.output import json_line
from accesswatch_tools.embedded.template import PROJECT_ROOT


def cmd_bench(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.cost:
        return _cost(out, args.json)
    if args.cold_start:
        from accesswatch_tools.bench import coldstart

        return coldstart.main([*(["--python", args.python] if args.python else []),
                               *(["--layer", args.layer] if args.layer else [])])
    from accesswatch_tools.bench import runner

    try:
        results = runner.run(events=args.events, csv_lines=args.csv_lines, e2e_events=args.e2e_events,
                             work=Path(args.work), out=out, fresh=args.fresh, day_e2e=not args.no_day_e2e,
                             cases_mode=args.cases_mode,
                             docs=None if args.no_docs else PROJECT_ROOT / "docs" / "performance.md")
    except runner.StageFailed as failed:
        raise CliError(str(failed)) from None
    print(runner.table(results))
    print(f"results: {results['path']} ({results['total_s']:.0f} s in all)")
    return 0


def _cost(out: Path, as_json: bool) -> int:
    from accesswatch_tools.bench import cost

    results = cost.latest_results(out)
    measured = cost.measured_from_results(results) if results else cost.Measured()
    report = cost.estimate(measured=measured)
    plans = [cost.backfill_plan(3, with_cases=cases, measured=measured) for cases in (False, True)]
    if as_json:
        print(json_line({**report.as_dict(), "backfill": plans}))
    else:
        sys.stdout.write(cost.render(report))
        for plan in plans:
            sys.stdout.write("\n" + cost.render_backfill(plan))
    return 0


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmark a ministry-scale day on this machine (or --cost: the AWS bill)")
    bench.add_argument("--events", type=int, default=5_000_000, help="events in the synthetic day (default 5M)")
    bench.add_argument("--csv-lines", type=int, default=2_000_000, help="lines of the large gzip CSV (default 2M)")
    bench.add_argument("--e2e-events", type=int, default=20_000,
                       help="events of the slice run end to end through the embedded runtime (default 20k)")
    bench.add_argument("--no-day-e2e", action="store_true",
                       help="skip ingesting the whole day through the embedded runtime")
    bench.add_argument("--cases-mode", choices=("per_user", "per_partition"), default="per_user",
                       help="how the day's findings reach the real router: once per user for the whole day (default,"
                            " minutes) or partition by partition with the queue drained after each file, as deployed"
                            " (about ten times the DynamoDB calls)")
    bench.add_argument("--out", default=str(PROJECT_ROOT / "benchmarks" / "results"), help="results directory (default benchmarks/results)")
    bench.add_argument("--work", default="/tmp/accesswatch-bench", help="directory of the generated inputs, kept between runs (default /tmp/accesswatch-bench)")
    bench.add_argument("--fresh", action="store_true", help="make the inputs again")
    bench.add_argument("--no-docs", action="store_true", help="do not rewrite the table in docs/performance.md")
    bench.add_argument("--cost", action="store_true",
                       help="print the AWS cost model (per million events, per year) from the latest results")
    bench.add_argument("--json", action="store_true", help="with --cost: the estimate as one JSON object on one line, for scripts")
    bench.add_argument("--cold-start", action="store_true",
                       help="import every handler in a fresh interpreter: import time, peak RSS, polars or not")
    bench.add_argument("--python", help="with --cold-start: the interpreter (Lambda's runtime is Python 3.12)")
    bench.add_argument("--layer", metavar="DIR",
                       help="with --cold-start: build the layer into DIR as sam build does, measure it, import from it")
    bench.set_defaults(func=cmd_bench)
