"""``bench``: performance at ministry scale on this machine, and ``bench --cost``: what it costs on AWS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from accesswatch_tools.bench import GROUPS
from accesswatch_tools.cli.context import CliError
from accesswatch_tools.cli.output import json_line


def cmd_bench(args: argparse.Namespace) -> int:
    from accesswatch_tools.embedded.template import PROJECT_ROOT

    if args.cost:
        return _cost(Path(args.out or PROJECT_ROOT / "benchmarks" / "results"), args.json)
    if args.cold_start:
        from accesswatch_tools.bench import coldstart

        return coldstart.main([*(["--python", args.python] if args.python else []),
                               *(["--layer", args.layer] if args.layer else [])])
    from accesswatch_tools.bench import runner
    from accesswatch_tools.bench.data import MINISTRY_CLIENTS, MINISTRY_USERS

    try:
        stages = runner.parse_stages(args.stages)
    except ValueError as bad:
        raise CliError(str(bad)) from None
    if args.no_day_e2e:
        stages = [s for s in stages if s != "e2e"]
    work = Path(args.work)
    # A smaller day than the ministry's is for trying the benchmark out: its results stay in --work.
    ministry = (args.staff, args.clients, args.events) == (MINISTRY_USERS, MINISTRY_CLIENTS, 5_000_000)
    out = Path(args.out) if args.out else (PROJECT_ROOT / "benchmarks" / "results" if ministry else work / "results")
    docs = None if args.no_docs or not ministry else PROJECT_ROOT / "docs" / "performance.md"
    try:
        results = runner.run(events=args.events, csv_lines=args.csv_lines, e2e_events=args.e2e_events,
                             work=work, out=out, fresh=args.fresh, stages=stages, cases_mode=args.cases_mode,
                             staff=args.staff, clients=args.clients, e2e_timeout_s=args.e2e_timeout,
                             world_events=args.world_events, seed=args.seed, docs=docs)
    except runner.StageFailed as failed:
        raise CliError(str(failed)) from None
    print(runner.table(results))
    print(f"results: {results['path']} ({results['total_s']:.0f} s in all)"
          + ("" if docs else "; docs/performance.md left as it was"))
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
    bench.add_argument("--stages", default="all", metavar="LIST",
                       help="the stages to run, comma-separated: all (default) or any of "
                            + ", ".join(f"{k} ({v})" for k, v in GROUPS.items())
                            + "; run on the same day as an earlier run, the others are kept from it")
    bench.add_argument("--events", type=int, default=5_000_000, help="events in the synthetic day (default 5M)")
    bench.add_argument("--staff", type=int, default=8_044,
                       help="users of the day, service accounts included (default 8,044, the ministry's); with"
                            " --clients and --events, a smaller day to try the benchmark out (its results go to"
                            " --work, docs/performance.md is left alone)")
    bench.add_argument("--clients", type=int, default=500_000, help="clients of the day (default 500,000)")
    bench.add_argument("--seed", type=int, default=8, help="the day's random seed (default 8)")
    bench.add_argument("--csv-lines", type=int, default=2_000_000, help="lines of the large gzip CSV (default 2M)")
    bench.add_argument("--e2e-events", type=int, default=20_000,
                       help="events of the slice run end to end through the embedded runtime (default 20k)")
    bench.add_argument("--e2e-timeout", type=float, default=1800.0, metavar="SECONDS",
                       help="time budget of each end-to-end run on the embedded runtime (the whole day, the world):"
                            " past it the run is reported as not finished, with how far it got (default 1800)")
    bench.add_argument("--world-events", type=int, default=500_000,
                       help="events of the world `accesswatch run` is timed on (default 500k)")
    bench.add_argument("--no-day-e2e", action="store_true",
                       help="skip the whole day end to end on the embedded runtime (the e2e stage)")
    bench.add_argument("--cases-mode", choices=("per_user", "per_partition"), default="per_user",
                       help="how the day's findings reach the real router: once per user for the whole day (default,"
                            " minutes) or partition by partition with the queue drained after each file, as deployed"
                            " (about ten times the DynamoDB calls)")
    bench.add_argument("--out", help="results directory (default benchmarks/results; for a smaller day, WORK/results)")
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
