"""Small counts are withheld, and no withheld count can be worked out from what is published.

The audit inside accesswatch (max-flow over the release's network) is checked against an
independent attacker (linear programmes over the relations a reader knows, tests/support/oia_attacker.py),
first cell by cell on random tables, then on whole releases.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.oia_attacker import Attack, attack_release

from accesswatch.quarters import Period
from accesswatch.reports.build import ReportInputs, build_report
from accesswatch.reports.disclosure import Disclosure, State, suppress
from accesswatch.reports.model import WITHHELD
from accesswatch.reports.render import report_json
from accesswatch.reports.tables import Side, grid

THRESHOLD = 5
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------- random tables
@st.composite
def flat_tables(draw: Any) -> dict[str, Any]:
    rows = draw(st.integers(1, 4))
    cols = draw(st.integers(1, 4))
    small = st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 30))
    values = [[draw(small) for _ in range(cols)] for _ in range(rows)]
    return {"values": values, "row_totals": draw(st.booleans()), "col_totals": draw(st.booleans()),
            "grand": draw(st.booleans())}


def declare_flat(spec: dict[str, Any]) -> tuple[Disclosure, Any]:
    d = Disclosure()
    values = spec["values"]
    rows = [f"r{i}" for i in range(len(values))]
    cols = [f"c{j}" for j in range(len(values[0]))]
    cells = {(r, c): values[i][j] for i, r in enumerate(rows) for j, c in enumerate(cols)}
    ids = grid(d, "t", rows, Side(cols, cells, column_totals=spec["col_totals"]), row_totals=spec["row_totals"],
               grand=spec["grand"])
    return d, ids


def flat_attack(spec: dict[str, Any], d: Disclosure, ids: Any) -> tuple[Attack, dict[str, str]]:
    """What a reader of the flat table knows, written from the table's meaning (not the network)."""
    attack = Attack()
    names: dict[str, str] = {}

    def shown(edge: str) -> Any:
        names[edge] = edge
        return attack.cell(edge, WITHHELD if d.state(edge) is State.WITHHELD else d.value(edge))

    values = spec["values"]
    rows = [f"r{i}" for i in range(len(values))]
    cols = [f"c{j}" for j in range(len(values[0]))]
    if spec["row_totals"]:
        for r in rows:
            attack.equal(sum(shown(ids.cell[(r, c)]) for c in cols), shown(ids.row_total[r]))
    if spec["col_totals"]:
        for c in cols:
            attack.equal(sum(shown(ids.cell[(r, c)]) for r in rows), shown(ids.column_total[c]))
    if spec["grand"]:
        everything = sum(shown(ids.cell[(r, c)]) for r in rows for c in cols)
        attack.equal(everything, shown(ids.grand))
        if spec["row_totals"]:
            attack.equal(sum(shown(ids.row_total[r]) for r in rows), shown(ids.grand))
        if spec["col_totals"]:
            attack.equal(sum(shown(ids.column_total[c]) for c in cols), shown(ids.grand))
    for r in rows:
        for c in cols:
            shown(ids.cell[(r, c)])
    return attack, names


@SETTINGS
@given(flat_tables(), st.randoms(use_true_random=False))
def test_the_audit_agrees_with_an_independent_attacker_on_any_withholding(spec: dict[str, Any],
                                                                           rnd: random.Random) -> None:
    d, ids = declare_flat(spec)
    nonzero = sorted(e.id for e in d.edges.values() if e.shown and e.value > 0)
    d.withheld = {e for e in nonzero if rnd.random() < 0.4}
    attack, _ = flat_attack(spec, d, ids)
    recovered = set(attack.recovered())
    for edge in sorted(d.withheld):
        assert d.recoverable(edge) == (edge in recovered), (edge, spec, sorted(d.withheld))


@SETTINGS
@given(flat_tables())
def test_no_withheld_cell_of_a_suppressed_table_can_be_recovered(spec: dict[str, Any]) -> None:
    d, ids = declare_flat(spec)
    suppress(d, THRESHOLD)
    for edge in d.edges.values():
        if edge.shown and 0 < edge.value < THRESHOLD:
            assert edge.id in d.withheld, "a small count is published"
        if edge.id in d.withheld:
            assert edge.shown and edge.value > 0, "a zero or a hidden sum is withheld"
    attack, _ = flat_attack(spec, d, ids)
    assert attack.recovered() == {}
    assert d.exposed() == []


def test_a_table_without_small_counts_is_published_whole() -> None:
    d, _ = declare_flat({"values": [[5, 0, 12], [7, 9, 30]], "row_totals": True, "col_totals": True, "grand": True})
    suppress(d, THRESHOLD)
    assert d.withheld == set()


def test_one_small_count_takes_a_second_cell_with_it() -> None:
    # 3 is withheld; with the row total published it would be 10 - 7, so a second cell goes too.
    d, ids = declare_flat({"values": [[3, 7], [8, 9]], "row_totals": True, "col_totals": True, "grand": True})
    suppress(d, THRESHOLD)
    assert d.primary == {ids.cell[("r0", "c0")]}
    assert len(d.withheld) >= 4  # a 2x2 table needs a rectangle of withheld cells
    assert d.exposed() == []


# ---------------------------------------------------------------------- linked tables
@st.composite
def linked_tables(draw: Any) -> dict[str, Any]:
    rows = [f"q{i}" for i in range(draw(st.integers(1, 4)))]
    count = st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 25))
    # one record per unit: a type and an outcome each (like completed ER cases), or a rule in a severity
    records = []
    for r in rows:
        for _ in range(draw(st.integers(0, 4))):
            records.append((r, draw(st.sampled_from(["a", "b", "c"])), draw(st.sampled_from(["x", "y"])),
                            draw(count)))
    return {"rows": rows, "records": records}


@SETTINGS
@given(linked_tables())
def test_linked_tables_sharing_totals_hide_their_small_counts_together(spec: dict[str, Any]) -> None:
    from collections import Counter

    right: Counter[tuple[str, str]] = Counter()
    left: Counter[tuple[str, str]] = Counter()
    for r, t, o, n in spec["records"]:
        right[(r, t)] += n
        left[(r, o)] += n
    d = Disclosure()
    ids = grid(d, "er", spec["rows"], Side(["a", "b", "c"], right, groups={"g1": ["a", "b"], "g2": ["c"]}),
               left=Side(["x", "y"], left))
    suppress(d, THRESHOLD)

    attack = Attack()

    def shown(edge: str) -> Any:
        return attack.cell(edge, WITHHELD if d.state(edge) is State.WITHHELD else d.value(edge))

    rows = spec["rows"]
    for r in rows:  # three tables (types, groups of types, outcomes) share each row total
        attack.equal(sum(shown(ids.cell[(r, c)]) for c in "abc"), shown(ids.row_total[r]))
        attack.equal(sum(shown(ids.left[(r, c)]) for c in "xy"), shown(ids.row_total[r]))
        attack.equal(shown(ids.group[(r, "g1")]) + shown(ids.group[(r, "g2")]), shown(ids.row_total[r]))
        attack.equal(shown(ids.cell[(r, "a")]) + shown(ids.cell[(r, "b")]), shown(ids.group[(r, "g1")]))
        attack.equal(shown(ids.cell[(r, "c")]), shown(ids.group[(r, "g2")]))
    for c in "abc":
        attack.equal(sum(shown(ids.cell[(r, c)]) for r in rows), shown(ids.column_total[c]))
    for c in "xy":
        attack.equal(sum(shown(ids.left[(r, c)]) for r in rows), shown(ids.left_total[c]))
    for g in ("g1", "g2"):
        attack.equal(sum(shown(ids.group[(r, g)]) for r in rows), shown(ids.group_total[g]))
    for totals in ([ids.column_total[c] for c in "abc"], [ids.left_total[c] for c in "xy"],
                   [ids.group_total[g] for g in ("g1", "g2")], [ids.row_total[r] for r in rows]):
        attack.equal(sum(shown(e) for e in totals), shown(ids.grand))
    assert attack.recovered() == {}


# ---------------------------------------------------------------------- whole releases
RULES = {"SELF_RECORD": ("high", "own record"), "RELATIVE_RECORD": ("high", "relative"),
         "PUBLIC_FIGURE": ("high", "public figure"), "SENSITIVE_LOOKUP": ("medium", "sensitive screen")}
PERIOD = Period(date(2024, 4, 1), date(2025, 3, 31))


def random_inputs(seed: int, cases: int = 120) -> ReportInputs:
    """A year of cases, findings and users with many small counts (quarters, rules, types, outcomes)."""
    rng = random.Random(seed)
    all_cases, findings = [], []
    for i in range(cases):
        day = date.fromordinal(PERIOD.start.toordinal() + rng.randrange(365))
        stamp = f"{day.isoformat()}T00:30:00+12:00"
        rule = rng.choices(list(RULES), weights=[1, 1, 2, 12])[0]
        case: dict[str, Any] = {"case_id": f"C{i}", "source": rng.choice(["detection"] * 6 + ["complaint"]),
                                "opened_at": stamp, "status": rng.choice(["investigating"] * 4 + ["notified"]),
                                "rules": [rule]}
        if rng.random() < 0.1:  # the weekly random review: not in Table 1, but its decisions count per rule
            case.update(source="random_review", trigger="random_review")
        # SENSITIVE_LOOKUP is rarely founded (so that releases flag it for demotion)
        verdict = rng.choices(["founded", "unfounded", None],
                              weights=[1, 12, 6] if rule == "SENSITIVE_LOOKUP" else [1, 1, 1])[0]
        if verdict:
            case.update(decision=verdict, decided_at=stamp,
                        status="closed_unfounded" if verdict == "unfounded" else "awaiting_outcome")
            if rule != "SENSITIVE_LOOKUP" and rng.random() < 0.5:
                # a case also holding SENSITIVE_LOOKUP findings, decided per rule: that rule is rarely right
                case["rules"] = [rule, "SENSITIVE_LOOKUP"]
                case["rule_decisions"] = {
                    rule: {"decision": verdict},
                    "SENSITIVE_LOOKUP": {"decision": "founded" if rng.random() < 0.05 else "unfounded",
                                         "reason": "rule_too_broad"}}
        if verdict == "founded" and rng.random() < 0.7:
            case.update(er_type=rng.choices(["inappropriate_access", "privacy_breach", "fraud_or_dishonesty"],
                                            weights=[8, 3, 1])[0],
                        outcome=rng.choices(["written_warning", "final_written_warning", "dismissal"],
                                            weights=[6, 2, 1])[0],
                        outcome_at=stamp, status="closed_founded")
        all_cases.append(case)
        for k in range(rng.choice([1, 1, 2, 4])):
            found = rng.choice(case["rules"])
            findings.append({"finding_id": f"F{i}-{k}", "rule": found, "severity": RULES[found][0],
                             "rule_status": "live", "user_id": f"u{rng.randrange(60)}",
                             "client_id": f"c{rng.randrange(400)}", "nz_date": day.isoformat(), "case_id": f"C{i}"})
    users = {q: {f"u{j}" for j in range(rng.randrange(40, 60))} | {f"svc{j}" for j in range(rng.randrange(1, 7))}
             for q in PERIOD.quarters}
    types = {f"svc{j}": "service" for j in range(7)}
    return ReportInputs(all_cases, findings, users, types, RULES)


@pytest.mark.parametrize("seed", range(6))
def test_no_withheld_cell_of_a_release_can_be_recovered(seed: int) -> None:
    report = build_report(random_inputs(seed), PERIOD, threshold=THRESHOLD)
    release = report_json(report)
    secondary = report.disclosure.withheld - report.disclosure.primary
    assert report.disclosure.primary and secondary, "the example should need both kinds of withholding"
    d = report.disclosure
    linked = set().union(*(d.component(edge) for edge in d.primary))
    assert d.withheld <= linked, "a count was withheld in a table not linked to any small count"
    attack = attack_release(release, {rule: severity for rule, (severity, _) in RULES.items()})
    assert len(attack.index) == report.withheld_cells()
    assert attack.recovered() == {}
    for table in release["tables"]:
        kinds = {c["key"]: c["kind"] for c in table["columns"]}
        for row in table["rows"]:
            for key, value in row["values"].items():
                if kinds[key] == "flag":
                    assert value in ("yes", "no", WITHHELD)
                    continue
                assert value == WITHHELD or value == "" or isinstance(value, int | float)
                # automated accounts are not natural persons: their small counts may be published
                assert not (isinstance(value, int) and 0 < value < THRESHOLD and key != "automated"), (
                    table["id"], row["key"])


def test_the_releases_flag_rules_for_demotion_and_give_nothing_away_by_it() -> None:
    flags = {}
    for seed in range(6):
        report = build_report(random_inputs(seed), PERIOD, threshold=THRESHOLD)
        table = next(t for t in report_json(report)["tables"] if t["id"] == "rule_precision")
        flags[seed] = {r["key"]: r["values"]["flagged_for_demotion"] for r in table["rows"]}
    # the per-rule verdicts make SENSITIVE_LOOKUP rarely founded: it is flagged (or its flag withheld)
    assert {f["SENSITIVE_LOOKUP"] for f in flags.values()} <= {"yes", WITHHELD}
    assert "yes" in {f["SENSITIVE_LOOKUP"] for f in flags.values()}


def test_the_attacker_would_catch_a_flag_published_beside_a_withheld_count() -> None:
    """1 founded of 20 is flagged; with the 1 withheld, a published "yes" would pin it (10 x founded < 20)."""
    stamp = "2024-08-01T00:00:00Z"
    cases = [{"case_id": f"D{i}", "source": "detection", "opened_at": stamp, "status": "closed_unfounded",
              "rules": ["SENSITIVE_LOOKUP"], "decision": "unfounded" if i else "founded", "decided_at": stamp}
             for i in range(20)]
    cases += [{"case_id": f"E{i}", "source": "detection", "opened_at": stamp, "status": "closed_founded",
               "rules": ["SELF_RECORD"], "decision": "founded", "decided_at": stamp} for i in range(7)]
    report = build_report(ReportInputs(cases, [], {}, {}, RULES), PERIOD, threshold=THRESHOLD)
    release = report_json(report)
    table = next(t for t in release["tables"] if t["id"] == "rule_precision")
    row = next(r for r in table["rows"] if r["key"] == "SENSITIVE_LOOKUP")
    assert row["values"]["founded"] == WITHHELD and row["values"]["decided"] == 20
    assert row["values"]["flagged_for_demotion"] == WITHHELD
    severities = {r: s for r, (s, _) in RULES.items()}
    assert attack_release(release, severities).recovered() == {}
    row["values"]["flagged_for_demotion"] = "yes"  # what publishing the flag regardless would give away
    assert attack_release(release, severities).recovered() == {"rule_precision|SENSITIVE_LOOKUP|founded": 1,
                                                               "rule_precision|SENSITIVE_LOOKUP|unfounded": 19}


def test_tables_without_small_counts_are_published_whole_beside_ones_that_have_them() -> None:
    # Small counts of four high-severity rules in one quarter (a nested, linked table) used to
    # push withholding into unrelated tables; they must be protected inside their own tables.
    findings = []
    for rule, counts in {"SELF_RECORD": (3, 7), "RELATIVE_RECORD": (1, 16), "PUBLIC_FIGURE": (3, 28),
                         "SENSITIVE_LOOKUP": (98, 916)}.items():
        for quarter, count in zip(("2025-03-15", "2025-05-15"), counts, strict=True):
            findings += [{"finding_id": f"{rule}{quarter}{i}", "rule": rule, "severity": RULES[rule][0],
                          "rule_status": "live", "user_id": f"u{i % 50}", "client_id": f"c{i}",
                          "nz_date": quarter, "case_id": None} for i in range(count)]
    cases = [{"case_id": f"E{i}", "source": "detection", "opened_at": "2025-05-01T00:00:00Z", "rules": [],
              "decision": "founded", "decided_at": "2025-05-02T00:00:00Z", "status": "closed_founded",
              "er_type": ("privacy_breach", "inappropriate_access")[i % 2],
              "outcome": ("written_warning", "dismissal")[i % 2], "outcome_at": "2025-06-01T00:00:00Z"}
             for i in range(40)]
    users = {date(2025, 3, 31): {f"u{i}" for i in range(120)}, date(2025, 6, 30): {f"u{i}" for i in range(130)}}
    report = build_report(ReportInputs(cases, findings, users, {}, RULES), Period(date(2025, 1, 1), date(2025, 6, 30)),
                          threshold=THRESHOLD)
    for table in ("table1_investigations", "table2_er_by_type", "table3_er_by_outcome", "unique_users"):
        assert not report.has_withheld(report.table(table)), table
    by_rule = report_json(report)["tables"][4]
    assert by_rule["id"] == "instances_by_rule"
    withheld = {(r["key"], k) for r in by_rule["rows"] for k, v in r["values"].items() if v == WITHHELD}
    # the smallest protection: the three small cells and the same rules' cells of the other quarter
    assert withheld == {(q, rule) for q in ("2025-03-31", "2025-06-30")
                        for rule in ("SELF_RECORD", "RELATIVE_RECORD", "PUBLIC_FIGURE")}
    assert attack_release(report_json(report), {r: s for r, (s, _) in RULES.items()}).recovered() == {}


def test_the_attacker_would_catch_a_release_with_primary_suppression_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack above can fail: withholding only the small counts leaves them recoverable."""

    def primary_only(d: Disclosure, threshold: int) -> Disclosure:
        d.primary = {e.id for e in d.edges.values() if e.shown and 0 < e.value < threshold}
        d.withheld = set(d.primary)
        return d

    monkeypatch.setattr("accesswatch.reports.build.suppress", primary_only)
    report = build_report(random_inputs(0), PERIOD, threshold=THRESHOLD)
    recovered = attack_release(report_json(report), {r: s for r, (s, _) in RULES.items()}).recovered()
    assert recovered
    truth = {e.id: e.value for e in report.disclosure.edges.values()}
    assert all(0 < value < THRESHOLD for value in recovered.values())
    assert set(recovered.values()) <= set(truth.values())
