"""The weekly digest (issue 12, item 5): built purely from a week's findings and the team directory, then
end to end on the embedded runtime (reference data through the reference function, findings in the findings
table, the digest function invoked as its schedule does), its SNS messages, its curated file, and the CLI.

The week is 2025-W14 (Monday 31 March to Sunday 6 April 2025, New Zealand time): it straddles a quarter
end (the findings index is keyed by rule and quarter) and the end of daylight saving (6 April, 03:00 NZDT),
so its Monday starts at 11:00 UTC the day before and its Sunday ends at 12:00 UTC.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from accesswatch.cases.digest import (
    MAX_MESSAGE_BYTES,
    UNASSIGNED,
    TeamDirectory,
    Week,
    build_digest,
    digest_messages,
    directory_from_rows,
    group_message,
)
from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind
from accesswatch.quarters import nz_date, nz_week, quarter_end
from accesswatch.rules import CATALOG

WEEK = "2025-W14"
GENERATED = datetime(2025, 4, 7, 8, 0, tzinfo=UTC)  # the Monday after, 20:00 NZST

# Staff: ids, teams and managers (and invented personal details, which must never come out).
STAFF = [
    # user_id, team, manager_user_id, family_name, given_names
    ("m1", "Benefits Wellington", "d1", "Tawhiri", "Mereana"),
    ("m2", "Fraud Auckland", "d1", "Kowhaiwhai", "Rangimarie"),
    ("d1", "Directorate", "", "Pohutukawa", "Wiremu"),
    ("u1", "Benefits Wellington", "m1", "Harakeke", "Anahera"),
    ("u2", "Benefits Wellington", "m1", "Kahikatea", "Tamati"),
    ("u3", "Contact Centre", "m1", "Rimurapa", "Huia"),
    ("u4", "Fraud Auckland", "m2", "Toetoe", "Kiri"),
    ("u5", "Benefits Wellington", "", "Manuka", "Ihaia"),
    ("u6", "Contact Centre", "u6", "Raupo", "Hinemoa"),
    ("u8", "Fraud Auckland", "m2", "Tarata", "Pita"),
    # u7 is not in the staff snapshot at all
]
PERSONAL = [s[3] for s in STAFF] + [s[4] for s in STAFF]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def finding(n: int, user: str, rule: str, at: str, *, tier: str = "accumulate", client: str = "000100",
            case_id: str | None = None, suppressed_by: str | None = None) -> dict[str, Any]:
    """A finding item as detection stores it (tiers since data contract v2)."""
    instant = _at(at)
    day = nz_date(instant)
    quarter = quarter_end(day).isoformat()
    severity = {"immediate": "high", "accumulate": "medium", "record": "low"}[tier]
    item: dict[str, Any] = {
        "finding_id": f"f{n:03d}", "system": "cms", "event_id": f"e{n:03d}", "rule": rule, "severity": severity,
        "rule_status": "staging" if tier == "record" else "live", "tier": tier, "modifiers": "",
        "user_id": user, "client_id": client, "occurred_at": instant.isoformat(),
        "occurred_at_utc": instant.isoformat(), "nz_date": day.isoformat(), "quarter": quarter,
        "rule_quarter": f"{rule}#{quarter}", "explanation": f"{rule} (test)", "evidence": "{}",
        "snapshot_id": "test-snapshot", "partition_key": "events/test.parquet",
    }
    if case_id:
        item["case_id"] = case_id
    if suppressed_by:
        item["suppressed_by"] = suppressed_by
    return item


SL, OOH, UV = "SENSITIVE_LOOKUP", "OUT_OF_HOURS_SENSITIVE", "UNASSIGNED_VOLUME"
FINDINGS = [
    # u1 (m1): three below the threshold on two clients; one in a case, one suppressed, one staging, one immediate
    finding(1, "u1", SL, "2025-04-01T10:00:00+13:00", client="000101"),
    finding(2, "u1", SL, "2025-04-02T10:00:00+13:00", client="000101"),
    finding(3, "u1", SL, "2025-04-03T10:00:00+13:00", client="000102"),
    finding(4, "u1", SL, "2025-04-03T11:00:00+13:00", client="000103", case_id="CASE-U1"),
    finding(5, "u1", SL, "2025-04-03T12:00:00+13:00", client="000104", suppressed_by="EXC-1"),
    finding(6, "u1", OOH, "2025-04-05T21:00:00+13:00", tier="record"),
    finding(7, "u1", "SELF_RECORD", "2025-04-03T13:00:00+13:00", tier="immediate", case_id="CASE-U1"),
    # u2 (m1): the week's first quarter of an hour (Q1), and one either side of the week
    finding(8, "u2", SL, "2025-03-31T00:15:00+13:00"),  # Monday 00:15 NZDT: 2025-03-30T11:15Z, in the week
    finding(9, "u2", SL, "2025-03-30T23:45:00+13:00"),  # the Sunday before: out
    finding(10, "u2", SL, "2025-04-07T00:30:00+12:00"),  # the Monday after (NZST): out
    # u3 (m1): staging only, in another team of the same manager
    finding(11, "u3", UV, "2025-04-02T09:00:00+13:00", tier="record"),
    finding(12, "u3", UV, "2025-04-04T09:00:00+13:00", tier="record"),
    # u4 (m2): two, the second on the Sunday night after daylight saving ended
    finding(13, "u4", SL, "2025-04-01T09:00:00+13:00", client="000401"),
    finding(14, "u4", SL, "2025-04-06T23:30:00+12:00", client="000402"),  # 11:30Z: in the week
    # unassigned: no manager, their own manager, not in the staff snapshot
    finding(15, "u5", SL, "2025-04-02T09:00:00+13:00"),
    finding(16, "u6", SL, "2025-04-02T09:00:00+13:00"),
    finding(17, "u7", SL, "2025-04-02T09:00:00+13:00"),
    # u8 (m2): over the threshold, the case waits in the queue: not below the threshold
    finding(18, "u8", SL, "2025-04-02T09:00:00+13:00"),
    finding(19, "u8", SL, "2025-04-02T09:05:00+13:00"),
    # a finding of another week entirely
    finding(20, "u4", SL, "2025-04-15T09:00:00+12:00"),
]


def directory() -> TeamDirectory:
    rows = [{"user_id": s[0], "team": s[1], "manager_user_id": s[2]} for s in STAFF]
    return directory_from_rows(rows, source="reference_index", snapshot_id="snap-1")


def expected_groups(data: dict[str, Any]) -> None:
    """What the digest of FINDINGS says, whichever way it was produced (pure or through the function)."""
    groups = {g["group"]: g for g in data["groups"]}
    assert list(groups) == ["m1", "m2", UNASSIGNED]
    m1, m2, unassigned = groups["m1"], groups["m2"], groups[UNASSIGNED]
    assert m1["teams"] == ["Benefits Wellington", "Contact Centre"]
    assert [(u["user_id"], u["findings"], u["clients"], u["by_rule"]) for u in m1["users"]] == [
        ("u1", 3, 2, {SL: 3}), ("u2", 1, 1, {SL: 1})]
    assert m1["totals"] == {"users_below_threshold": 2, "accumulate_findings": 4, "accumulate_by_rule": {SL: 4},
                            "suppressed": 1, "suppressed_by_rule": {SL: 1},
                            "staging": 3, "staging_by_rule": {UV: 2, OOH: 1}}
    assert [(u["user_id"], u["findings"]) for u in m2["users"]] == [("u4", 2)]
    assert m2["totals"]["staging"] == 0 and m2["totals"]["suppressed"] == 0
    assert unassigned["manager_user_id"] is None and "no team manager" in unassigned["note"]
    assert {u["user_id"]: u["unassigned_reason"] for u in unassigned["users"]} == {
        "u5": "no_manager", "u6": "own_manager", "u7": "not_in_reference"}
    assert unassigned["unassigned_reasons"] == {"no_manager": 1, "not_in_reference": 1, "own_manager": 1}
    totals = data["totals"]
    assert totals == {"findings": 17, "immediate": 1, "accumulate": 12, "accumulate_in_cases": 1,
                      "accumulate_awaiting_case": 2, "accumulate_below_threshold": 9, "suppressed": 1,
                      "staging": 3, "users_awaiting_case": 1, "groups": 3, "managers": 2,
                      "users_below_threshold": 6}
    # every finding of the week in exactly one count
    assert totals["findings"] == sum(totals[k] for k in ("immediate", "accumulate", "suppressed", "staging"))
    assert totals["accumulate"] == sum(totals[k] for k in ("accumulate_in_cases", "accumulate_awaiting_case",
                                                           "accumulate_below_threshold"))
    # nobody in a case, suppressed, queued or outside the week is listed
    listed = {u["user_id"] for g in data["groups"] for u in g["users"]}
    assert listed == {"u1", "u2", "u4", "u5", "u6", "u7"}


# ------------------------------------------------------------------ pure


def test_weeks_are_iso_weeks_in_new_zealand_time():
    week = Week.of(WEEK)
    assert week.start == datetime(2025, 3, 30, 11, 0, tzinfo=UTC)  # Monday 00:00 NZDT
    assert week.stop == datetime(2025, 4, 6, 12, 0, tzinfo=UTC)  # the next Monday 00:00 NZST
    assert (week.first_day.isoformat(), week.last_day.isoformat()) == ("2025-03-31", "2025-04-06")
    assert week.label == "Monday 31 March 2025 to Sunday 6 April 2025"
    assert Week.of(" 2025-w14 ").id == WEEK
    assert Week.of("2020-W53").id == "2020-W53"  # 2020 had 53 ISO weeks
    for bad in ("2025-W54", "2025-W00", "2025-14", "25-W14", "2025W14", "2025-W1", "", "last week"):
        with pytest.raises(ValueError, match="ISO week"):
            Week.of(bad)
    assert not week.complete_at(datetime(2025, 4, 6, 11, 59, tzinfo=UTC))
    assert week.complete_at(datetime(2025, 4, 6, 12, 0, tzinfo=UTC))


def test_digest_lists_only_users_below_the_threshold_with_counts_by_rule():
    digest = build_digest(Week.of(WEEK), FINDINGS, directory(), generated_at=GENERATED, awaiting_case=["u8"])
    data = digest.as_dict()
    expected_groups(data)
    assert data["week"] == WEEK and data["complete"] is True and data["empty"] is False
    assert data["starts_at"] == "2025-03-31T00:00:00+13:00" and data["ends_at"] == "2025-04-07T00:00:00+12:00"
    assert (data["team_source"], data["reference_snapshot_id"]) == ("reference_index", "snap-1")


def test_a_finding_is_counted_once_in_any_order():
    week = Week.of(WEEK)
    forward = build_digest(week, FINDINGS, directory(), generated_at=GENERATED, awaiting_case=["u8"]).as_dict()
    again = build_digest(week, list(reversed(FINDINGS)) + FINDINGS[:5], directory(), generated_at=GENERATED,
                         awaiting_case=["u8"]).as_dict()
    assert again == forward


def test_a_queued_user_would_be_listed_if_not_queued():
    data = build_digest(Week.of(WEEK), FINDINGS, directory(), generated_at=GENERATED).as_dict()
    m2 = next(g for g in data["groups"] if g["group"] == "m2")
    assert [(u["user_id"], u["findings"]) for u in m2["users"]] == [("u4", 2), ("u8", 2)]
    assert m2["teams"] == ["Fraud Auckland"]
    assert data["totals"]["users_awaiting_case"] == 0


def test_tiers_come_from_the_finding_and_older_items_are_derived():
    week = Week.of(WEEK)
    # the stored tier rules: a rule promoted to the accumulate tier is counted by rule beside SENSITIVE_LOOKUP
    promoted = finding(30, "u1", UV, "2025-04-02T09:00:00+13:00")
    # items stored before tiers: a live SENSITIVE_LOOKUP is accumulate, a staging rule is recorded, a live
    # high rule is immediate
    old = [finding(31, "u1", SL, "2025-04-02T09:00:00+13:00"), finding(32, "u1", OOH, "2025-04-02T09:00:00+13:00",
                                                                       tier="record"),
           finding(33, "u1", "COLLEAGUE_RECORD", "2025-04-02T09:00:00+13:00", tier="immediate")]
    for item in old:
        del item["tier"]
    data = build_digest(week, [promoted, *old], directory(), generated_at=GENERATED).as_dict()
    (group,) = data["groups"]
    assert group["users"][0]["by_rule"] == {SL: 1, UV: 1}
    assert group["totals"]["staging_by_rule"] == {OOH: 1}
    assert data["totals"]["immediate"] == 1


def test_without_team_data_everyone_is_unassigned_and_says_why():
    data = build_digest(Week.of(WEEK), FINDINGS, TeamDirectory({}), generated_at=GENERATED).as_dict()
    assert [g["group"] for g in data["groups"]] == [UNASSIGNED]
    (group,) = data["groups"]
    assert {u["unassigned_reason"] for u in group["users"]} == {"no_team_data"}
    assert data["team_source"] == "none"
    assert "no reference data with teams" in data["unassigned_reasons"]["no_team_data"]


def test_an_empty_week_says_so():
    data = build_digest(Week.of("2025-W20"), FINDINGS, directory(), generated_at=GENERATED).as_dict()
    assert data["empty"] is True and data["groups"] == [] and data["totals"]["findings"] == 0
    # findings, but all in cases: nothing to send either
    in_cases = [f for f in FINDINGS if f.get("case_id")]
    data = build_digest(Week.of(WEEK), in_cases, directory(), generated_at=GENERATED).as_dict()
    assert data["empty"] is True and data["totals"]["findings"] == 2
    assert digest_messages(build_digest(Week.of(WEEK), in_cases, directory(), generated_at=GENERATED), "k") == []


def test_one_message_per_manager_and_one_for_the_unassigned_group():
    digest = build_digest(Week.of(WEEK), FINDINGS, directory(), generated_at=GENERATED, awaiting_case=["u8"])
    messages = digest_messages(digest, "digests/week=2025-W14/digest.json")
    assert [m.attributes["manager_user_id"] for m in messages] == ["m1", "m2", UNASSIGNED]
    for message in messages:
        body = json.loads(message.body)
        assert body["event"] == "weekly_digest" and body["week"] == WEEK
        assert body["file"] == "digests/week=2025-W14/digest.json"
        assert message.attributes == {"event": "weekly_digest", "week": WEEK, "group": body["group"],
                                      "manager_user_id": body["manager_user_id"] or UNASSIGNED}
        assert len(message.subject) < 100 and message.subject.isascii()
    m1 = json.loads(messages[0].body)
    assert m1["teams"] == ["Benefits Wellington", "Contact Centre"]
    assert m1["users"] == [{"user_id": "u1", "team": "Benefits Wellington", "findings": 3, "clients": 2,
                            "by_rule": {SL: 3}},
                           {"user_id": "u2", "team": "Benefits Wellington", "findings": 1, "clients": 1,
                            "by_rule": {SL: 1}}]
    assert (m1["staging_by_rule"], m1["suppressed_by_rule"]) == ({UV: 2, OOH: 1}, {SL: 1})
    assert "more_users_in_file" not in m1


def test_a_group_too_large_for_one_message_lists_its_strongest_users_and_points_to_the_file():
    week = Week.of(WEEK)
    many = [finding(1000 + i, f"v{i:04d}", SL, "2025-04-02T09:00:00+13:00") for i in range(3000)]
    many += [finding(5000, "v0007", SL, "2025-04-02T10:00:00+13:00")]  # the strongest: two findings
    rows = [{"user_id": f"v{i:04d}", "team": "Big Team", "manager_user_id": "boss"} for i in range(3000)]
    digest = build_digest(week, many, directory_from_rows(rows, source="reference_index"), generated_at=GENERATED)
    (group,) = digest.groups
    message = group_message(digest, group, "k", max_bytes=20_000)
    body = json.loads(message.body)
    assert len(message.body.encode()) <= 20_000
    assert body["users_below_threshold"] == 3000 and 0 < body["users_shown"] < 3000
    assert body["more_users_in_file"] == 3000 - body["users_shown"] == 3000 - len(body["users"])
    assert body["users"][0]["user_id"] == "v0007"
    assert len(group_message(digest, group, "k").body.encode()) <= MAX_MESSAGE_BYTES


# ------------------------------------------------------------------ end to end on the embedded runtime


def _csv(kind: ReferenceKind, rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(REFERENCE_FIELDS[kind]))
    writer.writeheader()
    for row in rows:
        writer.writerow({f: row.get(f, "") for f in REFERENCE_FIELDS[kind]})
    return out.getvalue().encode()


def staff_csv() -> bytes:
    rows = [{"user_id": uid, "family_name": family, "given_names": given, "date_of_birth": f"1980-01-{i + 10:02d}",
             "address": f"{i + 1} Kauri Street, Wellington", "role": "Case Manager", "team": team,
             "site": "Wellington", "manager_user_id": manager, "status": "active", "start_date": "2015-01-01",
             "account_type": "person"}
            for i, (uid, team, manager, family, given) in enumerate(STAFF)]
    return _csv(ReferenceKind.STAFF, rows)


def clients_csv() -> bytes:
    rows = [{"client_id": f"000{n}", "family_name": "Rata", "given_names": "Moana", "date_of_birth": "1990-05-05",
             "address": "7 Totara Road, Porirua"} for n in (100, 101, 102, 103, 104, 401, 402)]
    return _csv(ReferenceKind.CLIENTS, rows)


def subscribe(aws: Any, name: str, filter_policy: dict[str, Any] | None = None) -> str:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    sns.subscribe(TopicArn=aws.resource_name("DigestTopic"), Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return str(url)


def drain(aws: Any, url: str) -> list[dict[str, Any]]:
    sqs, out = aws.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def invoke(aws: Any, payload: dict[str, Any]) -> dict[str, Any]:
    response = aws.client("lambda").invoke(FunctionName=aws.resource_name("DigestFunction"),
                                           Payload=json.dumps(payload))
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return dict(body)


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    """Reference data loaded through the reference function, the findings stored, u8 queued for a case."""
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.findings import FindingStore
    from accesswatch.dal.risk import RiskStore
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    with EmbeddedAws() as aws:
        s3 = aws.client("s3")
        raw = aws.resource_name("RawBucket")
        s3.put_object(Bucket=raw, Key="reference/staff.csv", Body=staff_csv())
        s3.put_object(Bucket=raw, Key="reference/clients.csv", Body=clients_csv())
        findings = FindingStore(aws.resource_name("FindingsTable"), aws.resource("dynamodb"))
        for item in FINDINGS:
            findings.put_if_new(item)
        risk = RiskStore(CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb")))
        risk.enqueue("u8", 12.5, _at("2025-04-02T09:05:00+13:00"), 2)
        yield aws


@pytest.mark.e2e
def test_the_function_sends_one_message_per_manager_and_writes_the_file(stack: Any,
                                                                        capsys: pytest.CaptureFixture[str]):
    aws = stack
    everything = subscribe(aws, "digest-all")
    only_m1 = subscribe(aws, "digest-m1", {"manager_user_id": ["m1"]})
    integrity = subscribe(aws, "digest-unassigned", {"manager_user_id": [UNASSIGNED]})

    result = invoke(aws, json.loads(open_sample("digest_week.json")))
    assert result["week"] == WEEK and result["messages"] == 3 and result["already_published"] is False
    assert result["team_source"] == "reference_index"

    # the file in the curated bucket: the whole digest, the messages it sent
    key = "digests/week=2025-W14/digest.json"
    assert result["key"] == key
    stored = json.loads(aws.client("s3").get_object(Bucket=aws.resource_name("CuratedBucket"), Key=key)["Body"].read())
    expected_groups(stored)
    assert stored["complete"] is True and stored["team_source"] == "reference_index"
    assert stored["reference_snapshot_id"]
    assert [m["group"] for m in stored["messages"]] == ["m1", "m2", UNASSIGNED]

    # the messages: one per manager, one for the unassigned group; subscribers filter on the manager
    sent = drain(aws, everything)
    assert sorted(m["MessageAttributes"]["manager_user_id"]["Value"] for m in sent) == ["m1", "m2", UNASSIGNED]
    assert {m["Subject"] for m in sent} == {"accesswatch weekly digest 2025-W14"}
    ids = {m["MessageId"] for m in sent}
    assert ids == {m["message_id"] for m in stored["messages"]}
    (m1,) = drain(aws, only_m1)
    body = json.loads(m1["Message"])
    assert body["manager_user_id"] == "m1" and [u["user_id"] for u in body["users"]] == ["u1", "u2"]
    assert body["staging_by_rule"] == {UV: 2, OOH: 1} and body["file"] == key
    (unassigned,) = drain(aws, integrity)
    assert {u["user_id"] for u in json.loads(unassigned["Message"])["users"]} == {"u5", "u6", "u7"}

    # ids, team names and counts only: none of the staff's or clients' personal details
    text = json.dumps(stored) + json.dumps(sent)
    for value in [*PERSONAL, "Kauri", "Totara", "1980-01-1", "1990-05-05", "Moana"]:
        assert value not in text, value

    # a second delivery of the schedule sends nothing twice; republish sends again
    again = invoke(aws, {"week": WEEK, "source": "schedule"})
    assert again["already_published"] is True and again["messages"] == 0
    assert drain(aws, everything) == []
    forced = invoke(aws, {"week": WEEK, "source": "on_demand", "republish": True})
    assert forced["messages"] == 3 and len(drain(aws, everything)) == 3

    # the metrics (EMF lines: in the invocation's captured output, or pytest's when it holds stdout)
    emitted = capsys.readouterr().out + "".join(i.logs for i in aws.invocations if i.function == "DigestFunction")
    assert emitted.count('"DigestsPublished":[3.0]') == 2 and emitted.count('"DigestsPublished":[0.0]') == 1
    assert emitted.count('"DigestUsersBelowThreshold":[6.0]') == 2


def open_sample(name: str) -> str:
    from accesswatch_tools.embedded.template import PROJECT_ROOT

    return (PROJECT_ROOT / "events" / name).read_text()


@pytest.mark.e2e
def test_the_function_rejects_a_bad_week_and_does_not_publish_an_unfinished_one(stack: Any):
    aws = stack
    lam = aws.client("lambda")
    for payload, says in (({"week": "2025-W54"}, "ISO week"), ({"week": "2025-14"}, "pattern"),
                          ({"week": "2999-W01"}, "has not started")):
        response = lam.invoke(FunctionName=aws.resource_name("DigestFunction"), Payload=json.dumps(payload))
        body = json.loads(response["Payload"].read())
        assert response.get("FunctionError"), payload
        assert says in body["errorMessage"], body
    # the schedule's sample (the last complete week) runs: no findings there, the file says so
    result = invoke(aws, json.loads(open_sample("digest_schedule.json")))
    assert result["messages"] == 0 and result["totals"]["findings"] == 0


@pytest.mark.e2e
def test_the_cli_prints_the_same_digest(stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from accesswatch_tools.cli import main as cli_main
    from accesswatch_tools.cli.commands import digest as command

    monkeypatch.setattr(command, "deployment", lambda args: stack)

    assert cli_main.main(["digest", "--week", WEEK, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected_groups(printed)

    assert cli_main.main(["digest", "--week", WEEK]) == 0
    text = capsys.readouterr().out
    assert text.startswith("weekly digest 2025-W14: Monday 31 March 2025 to Sunday 6 April 2025 (New Zealand time)")
    assert ("17 finding(s) in the week: 9 accumulate-tier below the threshold (6 user(s)), 1 accumulate-tier in "
            "cases, 2 accumulate-tier of 1 user(s) whose case waits in the queue (not listed), 1 immediate-tier, "
            "1 suppressed, 3 staging") in text
    assert "manager m1 (team Benefits Wellington, Contact Centre): 2 user(s) below the threshold" in text
    assert "u1    Benefits Wellington  3         2        SENSITIVE_LOOKUP=3" in text
    assert "staging:    3 (UNASSIGNED_VOLUME=2, OUT_OF_HOURS_SENSITIVE=1)" in text
    assert "u7    -                    1         1        SENSITIVE_LOOKUP=1  not in the staff reference data" in text
    for value in PERSONAL:
        assert value not in text

    assert cli_main.main(["digest", "--week", "2025-W20"]) == 0
    assert "no findings in week 2025-W20: nothing to digest" in capsys.readouterr().out

    # --publish runs the deployed function, once per week unless --force
    invoke(stack, {"week": WEEK, "source": "test"})
    assert cli_main.main(["digest", "--week", WEEK, "--publish"]) == 0
    assert "was published already (digests/week=2025-W14/digest.json): nothing sent" in capsys.readouterr().out
    assert cli_main.main(["digest", "--week", WEEK, "--publish", "--force"]) == 0
    assert "week 2025-W14: 3 message(s) sent to the digest topic, 6 user(s) below the threshold" in (
        capsys.readouterr().out)
    this_week = Week.of(nz_week(nz_date(datetime.now(UTC))))
    assert cli_main.main(["digest", "--week", this_week.id, "--publish"]) == 1
    assert "has not ended" in capsys.readouterr().err


def test_the_cli_says_what_is_wrong_with_a_week(capsys: pytest.CaptureFixture[str]):
    from accesswatch_tools.cli import main as cli_main

    for week, says in (("2025-W54", "is not an ISO week (YYYY-Www, e.g. 2025-W14)"),
                       ("14", "is not an ISO week"), ("2999-W01", "has not started yet")):
        assert cli_main.main(["digest", "--week", week]) == 1
        err = capsys.readouterr().err
        assert err.startswith("accesswatch: --week:") and says in err, err
    assert cli_main.main(["digest", "--force"]) == 1
    assert "--force only goes with --publish" in capsys.readouterr().err


# ------------------------------------------------------------------ where teams come from


class _Ledger:
    def __init__(self, pointer: dict[str, Any] | None) -> None:
        self.pointer = pointer

    def reference_pointer(self) -> dict[str, Any] | None:
        return self.pointer


class _Store:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.read: list[str] = []

    def get_bytes(self, bucket: str, key: str) -> bytes:
        self.read.append(key)
        return self.objects[key]


def _staff_frame() -> Any:
    import polars as pl

    rows = [{f: "" for f in REFERENCE_FIELDS[ReferenceKind.STAFF]} | {
        "user_id": uid, "team": team, "manager_user_id": manager, "family_name": family, "given_names": given,
        "account_type": "person", "status": "active"} for uid, team, manager, family, given in STAFF]
    return pl.DataFrame(rows)


def _sources(pointer: dict[str, Any] | None, objects: dict[str, bytes]) -> Any:
    from accesswatch.services.digest import DigestSources

    return DigestSources(findings=None, ledger=_Ledger(pointer), risk=None, store=_Store(objects),  # type: ignore[arg-type]
                         curated_bucket="curated")


def test_teams_come_from_the_index_else_the_staff_snapshot_else_nowhere():
    import polars as pl

    from accesswatch.dal.objects import CuratedLayout
    from accesswatch.reference.index import ReferenceIndex, build_index
    from accesswatch.services.digest import team_directory

    staff = _staff_frame()
    clients = pl.DataFrame([{f: "" for f in REFERENCE_FIELDS[ReferenceKind.CLIENTS]} | {"client_id": "000100"}])
    index = build_index({ReferenceKind.STAFF: staff, ReferenceKind.CLIENTS: clients}, "snap-new", rules=CATALOG)
    snapshot = io.BytesIO()
    staff.write_parquet(snapshot)
    pointer = {"snapshot_id": "snap-new", "kinds": {"staff": {"key": "reference/snapshots/staff/d1.parquet"}}}

    found = team_directory(_sources(pointer, {CuratedLayout.reference_index("snap-new"): index.to_bytes()}))
    assert (found.source, found.snapshot_id) == ("reference_index", "snap-new")
    assert found.group_of("u1") == ("m1", None) and found.team_of("u3") == "Contact Centre"
    assert [found.group_of(u)[1] for u in ("u5", "u6", "u7")] == ["no_manager", "own_manager", "not_in_reference"]

    # an index compiled before persons carried team and manager: the current staff snapshot's three columns
    old = ReferenceIndex(**{**index.__dict__, "snapshot_id": "snap-old",
                            "persons": index.persons.drop("team", "manager_user_id")})
    pointer_old = {**pointer, "snapshot_id": "snap-old"}
    sources = _sources(pointer_old, {CuratedLayout.reference_index("snap-old"): old.to_bytes(),
                                     "reference/snapshots/staff/d1.parquet": snapshot.getvalue()})
    fallback = team_directory(sources)
    assert (fallback.source, fallback.snapshot_id) == ("staff_snapshot", "snap-old")
    assert fallback.placements == found.placements
    assert sources.store.read == [CuratedLayout.reference_index("snap-old"), "reference/snapshots/staff/d1.parquet"]

    # before any reference data: nobody has a team, and the digest says why
    nothing = team_directory(_sources(None, {}))
    assert nothing.source == "none" and nothing.group_of("u1") == (None, "no_team_data")
