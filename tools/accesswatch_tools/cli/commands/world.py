"""``synth``, ``run`` and ``demo``: make a world and put it through the system."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from accesswatch_tools.cli.context import (
    CliError,
    add_reason_option,
    add_target_options,
    audited,
    deployment,
    state_dir,
)
from accesswatch_tools.cli.output import json_line
from accesswatch_tools.operate.progress import Progress


def _synth(out: Path, args: argparse.Namespace) -> Any:
    from accesswatch_tools.world import generate

    bar = Progress("synthesising", 1)
    summary = generate(out, staff=args.staff, clients=args.clients, days=args.days, seed=args.seed,
                       progress=bar.update)
    bar.close()
    return summary


def cmd_synth(args: argparse.Namespace) -> int:
    summary = _synth(Path(args.out), args)
    if args.json:
        print(json_line(summary.model_dump(mode="json")))
        return 0
    print(f"accesswatch: synthetic world in {summary.out_dir}/ (seed {summary.seed}): reference/, logs/, truth")
    for label, value in (("staff (incl. service accounts)", f"{summary.staff} ({summary.service_accounts})"),
                         ("clients", summary.clients), ("days of logs", f"{summary.days} from {summary.start}"),
                         ("log files", len(summary.files)), ("log lines", summary.lines),
                         ("events", summary.events), ("malformed lines", summary.malformed),
                         ("duplicate deliveries", summary.duplicates),
                         ("expected findings (truth)", summary.truth_total)):
        print(f"  {label:<31} {value:>12}")
    for rule, n in summary.truth.items():
        print(f"    {rule:<29} {n:>12}")
    return 0


def _run(args: argparse.Namespace, reference: Path, logs: Path, out: Path, system: str) -> int:
    from accesswatch_tools.operate.world_run import run_world

    for path, what in ((reference, "--reference"), (logs, "--logs")):
        if not path.is_dir():
            raise CliError(f"{what} {path} is not a directory")
    if args.in_process:
        from accesswatch_tools.embedded.runtime import EmbeddedAws

        with EmbeddedAws() as aws:
            outcome = run_world(aws, reference, logs, out, system=system)
            _audit_run(aws, args, outcome.summary)
    else:
        if args.fresh and not args.stack:
            from accesswatch_tools.embedded import server

            server.reset(state_dir(args))
        dep = deployment(args, start_local=True)
        outcome = run_world(dep, reference, logs, out, system=system)
        _audit_run(dep, args, outcome.summary)
    print_summary(outcome.summary, out)
    console_url = None if args.in_process else getattr(dep, "console_url", None)
    if console_url:
        print(f"console: {console_url} (pick a role on its local sign-in page; `accesswatch local status` prints it)")
    if not outcome.ok:
        for problem in outcome.problems:
            print(f"accesswatch: system failure: {problem}", file=sys.stderr)
        return 2
    return 0


def _audit_run(dep: Any, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """The audit record of the run's outputs (its findings, cases and quarantined lines, written to --out as
    the run goes): CliError if it cannot be written."""
    totals = summary.get("totals", {})
    audited(dep, args, "run_outputs", subject={"snapshot_id": summary.get("snapshot_id"),
                                               "files": int(totals.get("files", 0) or 0)},
            result={key: int(totals.get(key, 0) or 0) for key in ("findings", "cases", "quarantined")})


def cmd_run(args: argparse.Namespace) -> int:
    return _run(args, Path(args.reference), Path(args.logs), Path(args.out), args.system)


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    world = out / "world"
    _synth(world, args)
    return _run(args, world / "reference", world / "logs", out, "cms")


def print_summary(summary: dict[str, Any], out: Path) -> None:
    """The run's summary as a table: every figure is this run's (its files, their findings, their cases)."""
    totals = summary["totals"]
    rows: list[tuple[str, Any]] = [
        ("log files", totals["files"]),
        *([("  seen before (identical re-uploads)", totals["files_seen_before"])]
          if totals.get("files_seen_before") else []),
        *([("  released (waited for reference data)", totals["files_released"])]
          if totals.get("files_released") else []),
        ("lines read", totals["lines_read"]),
        ("events accepted", totals["accepted"]),
        ("lines quarantined", totals["quarantined"]),
        ("files rejected", totals["rejected_files"]),
        ("findings", totals["findings"]),
    ]
    if "new_findings" in totals:
        rows += [("  new", totals["new_findings"]), ("  already known", totals["already_known_findings"])]
    rows.append(("findings by rule", ""))
    rows += [(f"  {rule}", n) for rule, n in summary["findings_by_rule"].items()]
    rows.append(("findings routed", ""))
    rows += [(f"  {route}", n) for route, n in summary.get("findings_by_route", {}).items()]
    rows.append(("cases (one per staff member)", totals["cases"]))
    if "cases_opened" in totals:
        rows += [("  opened by this run", totals["cases_opened"]), ("  joined by this run", totals["cases_joined"]),
                 ("  holding only known findings", totals["cases_already_held"])]
    rows += [(f"  {status}", n) for status, n in summary["cases_by_status"].items()]
    rows += [(f"  trigger: {trigger}", n) for trigger, n in summary.get("cases_by_trigger", {}).items() if trigger]
    width = max(len(r[0]) for r in rows)
    print(f"accesswatch: reference snapshot {summary.get('snapshot_id')}, {summary.get('elapsed_s')} s; "
          "figures are this run's (`accesswatch export` gives everything the system holds)")
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>10}")
    print(f"outputs in {out}/: findings.jsonl cases.jsonl quarantine.jsonl summary.json")


def _world_options(parser: argparse.ArgumentParser, *, staff: int = 300, clients: int = 20000, days: int = 14) -> None:
    parser.add_argument("--staff", type=int, default=staff, help=f"staff rows incl. service accounts ({staff})")
    parser.add_argument("--clients", type=int, default=clients, help=f"client records ({clients})")
    parser.add_argument("--days", type=int, default=days, help=f"days of access logs ({days})")
    parser.add_argument("--seed", type=int, default=7,
                        help="random seed: the same seed and sizes give the same world (default 7)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    add_reason_option(parser)
    add_target_options(parser)
    parser.add_argument("--fresh", action="store_true", help="start from an empty local system: stop the local endpoint and delete its saved "
                             "state first (as `accesswatch local reset`)")
    parser.add_argument("--in-process", action="store_true",
                        help="run on a throw-away runtime in this process (nothing kept afterwards)")


def register(sub: Any) -> None:
    synth = sub.add_parser("synth", help="write a synthetic world (reference data, logs, truth) to the contract")
    synth.add_argument("--out", required=True, metavar="DIR",
                       help="directory to write the world to: DIR/reference (snapshots), DIR/logs (access logs), "
                            "the truth labels")
    synth.add_argument("--json", action="store_true",
                       help="the world's summary as one JSON object on one line, for scripts (default: a table)")
    _world_options(synth)
    synth.set_defaults(func=cmd_synth)

    run = sub.add_parser(
        "run", help="run reference snapshots, then logs, through the system and export what this run did",
        description="Uploads the reference snapshots, then the access logs, waits for the system, and writes what "
                    "this run did to --out: findings.jsonl (the findings of its files' events; already_known: "
                    "true for a finding that existed before the run, e.g. from an identical re-upload), cases.jsonl "
                    "(the cases those findings are in; run_role: opened, joined or already_held), "
                    "quarantine.jsonl and summary.json (its files and counts). Earlier runs' findings and cases "
                    "stay out: `accesswatch export findings|cases` gives everything the system holds.")
    run.add_argument("--reference", required=True, metavar="DIR",
                     help="directory of reference snapshots (staff, clients, ... as .csv/.jsonl), e.g. world/reference")
    run.add_argument("--logs", required=True, metavar="DIR",
                     help="directory of access-log files (CSV or JSON Lines, gzip or not), e.g. world/logs")
    run.add_argument("--out", required=True, metavar="DIR",
                     help="directory for this run's results: findings.jsonl, cases.jsonl, quarantine.jsonl, "
                          "summary.json")
    run.add_argument("--system", default="cms", help="system of log files at the top of --logs (default cms)")
    _run_options(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="synthesise a world and run it into ./demo-out")
    demo.add_argument("--out", default="demo-out", metavar="DIR",
                      help="directory for the world (DIR/world) and the results (default demo-out)")
    _world_options(demo, staff=120, clients=6000, days=7)
    _run_options(demo)
    demo.set_defaults(func=cmd_demo)
