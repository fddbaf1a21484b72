"""Building the quarterly release from cases, findings and users: plain data in, a ``Report`` out.

What is counted (all dates New Zealand dates, all quarters New Zealand quarters by their last day):

- Table 1: investigations from detection: cases detection opened (``source`` "detection"; random-review
  cases, complaints and managers' concerns are not counted) that went to investigation (reached the
  status "investigating" or beyond), by the quarter of ``opened_at``. A case is one staff member's.
- Tables 2 and 3: completed Employment Relations cases (an ER case with an outcome), by the quarter
  of ``outcome_at``, by ER case type and by outcome. Both count the same cases.
- Tables 4 to 6: possible inappropriate accesses, i.e. findings of live rules, by the quarter of the
  access, split by the decision their investigation recorded for the finding's rule, by rule and by severity.
- Table 7: distinct staff involved in and distinct clients affected by those accesses.
- Table 8: unique users of the monitored systems, with and without automated (service) accounts.
- Table 9: decisions by rule (each rule's own verdict in a case decided per rule), the share founded
  (the rule's precision), and a flag on a rule with enough decisions and a share founded under 10 %:
  it is recommended for demotion to staging.
- Table 10: investigations that did not come from detection, by source: the cases that went to investigation
  (as Table 1) opened by the weekly random review, a client's complaint, a manager's concern or a Privacy Act
  request, by the quarter of ``opened_at``; no cell or total in common with Table 1, and no row total.

Coverage (``accesswatch.reports.coverage``): every quarter row says what its figures cover. Tables 4 to 8
count the quarter's access logs, so a quarter without any logs shows "no data" in them, not 0; a quarter
with logs on only some of its days, and the current, unfinished quarter, are marked partial with the days
covered. Tables 1 to 3 count case records by the date of the action, which do not depend on the quarter's
logs: their rows are marked partial only for the unfinished quarter or a period that cuts a quarter.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from accesswatch.cases.precision import rule_verdicts
from accesswatch.cases.scoring import DEMOTION_PRECISION, ScoringSettings, flagged_for_demotion
from accesswatch.cases.workflow import INVESTIGATING, reached
from accesswatch.contract import Severity
from accesswatch.quarters import Period, nz_date, parse_instant, quarter_end, quarter_label
from accesswatch.reports.coverage import NONE, Coverage, Span
from accesswatch.reports.disclosure import Disclosure, State, suppress
from accesswatch.reports.model import NO_DATA_NOTE, Report, quarter_key
from accesswatch.reports.tables import Cell, Chart, Column, Row, Side, Table, counts_row, grid

ER_TYPES: tuple[str, ...] = (
    "inappropriate_access", "conflict_of_interest", "fraud_or_dishonesty", "privacy_breach", "other_misconduct",
)
OUTCOMES: tuple[str, ...] = (
    "no_further_action", "letter_of_expectation", "written_warning", "final_written_warning", "dismissal",
    "resigned_before_outcome",
)
NOT_RECORDED = "not_recorded"
DECISIONS = ("founded", "unfounded", "undecided")
FOUNDED_STATUSES = frozenset({"er_case", "awaiting_outcome", "outcome_recorded", "closed_founded"})
SEVERITY_ORDER = tuple(s.value for s in Severity)
PERIOD_ROW = "period"
# Table 1 counts investigations that detection started; random review, complaints, managers' concerns and
# privacy requests do not count (Table 10 counts those, by source).
DETECTION_SOURCE = "detection"
INVESTIGATION_SOURCES = frozenset({DETECTION_SOURCE})
# Every source a case can have (``cases.sources.SOURCES``), as people read them; Table 10's columns are all but
# detection (Table 1).
SOURCE_LABELS: dict[str, str] = {
    "detection": "Detection (data mining)",
    "random_review": "Weekly random review",
    "complaint": "Client complaint",
    "manager_concern": "Manager's concern",
    "privacy_request": "Privacy Act request",
}
# A rule with at least this many decisions (the same setting that lets precision scale its weight) and a
# share founded under DEMOTION_PRECISION is flagged for demotion to staging.
DEFAULT_MIN_DECISIONS: int = ScoringSettings.model_fields["case_precision_min_decisions"].default
FLAGGED, NOT_FLAGGED = "yes", "no"
# What the workbook and the JSON call a rule, where the catalog gives no name of its own (the id is in a note).
RULE_NAMES: dict[str, str] = {
    "SELF_RECORD": "Own record",
    "RELATIVE_RECORD": "A relative's record",
    "HOUSEHOLD_RECORD": "Someone in the same household",
    "COLLEAGUE_RECORD": "A colleague's record",
    "DECLARED_ASSOCIATE": "A declared associate's record",
    "PUBLIC_FIGURE": "Public figure, no assignment",
    "SENSITIVE_LOOKUP": "Sensitive details, no assignment",
    "INACTIVE_ACCOUNT": "Account not active",
    "OUT_OF_HOURS_SENSITIVE": "Sensitive details out of hours",
    "UNASSIGNED_VOLUME": "Many unassigned clients in a day",
}
CASE_RECORDS_NOTE = ("Counted from the case records, by the date of the action: these counts do not depend on the "
                     "quarter's access logs (see the coverage column), so a quarter without logs can still show them.")


def rule_name(rule: str, names: Mapping[str, str] | None = None, description: str | None = None) -> str:
    """The name people read for a rule: the catalog's, else ``RULE_NAMES``, else its description, else the id."""
    return (names or {}).get(rule) or RULE_NAMES.get(rule) or humanise(description or "") or rule


def humanise(key: str) -> str:
    """'letter_of_expectation' -> 'Letter of expectation'."""
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@dataclass
class ReportInputs:
    """Everything a release is computed from (loaded by ``accesswatch.services.report``)."""

    cases: Sequence[Mapping[str, Any]]
    findings: Sequence[Mapping[str, Any]]
    users_by_quarter: Mapping[date, set[str]]  # quarter end -> user ids seen on the period's days of it
    account_types: Mapping[str, str]  # user_id -> person | service (staff snapshot)
    rules: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # rule id -> (severity, description)
    systems: tuple[str, ...] = ()
    min_decisions: int = DEFAULT_MIN_DECISIONS  # decisions a rule needs before it can be flagged for demotion
    coverage: Coverage | None = None  # the days with logs per system (None: not known, nothing marked no data)
    rule_names: Mapping[str, str] = field(default_factory=dict)  # rule id -> name people read


# ---------------------------------------------------------------------- case facts
def _day(value: Any) -> date | None:
    if value in (None, ""):
        return None
    return nz_date(parse_instant(str(value)))


def completion(case: Mapping[str, Any]) -> tuple[date, str, str] | None:
    """(NZ date completed, ER type, outcome) of a completed ER case, else None.

    Completed means an outcome is recorded: at ``outcome_at``, or for records made before that
    field existed, ``closed_at``.
    """
    outcome = case.get("outcome")
    if not outcome:
        return None
    day = _day(case.get("outcome_at")) or _day(case.get("closed_at"))
    if day is None:
        return None
    return day, str(case.get("er_type") or NOT_RECORDED), str(outcome)


def decision(case: Mapping[str, Any]) -> tuple[str, date | None]:
    """("founded" | "unfounded" | "undecided", NZ date decided)."""
    value = case.get("decision")
    status = case.get("status")
    if value not in ("founded", "unfounded"):
        if status == "closed_unfounded":
            value = "unfounded"
        elif status in FOUNDED_STATUSES:
            value = "founded"
        else:
            return "undecided", None
    when = _day(case.get("decided_at")) or _day(case.get("er_opened_at")) or _day(case.get("closed_at"))
    return str(value), when


def case_source(case: Mapping[str, Any]) -> str:
    """What opened the case; ``not_recorded`` for a record without a source (not counted as detection)."""
    return str(case.get("source") or NOT_RECORDED)


def investigated(case: Mapping[str, Any]) -> bool:
    """Table 1's test: detection opened the case and it went to investigation (an investigator has it,
    or had it: "investigating" or any status after it)."""
    return case.get("source") in INVESTIGATION_SOURCES and reached(str(case.get("status") or ""), INVESTIGATING)


def verdicts(case: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(the case's decision, rule -> founded / unfounded / undecided for each rule of its findings).

    Each rule's own verdict where the case was decided per rule (``cases.precision.rule_verdicts``);
    otherwise the case's decision, which for older records ``decision`` reads from the status."""
    overall = decision(case)[0]
    return overall, rule_verdicts({**case, "decision": overall})


# ---------------------------------------------------------------------- the release
def build_report(inputs: ReportInputs, period: Period, *, threshold: int,
                 generated_at: datetime | None = None) -> Report:
    quarters = period.quarters
    qkeys = [quarter_key(q) for q in quarters]
    d = Disclosure()
    tables: list[Table] = []
    notes: list[str] = []
    generated = generated_at or datetime.now(UTC)
    known = inputs.coverage is not None
    coverage = inputs.coverage if inputs.coverage is not None else Coverage({}, nz_date(generated))
    if period.end > coverage.as_of:
        raise ValueError(f"the period ends {period.end.isoformat()}, after the day the report is produced "
                         f"({coverage.as_of.isoformat()}, New Zealand date): clip it first (coverage.clip_to_today)")
    spans: dict[str, Span] = {quarter_key(q): coverage.quarter(q, period) for q in quarters}
    spans[PERIOD_ROW] = coverage.whole(period)
    user_systems = list(inputs.systems) or None

    def name(rule: str) -> str:
        return rule_name(rule, inputs.rule_names, inputs.rules.get(rule, ("", ""))[1])

    def covered(rows: Sequence[Row], *, logs: bool = True, systems: Sequence[str] | None = None) -> tuple[Row, ...]:
        """The rows with what they cover; in a table of logged accesses, a quarter without logs is "no data"."""
        out = []
        for row in rows:
            span = spans.get(row.key)
            if span is None:  # the Total row
                out.append(row)
                continue
            if not logs or not known:
                out.append(replace(row, coverage=span.period_text()))
                continue
            if span.status(systems) == NONE and all(c.edge is not None and d.value(c.edge) == 0 for c in row.cells):
                row = replace(row, cells=tuple(replace(c, no_data=True) for c in row.cells))
            out.append(replace(row, coverage=span.text(systems)))
        return tuple(out)

    def quarter_rows(columns: Sequence[str], edges: Mapping[tuple[str, str], str],
                     row_total: Mapping[str, str] | None = None) -> list[Row]:
        rows = []
        for q, k in zip(quarters, qkeys, strict=True):
            cells = [edges[(k, c)] for c in columns] + ([row_total[k]] if row_total is not None else [])
            rows.append(counts_row(k, quarter_label(q), cells))
        return rows

    def total_row(columns: Sequence[str], col_total: Mapping[str, str], grand: str | None) -> Row:
        cells = [col_total[c] for c in columns] + ([grand] if grand is not None else [])
        return counts_row("total", "Total", cells, total=True)

    # ---- Tables 1 and 10 ------------------------------------------------------------------------
    # Table 1: investigations that detection started. Table 10: those that began any other way, by source. The
    # two share no cell and no total, so a small count of complaints (say) is withheld within Table 10 alone and
    # never takes Table 1's figures with it (were Table 10 to repeat detection beside a row total, every small
    # count of another source would force a Table 1 figure to be withheld as its complement).
    opened: Counter[tuple[str, str]] = Counter()
    by_source: Counter[tuple[str, str]] = Counter()
    for case in inputs.cases:
        day = _day(case.get("opened_at"))
        if not (reached(str(case.get("status") or ""), INVESTIGATING) and day is not None and period.contains(day)):
            continue
        source = case_source(case)
        if source in INVESTIGATION_SOURCES:
            opened[(quarter_key(quarter_end(day)), "opened")] += 1
        else:
            by_source[(quarter_key(quarter_end(day)), source)] += 1
    t1 = grid(d, "t1", qkeys, Side(["opened"], opened), row_totals=False, grand=False)
    sources = [s for s in SOURCE_LABELS if s not in INVESTIGATION_SOURCES]
    sources += sorted({s for _, s in by_source} - set(sources))
    src = grid(d, "src", qkeys, Side(sources, by_source), row_totals=False, grand=False)
    tables.append(Table(
        "table1_investigations", 1, "Investigations from detection, by quarter ending",
        "quarter_ending", "Quarter ending", (Column("investigations_opened", "Investigations"),),
        covered(quarter_rows(["opened"], t1.cell) + [total_row(["opened"], t1.column_total, None)], logs=False),
        notes=("An investigation is a case about one staff member's access to client records, whichever and "
               "however many clients it concerns.",
               "Counted: cases that accesswatch's detection opened and that went to investigation (an "
               "investigator took the case up; it may since have been decided or closed), in the quarter the "
               "case was opened (New Zealand time).",
               "Not counted: cases not yet taken up by an investigator, cases drawn for the weekly random "
               "review of staff below the risk threshold, and investigations that began with a complaint, "
               "a manager's concern or a privacy request (Table 10 counts those).", CASE_RECORDS_NOTE),
        chart=Chart(y_title="Investigations"),
    ))
    labels = {**SOURCE_LABELS, NOT_RECORDED: "Source not recorded"}
    table10 = Table(
        "table10_investigations_by_source", 10, "Investigations not from detection, by how they came to light, "
        "by quarter ending",
        "quarter_ending", "Quarter ending",
        tuple(Column(s, labels.get(s, humanise(s))) for s in sources),
        covered(quarter_rows(sources, src.cell) + [total_row(sources, src.column_total, None)], logs=False),
        notes=("Cases that went to investigation and did not come from detection (Table 1 counts those), by what "
               "opened them, in the quarter the case was opened (New Zealand time). No row total: with one, a "
               "small count in one column could be worked out from the others.",
               "A complaint, a manager's concern or a privacy request about a staff member whose case was already "
               "open joins that case (one case per staff member) and is not counted again: the case's history "
               "records it.", CASE_RECORDS_NOTE),
        chart=Chart(grouping="stacked", y_title="Investigations"),
    )

    # ---- Tables 2 and 3 -------------------------------------------------------------------------
    by_type: Counter[tuple[str, str]] = Counter()
    by_outcome: Counter[tuple[str, str]] = Counter()
    for case in inputs.cases:
        done = completion(case)
        if done is not None and period.contains(done[0]):
            k = quarter_key(quarter_end(done[0]))
            by_type[(k, done[1])] += 1
            by_outcome[(k, done[2])] += 1
    types = list(ER_TYPES) + sorted({t for _, t in by_type} - set(ER_TYPES))
    outcomes = list(OUTCOMES) + sorted({o for _, o in by_outcome} - set(OUTCOMES))
    er = grid(d, "er", qkeys, Side(types, by_type), left=Side(outcomes, by_outcome))
    tables.append(Table(
        "table2_er_by_type", 2, "Completed Employment Relations cases, by ER case type and quarter ending",
        "quarter_ending", "Quarter ending",
        tuple(Column(t, humanise(t)) for t in types) + (Column("total", "Total", "total"),),
        covered(quarter_rows(types, er.cell, er.row_total) + [total_row(types, er.column_total, er.grand)],
                logs=False),
        notes=("An Employment Relations (ER) case is completed when its outcome is recorded; it is counted in "
               "the quarter the outcome was recorded.", "Tables 2 and 3 count the same cases.", CASE_RECORDS_NOTE),
        chart=Chart(grouping="stacked", y_title="Completed ER cases"),
    ))
    tables.append(Table(
        "table3_er_by_outcome", 3, "Completed Employment Relations cases, by outcome and quarter ending",
        "quarter_ending", "Quarter ending",
        tuple(Column(o, humanise(o)) for o in outcomes) + (Column("total", "Total", "total"),),
        covered(quarter_rows(outcomes, er.left, er.row_total) + [total_row(outcomes, er.left_total, er.grand)],
                logs=False),
        notes=("Tables 2 and 3 count the same cases.", CASE_RECORDS_NOTE),
        chart=Chart(grouping="stacked", y_title="Completed ER cases"),
    ))

    # ---- Tables 4 to 6 --------------------------------------------------------------------------
    case_verdicts = {str(c["case_id"]): verdicts(c) for c in inputs.cases if c.get("case_id")}

    def finding_decision(f: Mapping[str, Any]) -> str:
        """The decision the finding's case recorded for the finding's rule."""
        found = case_verdicts.get(str(f.get("case_id") or ""))
        if found is None:
            return "undecided"
        overall, per_rule = found
        return per_rule.get(str(f["rule"]), overall)

    severity_of = {rule: sev for rule, (sev, _desc) in inputs.rules.items()}
    live = []
    for f in inputs.findings:
        if f.get("rule_status", "live") != "live":
            continue
        day = date.fromisoformat(str(f["nz_date"]))
        if period.contains(day):
            live.append((quarter_key(quarter_end(day)), f))
    by_rule: Counter[tuple[str, str]] = Counter()
    by_decision: Counter[tuple[str, str]] = Counter()
    for k, f in live:
        rule = str(f["rule"])
        severity_of.setdefault(rule, str(f.get("severity") or "medium"))
        by_rule[(k, rule)] += 1
        by_decision[(k, finding_decision(f))] += 1
    rules = list(inputs.rules) + sorted({r for _, r in by_rule} - set(inputs.rules))
    severities = [s for s in SEVERITY_ORDER if any(severity_of[r] == s for r in rules)]
    severities += sorted({severity_of[r] for r in rules} - set(severities))
    groups = {s: [r for r in rules if severity_of[r] == s] for s in severities}
    ordered_rules = [r for s in severities for r in groups[s]]
    acc = grid(d, "acc", qkeys, Side(ordered_rules, by_rule, groups=groups), left=Side(DECISIONS, by_decision))
    detected_basis = ("A possible inappropriate access is an access for which a live detection rule raised a "
                      "finding; it is counted in the quarter the access happened (New Zealand time).")
    detected_note = detected_basis + " An access that raised findings under two rules is counted under each rule."

    tables.append(Table(
        "instances_by_decision", 4,
        "Possible inappropriate accesses detected, by investigation decision and quarter ending",
        "quarter_ending", "Quarter ending",
        (Column("founded", "In founded investigations"), Column("unfounded", "In unfounded investigations"),
         Column("undecided", "Not yet decided"), Column("total", "Total detected", "total")),
        covered(quarter_rows(DECISIONS, acc.left, acc.row_total)
                + [total_row(DECISIONS, acc.left_total, acc.grand)]),
        notes=(detected_basis + " Each access is counted once for each finding it raised.",
               "An access is counted under the decision its investigation recorded for the rule that raised "
               "the finding: an investigation founded for one rule may be unfounded for another (investigations "
               "decided before decisions were recorded rule by rule count their one decision for every rule).",
               "Decisions are those recorded by the time the report was produced."),
        chart=Chart(grouping="stacked", y_title="Accesses"),
    ))
    tables.append(Table(
        "instances_by_rule", 5, "Possible inappropriate accesses detected, by rule and quarter ending",
        "quarter_ending", "Quarter ending",
        tuple(Column(r, name(r), note=f"Rule id: {r}") for r in ordered_rules)
        + (Column("total", "Total", "total"),),
        covered(quarter_rows(ordered_rules, acc.cell, acc.row_total)
                + [total_row(ordered_rules, acc.column_total, acc.grand)]),
        notes=(detected_note, *(f"{name(r)} ({r}): {inputs.rules[r][1]}"
                                for r in ordered_rules if r in inputs.rules)),
        chart=Chart(grouping="stacked", y_title="Accesses"),
    ))
    tables.append(Table(
        "instances_by_severity", 6, "Possible inappropriate accesses detected, by severity and quarter ending",
        "quarter_ending", "Quarter ending",
        tuple(Column(s, humanise(s)) for s in severities) + (Column("total", "Total", "total"),),
        covered(quarter_rows(severities, acc.group, acc.row_total)
                + [total_row(severities, acc.group_total, acc.grand)]),
        notes=(detected_note, "Severity is the rule's: " + "; ".join(
            f"{humanise(s)}: {', '.join(f'{name(r)} ({r})' for r in groups[s])}"
            for s in severities) + "."),
        chart=Chart(grouping="stacked", y_title="Accesses"),
    ))

    # ---- Table 7 ----------------------------------------------------------------------------------
    staff: dict[str, set[str]] = defaultdict(set)
    clients: dict[str, set[str]] = defaultdict(set)
    for k, f in live:
        for key in (k, PERIOD_ROW):
            staff[key].add(str(f["user_id"]))
            clients[key].add(str(f["client_id"]))
    people_rows = [*qkeys, PERIOD_ROW]
    people = grid(d, "people", people_rows, Side(["staff", "clients"], {
        **{(k, "staff"): len(v) for k, v in staff.items()}, **{(k, "clients"): len(v) for k, v in clients.items()},
    }, column_totals=False), row_totals=False, grand=False)
    tables.append(Table(
        "people_involved", 7, "Distinct staff involved in and clients affected by possible inappropriate accesses",
        "quarter_ending", "Quarter ending",
        (Column("staff", "Staff involved"), Column("clients", "Clients affected")),
        covered(quarter_rows(["staff", "clients"], people.cell)
                + [counts_row(PERIOD_ROW, f"Whole period ({period.label})",
                              [people.cell[(PERIOD_ROW, "staff")], people.cell[(PERIOD_ROW, "clients")]],
                              total=True)]),
        notes=("Each person is counted once per quarter, and once for the whole period: the whole period is not "
               "the sum of the quarters.",),
        chart=Chart(y_title="People"),
    ))

    # ---- Table 8 ----------------------------------------------------------------------------------
    users: dict[tuple[str, str], int] = {}
    everyone: set[str] = set()
    for q in quarters:
        seen = set(inputs.users_by_quarter.get(q, set()))
        everyone |= seen
        service = sum(1 for u in seen if inputs.account_types.get(u) == "service")
        users[(quarter_key(q), "person")] = len(seen) - service
        users[(quarter_key(q), "service")] = service
    service_all = sum(1 for u in everyone if inputs.account_types.get(u) == "service")
    users[(PERIOD_ROW, "person")] = len(everyone) - service_all
    users[(PERIOD_ROW, "service")] = service_all
    # Automated accounts are not natural persons: their count is not withheld for being small (s9(2)(a)).
    u = grid(d, "users", people_rows, Side(["person", "service"], users, column_totals=False,
                                           not_persons=frozenset({"service"})), grand=False)
    systems = ", ".join(inputs.systems) if inputs.systems else "all monitored systems"
    tables.append(Table(
        "unique_users", 8, "Unique users, with and without automated accounts",
        "quarter_ending", "Quarter ending",
        (Column("excluding_automated", "Users excluding automated accounts"),
         Column("automated", "Automated (service) accounts"),
         Column("including_automated", "Users including automated accounts", "total")),
        covered(quarter_rows(["person", "service"], u.cell, u.row_total)
                + [counts_row(PERIOD_ROW, f"Whole period ({period.label})",
                              [u.cell[(PERIOD_ROW, "person")], u.cell[(PERIOD_ROW, "service")],
                               u.row_total[PERIOD_ROW]], total=True)], systems=user_systems),
        notes=(f"A user is a login that accessed at least one client record ({systems}) in the quarter.",
               "Automated accounts are those the staff snapshot marks as service accounts; a login missing from "
               "the staff snapshot is counted as a person.",
               "Each user is counted once per quarter, and once for the whole period.",
               "Counts of automated accounts are published even when small (section 9(2)(a) protects natural "
               "persons), unless they would give a withheld count of people away."),
        chart=Chart(y_title="Users", series=("excluding_automated", "automated")),
    ))

    # ---- Table 9 ----------------------------------------------------------------------------------
    decided: Counter[tuple[str, str]] = Counter()
    for case in inputs.cases:
        overall, per_rule = verdicts(case)
        when = decision(case)[1]
        if overall == "undecided" or when is None or not period.contains(when):
            continue
        for rule, verdict in per_rule.items():
            if verdict in ("founded", "unfounded"):
                decided[(rule, verdict)] += 1
    precision_rules = list(inputs.rules) + sorted({r for r, _ in decided} - set(inputs.rules))
    prec = grid(d, "prec", precision_rules, Side(["founded", "unfounded"], decided, column_totals=False),
                grand=False)
    # The flag follows from the founded and decided counts beside it, so it is withheld with either of them.
    flag_depends = {r: (prec.cell[(r, "founded")], prec.row_total[r]) for r in precision_rules}
    min_decisions = max(inputs.min_decisions, 1)
    flagged = {r: flagged_for_demotion(decided[(r, "founded")], decided[(r, "unfounded")], min_decisions)
               for r in precision_rules}

    suppress(d, threshold)
    shown_flags = [r for r in precision_rules if flagged[r]
                   and not any(d.state(e) is State.WITHHELD for e in flag_depends[r])]
    flag_note = (f"Flagged for demotion: a rule with at least {min_decisions} decisions in the period "
                 f"and a share founded under {DEMOTION_PRECISION:.0%} is flagged \"yes\": it is recommended "
                 "for demotion to staging (its findings would still be recorded and counted, but would no longer "
                 "reach investigators). The flag is withheld when either of its counts is.")
    tables.append(Table(
        "rule_precision", 9, "Investigation decisions by rule, the share founded, and rules flagged for demotion",
        "rule", "Rule",
        (Column("founded", "Founded"), Column("unfounded", "Unfounded"), Column("decided", "Decided", "total"),
         Column("precision", "Share founded", "ratio"),
         Column("flagged_for_demotion", "Flagged for demotion to staging", "flag")),
        tuple(Row(r, name(r), (Cell(edge=prec.cell[(r, "founded")]), Cell(edge=prec.cell[(r, "unfounded")]),
                               Cell(edge=prec.row_total[r]),
                               Cell(ratio=(prec.cell[(r, "founded")], prec.row_total[r])),
                               Cell(text=FLAGGED if flagged[r] else NOT_FLAGGED, depends=flag_depends[r])),
                  note=f"Rule id: {r}")
              for r in precision_rules),
        notes=("Investigations decided in the period, counted under every rule that raised a finding in them, "
               "with the decision recorded for that rule: an investigation founded for one rule (say SELF_RECORD) "
               "may be unfounded for another (say SENSITIVE_LOOKUP), and then counts as unfounded for it. An "
               "investigation with findings under two rules counts for both, so the rows do not add up to the "
               "number of investigations. Investigations decided before decisions were recorded rule by rule "
               "count their one decision for every rule.",
               "Share founded (precision) = founded / decided; it is withheld when either count is.",
               flag_note,
               *([f"Flagged for demotion to staging in this release: {', '.join(shown_flags)}."]
                 if shown_flags else [])),
        chart=Chart(kind="bar", grouping="stacked", y_title="Investigations", series=("founded", "unfounded")),
    ))
    tables.append(table10)
    if coverage.message:
        notes.append(f"Period: {coverage.message}.")
    unfinished = [q for q in quarters if spans[quarter_key(q)].unfinished]
    partial = [q for q in period.partial_quarters if q not in unfinished]
    if partial:
        notes.append("The period covers only part of the quarter(s) ending "
                     + ", ".join(quarter_label(q) for q in partial) + ": only the period's days are counted.")
    for q in unfinished:
        notes.append(f"The quarter ending {quarter_label(q)} is not over: its figures run to "
                     f"{quarter_label(period.end)} (New Zealand date) and are partial.")
    if known:
        notes.append("Each quarter's coverage says on which days there are access logs: a quarter with logs on "
                     "only some of its days is partial, and one with none shows \"no data\" in the tables of "
                     "accesses and users (4 to 8).")
    if any(c.no_data for t in tables for r in t.rows for c in r.cells):
        notes.append(NO_DATA_NOTE)
    return Report(period, threshold, generated, tables, d, notes, tuple(inputs.systems),
                  inputs.coverage)
