"""Routing findings to per-user cases on the deployed tables (template.yaml on the embedded runtime):
one open case per user, joins that start nothing, the risk ledger and its rolling window, the threshold,
concurrent partitions of one user, the daily budget and its queue, the reproducible random review,
exceptions suppressing later findings, and precision changing a weight.

The case state machine itself is driven in test_case_workflow.py; here executions are recorded, not run.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from accesswatch.cases.assign import CaseRouter
from accesswatch.cases.exceptions import active, new_exception
from accesswatch.cases.queue import drain, draw, random_review
from accesswatch.cases.scoring import ScoringSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.exceptions import ExceptionStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.risk import RiskStore
from accesswatch.quarters import nz_date, nz_week
from accesswatch.rules import RULES_BY_ID
from accesswatch.services.routing import case_router
from accesswatch_tools.embedded.runtime import EmbeddedAws

pytestmark = pytest.mark.e2e

T0 = datetime(2025, 3, 3, 22, 0, tzinfo=UTC)  # Tuesday 4 March 2025, 11:00 in New Zealand
_serial = itertools.count()


class RecordingExecutions:
    """Stands in for Step Functions: records which case executions would start (by name, once each)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._lock = threading.Lock()

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        with self._lock:
            if name not in self.started:
                self.started.append(name)
        return f"{state_machine_arn}:{name}"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as runtime:
        yield runtime


@pytest.fixture(scope="module")
def stores(aws: EmbeddedAws) -> tuple[CaseStore, FindingStore]:
    dynamodb = aws.resource("dynamodb")
    return (CaseStore(aws.resource_name("CasesTable"), dynamodb),
            FindingStore(aws.resource_name("FindingsTable"), dynamodb))


def new_user() -> str:
    return f"u-test-{next(_serial):04d}"


def finding(user: str, client: str, rule: str = "SENSITIVE_LOOKUP", *, hours: float = 0, modifiers: str = "",
            findings: FindingStore) -> dict[str, Any]:
    """A finding as detection stores it."""
    at = T0 + timedelta(hours=hours)
    n = next(_serial)
    spec = RULES_BY_ID[rule]
    item = {
        "finding_id": f"{user}-{n:05d}-{rule}", "system": "cms", "event_id": f"e-{user}-{n}", "rule": rule,
        "severity": spec.severity.value, "rule_status": spec.status, "tier": spec.tier(), "modifiers": modifiers,
        "user_id": user, "client_id": client, "occurred_at": at.isoformat(), "occurred_at_utc": at.isoformat(),
        "nz_date": "2025-03-04", "quarter": "2025-03-31", "rule_quarter": f"{rule}#2025-03-31",
        "explanation": f"{rule} fired (test)", "evidence": json.dumps({"test": True}),
        "snapshot_id": "test-snapshot", "partition_key": "events/test.parquet",
    }
    return findings.put_if_new(item)[1]


def router(aws: EmbeddedAws, stores: tuple[CaseStore, FindingStore], settings: ScoringSettings | None = None,
           executions: RecordingExecutions | None = None) -> CaseRouter:
    cases, findings = stores
    return case_router(cases=cases, findings=findings, executions=executions or RecordingExecutions(),  # type: ignore[arg-type]
                       case_state_machine_arn=aws.resource_name("CaseStateMachine"),
                       scoring=settings or ScoringSettings())


def open_case_of(cases: CaseStore, user: str) -> dict[str, Any] | None:
    pointer = cases.open_pointer(user)
    return cases.get(pointer["case_id"]) if pointer else None


def fresh(findings: FindingStore, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [findings.get(i["finding_id"]) or i for i in items]


# ------------------------------------------------------------------------------ immediate tier
def test_an_immediate_finding_opens_the_users_case_and_later_findings_join_it(aws, stores):
    cases, findings = stores
    user, executions = new_user(), RecordingExecutions()
    route = router(aws, stores, executions=executions)
    first = [finding(user, "c1", "SELF_RECORD", findings=findings)]
    result = route.route(first)
    assert result.counts()["cases_opened"] == 1
    case = open_case_of(cases, user)
    assert case is not None and case["tier"] == "immediate" and case["trigger"] == "immediate"
    assert executions.started == [case["case_id"]]

    # Another client, another rule, another partition: the same case; no execution, no notification.
    later = [finding(user, "c2", "RELATIVE_RECORD", hours=30, findings=findings),
             finding(user, "c3", hours=31, findings=findings)]
    result = route.route(later)
    assert result.counts() | {"cases_opened": 0, "cases_joined": 1, "findings_joined": 2} == result.counts()
    joined = cases.get(case["case_id"])
    assert sorted(joined["client_ids"]) == ["c1", "c2", "c3"]
    assert sorted(joined["rules"]) == ["RELATIVE_RECORD", "SELF_RECORD", "SENSITIVE_LOOKUP"]
    assert joined["score"] > case["score"] and joined["priority"] == "critical"
    assert executions.started == [case["case_id"]]  # still one execution
    history = cases.history(case["case_id"])
    assert [h["state"] for h in history] == ["opened", "joined"]
    assert sorted(history[-1]["finding_ids"]) == sorted(i["finding_id"] for i in later)
    assert all(f["case_id"] == case["case_id"] for f in fresh(findings, first + later))

    # Routing the same findings again (a retried partition) adds nothing.
    again = route.route(fresh(findings, first + later))
    assert again.counts()["cases_opened"] == 0 and again.counts()["findings_joined"] == 0
    assert cases.get(case["case_id"])["finding_count"] == 3


def _cases_table_calls(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The DynamoDB calls made on the cases table from now on, by operation (a transaction or batch counted once)."""
    import botocore.client

    table = aws.resource_name("CasesTable")
    calls: Counter[str] = Counter()
    real = botocore.client.BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        named = json.dumps(params, default=str)
        if client.meta.service_model.service_name == "dynamodb" and f'"{table}"' in named:
            calls[operation] += 1
        return real(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    return calls


def test_a_join_reads_in_batches_and_writes_the_case_with_its_history_at_once(aws, stores, monkeypatch):
    """What a join costs (deployed, per partition): the users' pointers, ledgers and open cases in batch reads,
    the case and its history entry in one transaction, the touched cases and their ledgers in batch reads again;
    no ledger write when the ledger holds none of the case's findings."""
    cases, findings = stores
    users = [new_user() for _ in range(3)]
    route = router(aws, stores)
    route.route([finding(u, "c1", "SELF_RECORD", findings=findings) for u in users])
    later = [finding(u, f"c{n}", hours=n, findings=findings) for u in users for n in (2, 3)]
    calls = _cases_table_calls(aws, monkeypatch)
    result = route.route(later)
    assert result.counts()["cases_joined"] == 3 and result.counts()["findings_joined"] == 6
    reads = 1 + 1 + 1 + 1  # pointers and ledgers; their cases; the touched cases (finish); their users' ledgers
    assert calls == {"BatchGetItem": reads, "TransactWriteItems": 3}, calls
    for user in users:
        history = cases.history(open_case_of(cases, user)["case_id"])
        assert [h["state"] for h in history] == ["opened", "joined"]


def test_a_join_at_a_version_since_changed_writes_neither_the_case_nor_its_history(aws, stores):
    from accesswatch.dal.cases import ConcurrentUpdate

    cases, findings = stores
    user = new_user()
    router(aws, stores).route([finding(user, "c1", "SELF_RECORD", findings=findings)])
    case = open_case_of(cases, user)
    entry = cases.history_item(case["case_id"], "2025-03-04T00:00:00.000Z", state="joined", actor="accesswatch",
                               note="1 finding(s) joined", finding_ids=["f-x"])
    with pytest.raises(ConcurrentUpdate):
        cases.save_findings({"case_id": case["case_id"], "score": 99.0}, expected_version=case["version"] - 1,
                            history=entry)
    assert [h["state"] for h in cases.history(case["case_id"])] == ["opened"]
    assert cases.get(case["case_id"])["version"] == case["version"]
    cases.save_findings({"case_id": case["case_id"], "score": 99.0}, expected_version=case["version"], history=entry)
    assert sorted(h["state"] for h in cases.history(case["case_id"])) == ["joined", "opened"]
    assert cases.get(case["case_id"])["version"] == case["version"] + 1


def test_a_decided_case_stays_closed_and_later_findings_open_a_new_one(aws, stores):
    cases, findings = stores
    user = new_user()
    route = router(aws, stores)
    route.route([finding(user, "c1", "COLLEAGUE_RECORD", findings=findings)])
    first = open_case_of(cases, user)
    # the decision step moves the case on and releases the user (cases.workflow._after_decision)
    cases.update(first["case_id"], status="decided")
    cases.release_user(user, first["case_id"])
    route.route([finding(user, "c1", "COLLEAGUE_RECORD", hours=2, findings=findings)])
    second = open_case_of(cases, user)
    assert second is not None and second["case_id"] != first["case_id"]
    assert cases.get(first["case_id"])["finding_count"] == 1

    # A pointer left behind by a decided case (release not yet done) is released, not joined.
    cases.update(second["case_id"], status="decided")
    route.route([finding(user, "c9", "SELF_RECORD", hours=3, findings=findings)])
    third = open_case_of(cases, user)
    assert third["case_id"] not in (first["case_id"], second["case_id"])


def test_staging_findings_never_reach_a_case_or_the_ledger(aws, stores):
    cases, findings = stores
    user = new_user()
    result = router(aws, stores).route([finding(user, "c1", "OUT_OF_HOURS_SENSITIVE", findings=findings),
                                        finding(user, "c2", "INACTIVE_ACCOUNT", findings=findings)])
    assert result.counts()["cases_opened"] == 0 and result.counts()["findings_ledgered"] == 0
    assert open_case_of(cases, user) is None and RiskStore(cases).ledger(user).entries == []


# ------------------------------------------------------------------------------ accumulate tier
def test_a_lone_accumulate_finding_goes_to_the_ledger_not_a_case(aws, stores):
    cases, findings = stores
    user = new_user()
    result = router(aws, stores).route([finding(user, "c1", modifiers="ird_number_screen,bulk_action,out_of_hours",
                                                findings=findings)])
    assert result.counts()["findings_ledgered"] == 1 and not result.queued
    assert open_case_of(cases, user) is None
    assert [e["c"] for e in RiskStore(cases).ledger(user).entries] == ["c1"]


def test_findings_add_up_over_partitions_until_the_threshold_then_the_queue_opens_one_case(aws, stores):
    cases, findings = stores
    user, executions = new_user(), RecordingExecutions()
    route = router(aws, stores, executions=executions)
    risk = RiskStore(cases)
    # six partitions (six days) of two IRD-number lookups of new clients each
    for day in range(6):
        batch = [finding(user, f"k{day}-{i}", hours=24 * day + i, modifiers="ird_number_screen", findings=findings)
                 for i in range(2)]
        route.route(batch)
    assert open_case_of(cases, user) is None, "accumulate-tier findings never open a case directly"
    queued = {q["sk"]: q for q in risk.queued()}
    assert user in queued and float(queued[user]["score"]) >= ScoringSettings().case_threshold

    result = drain(route, day=date(2025, 3, 10))
    assert result.opened >= 1
    case = open_case_of(cases, user)
    assert case is not None and case["tier"] == "accumulate" and case["trigger"] == "threshold"
    assert case["finding_count"] == 12 and case["score"] >= ScoringSettings().case_threshold
    assert case["case_id"] in executions.started
    assert user not in {q["sk"] for q in risk.queued()}
    assert risk.ledger(user).entries == [], "the case took the ledger's findings"

    # the next accumulate-tier finding joins the open case at once
    route.route([finding(user, "k9", hours=200, findings=findings)])
    assert cases.get(case["case_id"])["finding_count"] == 13


def test_the_window_slides(aws, stores):
    cases, findings = stores
    spread, dense = new_user(), new_user()
    route = router(aws, stores)
    # 12 IRD lookups of different clients: over 24 days (one every 2 days) they never add up; within 2 days they do
    route.route([finding(spread, f"s{i}", hours=48 * i, modifiers="ird_number_screen", findings=findings)
                 for i in range(12)])
    route.route([finding(dense, f"d{i}", hours=4 * i, modifiers="ird_number_screen", findings=findings)
                 for i in range(12)])
    queued = {q["sk"] for q in RiskStore(cases).queued()}
    assert dense in queued and spread not in queued
    # the ledger keeps the window and two weeks more (for the digest and the draw): 21 days of the 22 here
    assert [e["c"] for e in RiskStore(cases).ledger(spread).entries] == [f"s{i}" for i in range(1, 12)]


def test_concurrent_partitions_of_one_user_make_one_case(aws, stores):
    cases, findings = stores
    user, executions = new_user(), RecordingExecutions()
    parts = [[finding(user, f"p{p}-{i}", "SELF_RECORD" if i == 0 else "SENSITIVE_LOOKUP", hours=p, findings=findings)
              for i in range(3)] for p in range(4)]
    errors: list[BaseException] = []

    def run(batch: list[dict[str, Any]]) -> None:
        try:
            router(aws, stores, executions=executions).route(batch)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(batch,)) for batch in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    case = open_case_of(cases, user)
    assert case is not None and case["finding_count"] == 12
    assert executions.started == [case["case_id"]]
    holders = {f["case_id"] for f in fresh(findings, [f for batch in parts for f in batch])}
    assert holders == {case["case_id"]}
    every_case = [c for c in cases.scan_cases() if c["user_id"] == user]
    assert len(every_case) == 1


# ------------------------------------------------------------------------------ budget and queue
def test_the_daily_budget_opens_the_highest_scores_first_and_the_rest_wait_for_the_next_day(aws, stores):
    cases, findings = stores
    settings = ScoringSettings(case_daily_budget=2)
    route = router(aws, stores, settings)
    for leftover in RiskStore(cases).queued():  # other tests' queued users are not part of this one
        RiskStore(cases).dequeue(leftover["sk"])
    users = [new_user() for _ in range(4)]
    for rank, user in enumerate(users):  # user 0 looks up the most clients, user 3 the fewest (all above threshold)
        route.route([finding(user, f"b{rank}-{i}", hours=i, modifiers="ird_number_screen", findings=findings)
                     for i in range(20 - 2 * rank)])
    scores = {q["sk"]: float(q["score"]) for q in RiskStore(cases).queued()}
    assert set(users) <= set(scores) and scores[users[0]] > scores[users[3]]

    day = date(2031, 1, 6)
    first = drain(route, day=day)
    assert (first.opened, first.waiting, first.budget_used) == (2, 2, 2)
    assert {u for u in users if open_case_of(cases, u)} == set(users[:2])
    same_day = drain(route, day=day)
    assert (same_day.opened, same_day.waiting) == (0, 2), "the budget is spent for the day"
    next_day = drain(route, day=day + timedelta(days=1))
    assert (next_day.opened, next_day.waiting) == (2, 0)
    assert all(open_case_of(cases, u) for u in users)


def test_immediate_cases_are_never_capped(aws, stores):
    cases, findings = stores
    settings = ScoringSettings(case_daily_budget=0)
    users = [new_user() for _ in range(3)]
    router(aws, stores, settings).route([finding(u, "c1", "DECLARED_ASSOCIATE", findings=findings) for u in users])
    assert all(open_case_of(cases, u) for u in users)


def test_a_queued_user_who_gets_an_immediate_case_joins_it_without_using_budget(aws, stores):
    cases, findings = stores
    user = new_user()
    route = router(aws, stores, ScoringSettings(case_daily_budget=0))
    route.route([finding(user, f"q{i}", hours=i, modifiers="ird_number_screen", findings=findings) for i in range(16)])
    assert user in {q["sk"] for q in RiskStore(cases).queued()}
    route.route([finding(user, "own", "SELF_RECORD", hours=20, findings=findings)])
    case = open_case_of(cases, user)
    assert case["finding_count"] == 17, "the immediate case carried the user's window of ledger findings"
    drain(route, day=date(2032, 2, 2))
    assert user not in {q["sk"] for q in RiskStore(cases).queued()}
    assert RiskStore(cases).budget_used("2032-02-02") == 0


# ------------------------------------------------------------------------------ random review
def test_the_random_review_is_reproducible_and_drawn_once_a_week(aws, stores):
    cases, findings = stores
    assert draw(["a", "b", "c", "d", "e"], 2, "seed", "2025-W10") == draw(["e", "d", "c", "b", "a"], 2, "seed", "2025-W10")
    draws = {tuple(draw([f"u{i}" for i in range(50)], 3, "seed", f"2025-W{w:02d}")) for w in range(1, 13)}
    assert len(draws) > 1, "different weeks draw different users"
    assert draw(["a"], 2, "s", "2025-W10") == ["a"] and draw([], 2, "s", "2025-W10") == []

    users = [new_user() for _ in range(5)]
    route = router(aws, stores, ScoringSettings(case_random_reviews=2, case_random_seed="test-seed"))
    later = 24 * 7 * 60  # a week of its own, sixty weeks on: other tests' users are not candidates
    for user in users:  # two plain lookups each: well below the threshold
        route.route([finding(user, f"r{i}", hours=later + i, findings=findings) for i in range(2)])
    lone = new_user()
    route.route([finding(lone, "r0", hours=later, findings=findings)])  # one finding: never a candidate
    week = nz_week(nz_date(T0 + timedelta(hours=later)))
    result = random_review(route, week=week)
    assert result["candidates"] == 5 and lone not in result["drawn"]
    assert result["drawn"] == draw(users, 2, "test-seed", week) and result["opened"] == 2
    for user in result["drawn"]:
        case = open_case_of(cases, user)
        assert case["trigger"] == "random_review" and case["source"] == "random_review" and case["priority"] == "low"
        assert case["finding_count"] == 2
    again = random_review(route, week=week)
    assert again["already_drawn"] and again["drawn"] == result["drawn"] and again["opened"] == 0


# ------------------------------------------------------------------------------ exceptions
def test_an_exception_suppresses_a_later_accumulate_finding_but_never_an_immediate_one(aws, stores):
    cases, findings = stores
    user = new_user()
    exceptions = ExceptionStore(cases)
    today = date(2025, 3, 4)
    item = new_exception(user_id=user, client_id=None, rule="SENSITIVE_LOOKUP", expires_on="2025-06-30",
                         reason="contact centre: looks up addresses all day", actor="investigator1", today=today,
                         created_at="2025-03-04T00:00:00.000Z", case_id="CASE-X")
    assert exceptions.add(item)
    in_force = active(exceptions.all(), today)
    route = router(aws, stores)
    lookup = finding(user, "c1", findings=findings)
    other_user = finding(new_user(), "c1", findings=findings)
    own = finding(user, "c2", "SELF_RECORD", findings=findings)
    result = route.route([lookup, other_user, own], exceptions=in_force)
    assert result.suppressed == {item["exception_id"]: 1}
    assert findings.get(lookup["finding_id"])["suppressed_by"] == item["exception_id"]
    assert "case_id" not in findings.get(lookup["finding_id"])
    assert findings.get(own["finding_id"])["case_id"], "an immediate-tier finding always reaches a case"
    assert findings.get(other_user["finding_id"]).get("suppressed_by") is None
    assert RiskStore(cases).ledger(user).entries == []
    # revoked or expired: routed again
    assert exceptions.revoke(item["exception_id"], actor="investigator2", note="team changed")
    assert not exceptions.revoke(item["exception_id"], actor="investigator2", note="twice")
    assert all(e["exception_id"] != item["exception_id"] for e in active(exceptions.all(), today))
    later = finding(user, "c3", hours=5, findings=findings)
    route.route([later], exceptions=active(exceptions.all(), today))
    routed = findings.get(later["finding_id"])
    assert routed.get("suppressed_by") is None
    assert routed["case_id"] == findings.get(own["finding_id"])["case_id"], "joins the user's open case"


# ------------------------------------------------------------------------------ precision -> weights
def test_precision_from_decisions_changes_a_rules_weight(aws, stores):
    cases, findings = stores
    before = router(aws, stores).weights["SENSITIVE_LOOKUP"]
    for n in range(20):  # 20 decided cases: SENSITIVE_LOOKUP right twice
        case_id = f"CASE-PRECISION-{n:02d}"
        cases.save_findings({"case_id": case_id, "user_id": f"u-prec-{n}", "status": "decided", "parts": []},
                            expected_version=None)
        verdict = "founded" if n < 2 else "unfounded"
        assert cases.count_rule_decisions(case_id, {"SENSITIVE_LOOKUP": verdict})
        assert not cases.count_rule_decisions(case_id, {"SENSITIVE_LOOKUP": verdict}), "counted once per case"
    try:
        assert cases.rule_stats()["SENSITIVE_LOOKUP"] == (2, 18)
        after = router(aws, stores).weights["SENSITIVE_LOOKUP"]
        assert after == pytest.approx(before * 0.25)
    finally:  # the other tests of this module share the tables: leave the weights as configured
        cases.table.delete_item(Key={"pk": "RULESTATS", "sk": "SENSITIVE_LOOKUP"})


# ------------------------------------------------------------------------------ size
def test_a_case_of_thousands_of_findings_stays_within_dynamodbs_item_limit(aws, stores):
    """One account opening thousands of records must not break routing: parts beyond the case item go to
    chunk items of the case's version; a later version drops the earlier chunks."""
    cases, _ = stores
    case_id = "CASE-HUGE-0000000001"
    parts = [f"{n:032x}|SENSITIVE_LOOKUP|{n % 9000:09d}|1.0000" for n in range(7000)]
    cases.save_findings({"case_id": case_id, "user_id": new_user(), "status": "investigating", "parts": parts},
                        expected_version=None)
    stored = cases.get(case_id)
    assert stored["finding_count"] == 7000 and stored["finding_ids"][-1] == f"{6999:032x}"
    cases.save_findings({"case_id": case_id, "parts": [*parts, "f" * 32 + "|SELF_RECORD|000000001|10.0000"]},
                        expected_version=stored["version"])
    again = cases.get(case_id)
    assert again["finding_count"] == 7001 and "SELF_RECORD" in again["rules"]
    # a writer that loses the race leaves chunks no case item names; they are dropped two versions on
    cases.table.put_item(Item={"pk": f"CASE#{case_id}", "sk": f"PARTS#{again['version'] + 1:06d}#loser#0000",
                               "case_id": case_id, "parts": ["x|SELF_RECORD|1|1.0"]})
    cases.save_findings({"case_id": case_id, "parts": [*parts, "f" * 32 + "|SELF_RECORD|000000001|10.0000",
                                                       "e" * 32 + "|SELF_RECORD|000000002|10.0000"]},
                        expected_version=again["version"])
    third = cases.get(case_id)
    assert third["finding_count"] == 7002 and "x" not in third["finding_ids"]
    chunks = cases.table.query(KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                               ExpressionAttributeValues={":p": f"CASE#{case_id}", ":s": "PARTS#"})["Items"]
    # dropped chunks are not deleted (no role may delete a CASE# item) but expire by the table's TTL
    live = {int(i["sk"].split("#")[1]) for i in chunks if "purge_at" not in i}
    assert live == {third["version"] - 1, third["version"]}
    assert {int(i["sk"].split("#")[1]) for i in chunks if "purge_at" in i} == {third["version"] - 2}
    assert all(int(i["purge_at"]) > 0 for i in chunks if "purge_at" in i)
    assert {int(i["sk"].split("#")[1]) for i in cases.live_chunk_items(case_id)} == live
    assert [c for c in cases.scan_cases() if c["case_id"] == case_id][0]["finding_count"] == 7002
    assert cases.get(case_id)["parts"][:2] == parts[:2]


def test_a_ledger_keeps_its_newest_entries_only(aws, stores):
    from accesswatch.cases.assign import MAX_LEDGER_ENTRIES, prune

    entries = [{"f": f"f{n:05d}", "r": "SENSITIVE_LOOKUP", "c": f"c{n}", "t": (T0 + timedelta(seconds=n)).isoformat(),
                "m": ""} for n in range(MAX_LEDGER_ENTRIES + 500)]
    kept = prune(entries, ScoringSettings())
    assert len(kept) == MAX_LEDGER_ENTRIES and kept[-1]["f"] == entries[-1]["f"] and kept[0]["f"] == "f00500"


# ------------------------------------------------------------------------------ interrupted and racing writers
def test_a_claim_whose_case_is_not_created_yet_is_waited_for_not_filled_by_another_writer(aws, stores):
    """A lone accumulate-tier finding must never become the case another writer claimed."""
    from accesswatch.cases.assign import case_id_for

    cases, findings = stores
    user = new_user()
    own = finding(user, "c1", "SELF_RECORD", findings=findings)
    lookup = finding(user, "c2", findings=findings)
    claimed = case_id_for(user, own["finding_id"])
    cases.claim_user(user, claimed, "immediate")  # the writer of `own` dies right after claiming
    done: list[Any] = []
    waiter = threading.Thread(target=lambda: done.append(router(aws, stores).route([lookup])))
    waiter.start()
    waiter.join(timeout=0.3)
    assert waiter.is_alive() and cases.get(claimed) is None, "the lookup waits for the claimed case"
    router(aws, stores).route([own])  # the retry of the claimer recognises its claim and creates the case
    waiter.join(timeout=30)
    case = cases.get(claimed)
    assert done and case is not None and case["tier"] == "immediate"
    assert sorted(case["rules"]) == ["SELF_RECORD", "SENSITIVE_LOOKUP"], "the lookup joined the created case"


def test_a_dead_claim_is_released_after_the_longest_detect_run(aws, stores):
    cases, findings = stores
    user = new_user()
    cases.table.put_item(Item={**cases.user_key(user), "case_id": "CASE-NEVER-MADE", "trigger": "immediate",
                               "claimed_at": "2025-01-01T00:00:00.000Z"})
    router(aws, stores).route([finding(user, "c1", findings=findings)])
    assert cases.open_pointer(user) is None and [e["c"] for e in RiskStore(cases).ledger(user).entries] == ["c1"]


def test_a_retry_after_a_partial_join_names_the_case_and_completes_its_history(aws, stores):
    from accesswatch.cases.assign import part_of
    from accesswatch.cases.scoring import score_finding

    cases, findings = stores
    user = new_user()
    route = router(aws, stores)
    route.route([finding(user, "c1", "SELF_RECORD", findings=findings)])
    case = open_case_of(cases, user)
    lookup = finding(user, "c2", hours=1, findings=findings)
    # the join's write landed (with its parked history entry); the finding was never named, the entry never appended
    entry = cases.history_item(case["case_id"], "2025-03-04T00:00:00.000Z", state="joined", actor="accesswatch",
                               note="1 finding(s) joined", finding_ids=[lookup["finding_id"]])
    cases.save_findings({"case_id": case["case_id"],
                         "parts": [*case["parts"], part_of(score_finding(lookup, ScoringSettings()))],
                         "pending_history": entry}, expected_version=case["version"])
    route.route([lookup])
    assert findings.get(lookup["finding_id"])["case_id"] == case["case_id"]
    assert [h["state"] for h in cases.history(case["case_id"])].count("joined") == 1
    assert "pending_history" not in cases.get(case["case_id"])


def test_findings_a_case_took_leave_the_ledger_even_after_a_crash(aws, stores):
    cases, findings = stores
    user = new_user()
    route = router(aws, stores)
    lookups = [finding(user, f"c{i}", hours=i, findings=findings) for i in range(2)]
    route.route(lookups)
    own = finding(user, "me", "SELF_RECORD", hours=3, findings=findings)
    real_take = route.take_from_ledger
    route.take_from_ledger = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="crash"):
        route.route([own])
    route.take_from_ledger = real_take  # type: ignore[method-assign]
    assert len(RiskStore(cases).ledger(user).entries) == 2, "the crash left them in the ledger"
    route.route([findings.get(own["finding_id"])])  # the retry: its finding names the case already
    assert RiskStore(cases).ledger(user).entries == []
    assert open_case_of(cases, user)["finding_count"] == 3


def test_no_budget_opens_nothing_and_a_lost_claim_costs_no_budget(aws, stores):
    cases, findings = stores
    risk = RiskStore(cases)
    assert not risk.take_budget("2033-01-01", 0) and risk.budget_used("2033-01-01") == 0
    for leftover in risk.queued():
        risk.dequeue(leftover["sk"])
    user = new_user()
    route = router(aws, stores, ScoringSettings(case_daily_budget=0))
    route.route([finding(user, f"z{i}", hours=i, modifiers="ird_number_screen", findings=findings) for i in range(16)])
    assert drain(route, day=date(2033, 1, 1)).waiting == 1 and open_case_of(cases, user) is None
    assert cases.open_pointer(user) is None, "no claim left behind"


def test_a_draw_interrupted_before_its_cases_opened_is_finished_by_the_next_run(aws, stores):
    cases, findings = stores
    users = [new_user() for _ in range(3)]
    later = 24 * 7 * 80
    route = router(aws, stores, ScoringSettings(case_random_reviews=2, case_random_seed="resume"))
    for user in users:
        route.route([finding(user, f"w{i}", hours=later + i, findings=findings) for i in range(2)])
    week = nz_week(nz_date(T0 + timedelta(hours=later)))
    picks = draw(users, 2, "resume", week)
    RiskStore(cases).record_draw(week, picks, 3, "resume")  # ...and the run died here
    result = random_review(route, week=week)
    assert result["drawn"] == picks and result["opened"] == 2 and not result["already_drawn"]
    assert all(open_case_of(cases, u)["trigger"] == "random_review" for u in picks)
    assert random_review(route, week=week)["already_drawn"]
