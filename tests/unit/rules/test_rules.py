"""The rule catalog: every rule's own POSITIVE/NEGATIVE samples, plus contract edge cases."""

from __future__ import annotations

import json

import polars as pl
import pytest
from support.rule_samples import WORLD, run_sample, samples_of, world_index

from accesswatch.contract import CONTRACT_RULES, ReferenceKind, Severity
from accesswatch.detection import FINDING_SCHEMA, detect
from accesswatch.findings import finding_id
from accesswatch.rules import CATALOG, LIVE_RULES, RULES_BY_ID, Rule, Sample, events_frame
from accesswatch.rules.base import ev

K = ReferenceKind


def _samples() -> list[tuple[Rule, str, Sample]]:
    return [
        (rule, group, sample)
        for rule in CATALOG
        for group, samples in samples_of(rule).items()
        for sample in samples
    ]


SAMPLES = _samples()


@pytest.mark.parametrize(
    ("rule", "group", "sample"), SAMPLES, ids=[f"{r.id}-{g}-{s.name}" for r, g, s in SAMPLES]
)
def test_rule_samples(rule: Rule, group: str, sample: Sample) -> None:
    run_sample(rule, sample)


def test_every_rule_has_positive_and_negative_samples() -> None:
    for rule in CATALOG:
        samples = samples_of(rule)
        assert samples["POSITIVE"], rule.id
        assert samples["NEGATIVE"], rule.id
        assert any(s.expect for s in samples["POSITIVE"]), rule.id


def test_catalog_ids_and_status() -> None:
    ids = [r.id for r in CATALOG]
    assert len(ids) == len(set(ids))
    # the catalog is derived from the rule modules; its live rules are the contract's, in its order
    assert [r.id for r in LIVE_RULES] == list(CONTRACT_RULES)
    assert ids[: len(CONTRACT_RULES)] == list(CONTRACT_RULES)
    staging = [r for r in CATALOG if r.status == "staging"]
    assert len(staging) >= 3
    for r in staging:
        doc = type(r).__doc__ or ""
        assert "Rationale" in doc and "false positives" in doc and "Severity" in doc
    assert RULES_BY_ID["SENSITIVE_LOOKUP"].severity == Severity.MEDIUM
    for rid in CONTRACT_RULES[:6]:
        assert RULES_BY_ID[rid].severity == Severity.HIGH


# --- detect ---------------------------------------------------------------------------------
def _rules(findings: pl.DataFrame, event_id: str) -> set[str]:
    return set(findings.filter(pl.col("event_id") == event_id)["rule"])


def test_detect_columns_and_ids() -> None:
    idx = world_index()
    f = detect(events_frame([ev("e1", "u.alice", "000100")]), idx)
    assert f.schema == FINDING_SCHEMA
    row = f.row(0, named=True)
    assert row["finding_id"] == finding_id("cms", "e1", "SELF_RECORD")
    assert row["snapshot_id"] == "samples"
    assert row["occurred_at"] == "2025-03-15T10:00:00+13:00"
    assert row["rule_status"] == "live" and row["severity"] == "high"


def test_assignment_never_excuses_first_five() -> None:
    idx = world_index()
    # Alice holds assignments for her own record 000100, sibling 000110, housemate 000120,
    # declared friend 000600; the colleague case: Alice assigned to Bob's record 000200.
    events = events_frame(
        [
            ev("a1", "u.alice", "000100", screen="address"),
            ev("a2", "u.alice", "000110"),
            ev("a3", "u.alice", "000120"),
            ev("a4", "u.alice", "000200"),
            ev("a5", "u.alice", "000600"),
        ]
    )
    f = detect(events, idx, [r for r in CATALOG if r.status == "live"])
    assert _rules(f, "a1") == {"SELF_RECORD"}  # sensitive excused by the assignment
    assert _rules(f, "a2") == {"RELATIVE_RECORD"}
    assert _rules(f, "a3") == {"HOUSEHOLD_RECORD"}
    assert _rules(f, "a4") == {"COLLEAGUE_RECORD"}
    assert _rules(f, "a5") == {"DECLARED_ASSOCIATE"}


def test_one_event_fires_several_rules() -> None:
    idx = world_index()
    # Bob (SAU) opens the watchlisted client's IRD number with no assignment
    f = detect(events_frame([ev("m1", "u.bob", "000500", screen="ird_number")]), idx)
    assert {"PUBLIC_FIGURE", "SENSITIVE_LOOKUP"} <= _rules(f, "m1")
    # Alice's own linked record, on the ird screen, is also a colleague's? no: it is hers only
    f2 = detect(events_frame([ev("m2", "u.cara", "000100", screen="ird_number")]), idx)
    assert {"COLLEAGUE_RECORD", "SENSITIVE_LOOKUP", "INACTIVE_ACCOUNT"} <= _rules(f2, "m2")


def test_duplicate_delivery_yields_one_finding_per_rule() -> None:
    idx = world_index()
    e = ev("dup", "u.bob", "000500", screen="ird_number")
    f = detect(events_frame([e, e, ev("dup", "u.bob", "000500", screen="ird_number", line=9)]), idx)
    assert f.filter(pl.col("event_id") == "dup").group_by("rule").len()["len"].to_list() == [1] * f.height
    assert f["finding_id"].n_unique() == f.height
    # the same event_id in another system is another event
    f2 = detect(events_frame([e, {**e, "system": "payments"}]), idx)
    assert f2.filter(pl.col("rule") == "PUBLIC_FIGURE").height == 2


def test_service_accounts_never_raise_findings() -> None:
    idx = world_index()
    events = events_frame(
        [
            ev(f"s{i}", "svc.batch", c, screen="ird_number", occurred_at="2025-03-15T02:00:00+13:00")
            for i, c in enumerate(["000100", "000200", "000300", "000500", "000600"])
        ]
    )
    assert detect(events, idx).height == 0


def test_service_account_case_insensitive() -> None:
    staff = WORLD[K.STAFF] + ({"user_id": "svc.two", "account_type": " Service ", "client_id": "000300"},)
    idx = world_index({K.STAFF: staff})
    assert detect(events_frame([ev("x", "svc.two", "000100", screen="address")]), idx).height == 0


def test_unknown_user_judged_as_person() -> None:
    idx = world_index()
    f = detect(events_frame([ev("g1", "u.ghost", "000100", screen="contact")]), idx)
    assert {"COLLEAGUE_RECORD", "SENSITIVE_LOOKUP"} <= _rules(f, "g1")


def test_assignment_boundaries_nz_dates() -> None:
    idx = world_index()
    rule = RULES_BY_ID["SENSITIVE_LOOKUP"]
    events = events_frame(
        [
            ev("last", "u.alice", "000700", screen="address", occurred_at="2025-03-31T23:30:00+13:00"),
            ev("after", "u.alice", "000700", screen="address", occurred_at="2025-03-31T11:30:00Z"),
            ev("first", "u.alice", "000700", screen="address", occurred_at="2025-02-28T11:00:00Z"),
            ev("before", "u.alice", "000700", screen="address", occurred_at="2025-02-28T10:59:59Z"),
        ]
    )
    assert events.filter(pl.col("event_id") == "last")["nz_date"].item().isoformat() == "2025-03-31"
    got = set(rule.evaluate(events, idx)["event_id"])
    assert got == {"after", "before"}


def test_assignment_open_start_and_end() -> None:
    assignments = (
        {
            "user_id": "u.bob",
            "client_id": "000300",
            "reason": "task",
            "valid_from": "",
            "valid_to": "2025-03-10",
        },
        {
            "user_id": "u.bob",
            "client_id": "000300",
            "reason": "task",
            "valid_from": "2025-03-20",
            "valid_to": None,
        },
    )
    idx = world_index({K.ASSIGNMENTS: assignments})
    days = {"d05": "2025-03-05", "d15": "2025-03-15", "d25": "2025-03-25"}
    events = events_frame(
        [
            ev(k, "u.bob", "000300", screen="address", occurred_at=f"{d}T12:00:00+13:00")
            for k, d in days.items()
        ]
    )
    assert set(RULES_BY_ID["SENSITIVE_LOOKUP"].evaluate(events, idx)["event_id"]) == {"d15"}


def test_watchlist_removed_before_access_and_relisted() -> None:
    watch = (
        {"client_id": "000300", "reason": "x", "added_at": "2024-01-01", "removed_at": "2024-06-01"},
        {"client_id": "000300", "reason": "x", "added_at": "2025-03-01T09:00:00+13:00", "removed_at": ""},
    )
    idx = world_index({K.WATCHLIST: watch})
    events = events_frame(
        [
            ev("w1", "u.bob", "000300", occurred_at="2024-05-31T23:59:00+12:00"),
            ev("w2", "u.bob", "000300", occurred_at="2024-06-01T00:01:00+12:00"),
            ev("w3", "u.bob", "000300", occurred_at="2025-03-01T08:59:00+13:00"),
            ev("w4", "u.bob", "000300", occurred_at="2025-03-01T09:00:00+13:00"),
        ]
    )
    got = RULES_BY_ID["PUBLIC_FIGURE"].evaluate(events, idx)
    assert set(got["event_id"]) == {"w1", "w4"}
    ev4 = json.loads(got.filter(pl.col("event_id") == "w4")["evidence"].item())
    assert ev4["watchlist_row"] == 2


def test_sau_exemption_variants() -> None:
    staff = WORLD[K.STAFF] + (
        {"user_id": "u.sau2", "team": "  sau ", "account_type": "person"},
        {"user_id": "u.sau3", "team": "STAFF  ASSISTANCE-UNIT", "account_type": "person"},
        {"user_id": "u.other", "team": "Staff Assistance", "account_type": "person"},
    )
    idx = world_index({K.STAFF: staff})
    events = events_frame([ev(u, u, "000100") for u in ("u.sau2", "u.sau3", "u.other")])
    got = RULES_BY_ID["COLLEAGUE_RECORD"].evaluate(events, idx)
    assert set(got["event_id"]) == {"u.other"}


def test_colleague_evidence_names_owner() -> None:
    idx = world_index()
    got = RULES_BY_ID["COLLEAGUE_RECORD"].evaluate(events_frame([ev("c", "u.cara", "000101")]), idx)
    evidence = json.loads(got["evidence"].item())
    assert evidence["colleague_user_id"] == "u.alice" and evidence["match"] == "name_dob"


def test_relative_evidence_and_direction() -> None:
    idx = world_index()
    got = RULES_BY_ID["RELATIVE_RECORD"].evaluate(
        events_frame([ev("p", "u.alice", "000111"), ev("s", "u.alice", "000110")]), idx
    )
    by_id = {r["event_id"]: r for r in got.iter_rows(named=True)}
    assert "parent of the user's own client record 000100" in by_id["p"]["explanation"]
    e = json.loads(by_id["p"]["evidence"])
    assert e["own_client_id"] == "000100" and e["relationship"] == "parent"
    assert e["row_given"] == {"client_id": "000111", "related_client_id": "000100", "relationship": "child"}
    assert "sibling of the user's own client record 000100" in by_id["s"]["explanation"]


def test_relative_of_name_dob_own_record() -> None:
    rel = ({"client_id": "000101", "related_client_id": "000300", "relationship": "partner"},)
    idx = world_index({K.RELATIONSHIPS: rel})
    got = RULES_BY_ID["RELATIVE_RECORD"].evaluate(events_frame([ev("r", "u.alice", "000300")]), idx)
    assert json.loads(got["evidence"].item())["own_client_id"] == "000101"


def test_new_rules_do_not_change_contract_rules() -> None:
    idx = world_index()
    events = events_frame(
        [
            ev(f"x{i}", u, c, screen=s)
            for i, (u, c, s) in enumerate(
                (u, c, s)
                for u in ("u.alice", "u.bob", "u.cara", "u.ghost", "svc.batch")
                for c in (
                    "000100",
                    "000101",
                    "000110",
                    "000111",
                    "000120",
                    "000200",
                    "000400",
                    "000500",
                    "000600",
                    "000700",
                )
                for s in ("summary", "address")
            )
        ]
    )
    live = [r for r in CATALOG if r.status == "live"]
    a = detect(events, idx, live)
    b = detect(events, idx).filter(pl.col("rule_status") == "live")
    assert a.sort("finding_id").equals(b.sort("finding_id"))
    assert a.height > 10


def test_empty_partition() -> None:
    idx = world_index()
    assert detect(events_frame([]), idx).schema == FINDING_SCHEMA
