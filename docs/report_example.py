"""Regenerates the example in docs/reports.md: a synthetic world through the embedded system, some
cases decided as investigators would, then the quarterly report and one client's footprint.

    .venv/bin/python docs/report_example.py [OUT_DIR]

The world's accesses happen around 31 March 2025; the system opens its cases "now", so the example
dates the investigators' records (opened, decided, outcome) a few days after each case's first access,
as they would have been had the system been running then. Everything is fictional.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

from accesswatch.dal.cases import CaseStore
from accesswatch.quarters import Period
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.footprint import footprint, write_footprint
from accesswatch_tools.operate.report import write_report
from accesswatch_tools.operate.world_run import run_world
from accesswatch_tools.world import generate

DOCS = Path(__file__).parent


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="accesswatch-example-"))
    generate(out / "world", staff=120, clients=6000, days=14, seed=7)
    with EmbeddedAws() as aws:
        outcome = run_world(aws, out / "world" / "reference", out / "world" / "logs", out / "run")
        for problem in outcome.problems:  # reported, not fatal: the example is about the report
            print(f"run problem: {problem}", file=sys.stderr)
        for execution in aws.client("stepfunctions").list_executions(
                stateMachineArn=aws.resource_name("CaseStateMachine"), statusFilter="FAILED")["executions"]:
            history = aws.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])
            failed = [e for e in history["events"] if "Failed" in e["type"]]
            print(f"failed case execution {execution['name']}: {failed[-1] if failed else ''}", file=sys.stderr)
        store = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
        for n, case in enumerate(sorted(store.scan_cases(), key=lambda c: c["case_id"])):
            first = datetime.fromisoformat(case["first_occurred_at"])
            fields = {"opened_at": iso(first + timedelta(days=1))}
            if n % 4 == 0:
                fields |= {"status": "closed_unfounded", "decision": "unfounded",
                           "decided_at": iso(first + timedelta(days=9)), "closed_at": iso(first + timedelta(days=9))}
            elif n % 4 in (1, 2):
                fields |= {"status": "outcome_recorded", "decision": "founded",
                           "decided_at": iso(first + timedelta(days=8)),
                           "er_type": ("inappropriate_access", "privacy_breach", "conflict_of_interest")[n % 3],
                           "er_opened_at": iso(first + timedelta(days=8)),
                           "outcome": ("letter_of_expectation", "written_warning", "final_written_warning",
                                       "no_further_action", "dismissal")[n % 5],
                           "outcome_at": iso(first + timedelta(days=40 + n % 60))}
            store.update(case["case_id"], **fields)
        report, _ = write_report(aws, Period(date(2025, 1, 1), date(2025, 6, 30)), out)
        findings = (out / "run" / "findings.jsonl").read_text().splitlines()
        import json
        from collections import Counter

        client = Counter(json.loads(f)["client_id"] for f in findings).most_common(1)[0][0]
        frame = footprint(aws, client, date(2025, 1, 1), date(2025, 6, 30))
        write_footprint(frame, out / "footprint.csv")
    converter = shutil.which("rsvg-convert")  # Debian: librsvg2-bin
    for name in ("instances_by_rule", "table2_er_by_type"):
        svg = out / "reports" / "charts" / f"{name}.svg"
        shutil.copy(svg, DOCS / "img" / f"report-{name}.svg")
        if converter:
            subprocess.run([converter, "-o", str(DOCS / "img" / f"report-{name}.png"), str(svg)], check=True)
    print(f"outputs in {out}; client {client}; {report.withheld_cells()} cells withheld")


if __name__ == "__main__":
    main()
