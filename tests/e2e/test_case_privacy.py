"""No notification or log line carries personal information.

A small world runs through the system (deployed with a short investigation deadline so cases also
escalate); investigators decide cases through the CLI's service, one founded for fraud so it is
referred to the Police. Then every message the integrity topic accepted, every log line the
functions wrote (the Logs backend, the runtime's record of each invocation, and whatever reached
this process's stdout/stderr) is scanned for the names, addresses and dates of birth in the
world's reference data. The messages must also be of the documented shape: ids, enums and counts.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.logs.models import logs_backends
from moto.sns.models import sns_backends

from accesswatch.cases.actions import CaseActionError
from accesswatch_tools.embedded.runtime import ACCOUNT_ID, REGION, EmbeddedAws
from accesswatch_tools.operate.cases import case_service
from accesswatch_tools.operate.world_run import run_world

pytestmark = pytest.mark.e2e

WAIT_S = 180.0
MESSAGE_KEYS = {"event", "case_id", "priority", "route", "rules", "finding_count", "escalations", "tier", "score",
                "clients", "source"}
EVENTS = {"case_opened", "investigation_overdue", "police_referral"}
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def reference_rows(world: Path, kind: str) -> Iterator[dict[str, str]]:
    """Rows of a reference snapshot in whichever format the world wrote it (CSV or JSON Lines, gzip or not)."""
    path = next((world / "reference").glob(f"{kind}.*"))
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    if ".jsonl" in path.name:
        for line in text.splitlines():
            if line.strip():
                yield {k: "" if v is None else str(v) for k, v in json.loads(line).items()}
    else:
        yield from csv.DictReader(io.StringIO(text))


def needles(world: Path) -> tuple[set[str], set[str], set[str]]:
    """(names, addresses, dates of birth) of everyone in the reference data."""
    names: set[str] = set()
    addresses: set[str] = set()
    births: set[str] = set()
    for kind in ("staff", "clients"):
        for row in reference_rows(world, kind):
            family, given = row.get("family_name", "").strip(), row.get("given_names", "").strip()
            for name in (family, given, f"{given} {family}".strip(), *given.split()):
                if len(name) >= 3:
                    names.add(name.lower())
            address = row.get("address", "").strip()
            if address:
                addresses.add(address.lower())
                addresses.add(address.split(",")[0].strip().lower())
            if row.get("date_of_birth", "").strip():
                births.add(row["date_of_birth"].strip())
    return names, addresses, births


def leaks(texts: list[str], names: set[str], addresses: set[str], births: set[str]) -> set[str]:
    found: set[str] = set()
    words = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")
    for text in texts:
        lowered = text.lower()
        tokens = set(words.findall(lowered))
        found |= {n for n in names if " " not in n and n in tokens}
        found |= {n for n in names if " " in n and n in lowered}
        found |= {a for a in addresses if a in lowered}
        found |= {b for b in births if b in text}
    return found


def decide(service: Any, case_id: str, **kwargs: Any) -> dict[str, Any]:
    """A decision, retried while the case is between deadlines (its token is being replaced)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return dict(service.decide(case_id, **kwargs))
        except CaseActionError as exc:
            # The 10-second deadline passed as the decision was read or sent: decide again.
            assert any(m in str(exc) for m in ("between steps", "no longer waiting", "deadline passed")), exc
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_no_notification_or_log_line_carries_personal_information(small_world: Path, tmp_path: Path,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    with EmbeddedAws(parameters={"InvestigationDeadlineSeconds": "10"}) as aws:
        outcome = run_world(aws, small_world / "reference", small_world / "logs", tmp_path / "out")
        assert outcome.ok, outcome.problems
        service = case_service(aws)
        cases = service.find()
        assert len(cases) >= 6
        fraud, other, unfounded = cases[0]["case_id"], cases[1]["case_id"], cases[2]["case_id"]
        decide(service, fraud, decision="founded", er_type="fraud_or_dishonesty", note="cross-checked",
               founded_rules=["*"],
               actor="inv.one")
        decide(service, other, decision="founded", er_type="inappropriate_access", note="", actor="inv.two",
               founded_rules=["*"])
        decide(service, unfounded, decision="unfounded", er_type=None, note="on the roster", actor="inv.one",
               reason="legitimate_work")
        service.record_outcome(fraud, outcome="dismissal", note="panel", actor="er.one")
        service.record_outcome(other, outcome="written_warning", note="", actor="er.one")

        topic = sns_backends[ACCOUNT_ID][REGION].topics[aws.resource_name("IntegrityTopic")]
        deadline = time.monotonic() + WAIT_S
        while True:  # until every kind of notification has been sent at least once
            sent = list(topic.sent_notifications)
            kinds = {json.loads(message)["event"] for _id, message, *_ in sent}
            if kinds >= EVENTS:
                break
            assert time.monotonic() < deadline, kinds
            time.sleep(0.2)
        invocation_logs = [i.logs for i in aws.invocations]
        backend_logs = [event.message for group in logs_backends[ACCOUNT_ID][REGION].groups.values()
                        for stream in list(group.streams.values()) for event in list(stream.events)]
        case_step_lines = sum(log.count('"service":"case-step"') for log in invocation_logs)
    captured = capfd.readouterr()
    process_output = captured.out + captured.err

    # Every message is ids, enums and counts, of the documented kinds.
    messages = []
    for _id, message, subject, attributes, _group in sent:
        body = json.loads(message)
        assert set(body) <= MESSAGE_KEYS and body["event"] in EVENTS, body
        assert ID.match(body["case_id"]) and all(ID.match(r) for r in body.get("rules", []))
        assert subject is None
        assert set(attributes) <= {"event", "priority", "route", "tier", "source"}
        assert isinstance(body.get("score", 0), int | float) and isinstance(body.get("clients", 0), int)
        messages.append(message + json.dumps(attributes))
    # One notification per case: findings that joined an open case sent none.
    assert len(cases) == len([m for m in messages if '"case_opened"' in m])

    # Nothing anyone in the reference data could be identified by. Something was scanned: the
    # case-step function logged every step, wherever its lines went.
    names, addresses, births = needles(small_world)
    assert len(names) > 100 and len(addresses) > 100 and len(births) > 100
    logs = invocation_logs + backend_logs + [process_output]
    assert case_step_lines + process_output.count('"service":"case-step"') >= 5 * len(cases)
    # Dates that legitimately appear in logs (the access days, today) are not evidence of a birth date.
    days = set(re.findall(r"\d{4}-\d\d-\d\d", "\n".join(logs)))
    event_days = {d for d in days if d >= "2020-01-01"}
    assert leaks(messages, names, addresses, births) == set()
    assert leaks(logs, names, addresses, births - event_days) == set()


def test_the_scan_finds_what_it_looks_for(small_world: Path) -> None:
    names, addresses, births = needles(small_world)
    staff = next(reference_rows(small_world, "staff"))
    line = json.dumps({"message": "oops", "who": f"{staff['given_names']} {staff['family_name']}"})
    assert leaks([line], names, addresses, births)
    client = next(r for r in reference_rows(small_world, "clients") if r.get("address") and r.get("date_of_birth"))
    assert leaks([f"address={client['address'].upper()}"], names, addresses, births)
    assert leaks([f"dob {client['date_of_birth']}"], names, addresses, births)
    assert not leaks(['{"case_id":"CASE-0123456789ABCDEF","rules":["SELF_RECORD"],"priority":"high"}'],
                     names, addresses, births)
