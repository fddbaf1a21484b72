"""An attacker for published OIA tables: tries to recover every withheld cell from what is shown.

Independent of ``accesswatch.reports.disclosure``: it reads the release as a reader does (the JSON
a release publishes), writes down every relation a reader knows between its numbers (rows add up to
their Total, the Total row adds up the quarters, Tables 2 and 3 share their totals, Tables 4 to 6
share theirs, a severity is the sum of its rules, a whole-period count of distinct people lies
between the largest quarter and the sum of the quarters, a rule flagged for demotion has at least the
minimum number of decisions and fewer than a tenth of them founded), and solves linear programmes
(scipy's HiGHS) for the lowest and highest value each withheld cell can take. A cell whose lowest and highest
integer values coincide is recovered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linprog

MARKER = "S"


@dataclass
class Lin:
    """A linear expression over the withheld cells: sum(coef * cell) + const."""

    coefs: dict[int, float] = field(default_factory=dict)
    const: float = 0.0

    def __add__(self, other: Lin | int) -> Lin:
        if isinstance(other, int):
            return Lin(dict(self.coefs), self.const + other)
        coefs = dict(self.coefs)
        for k, v in other.coefs.items():
            coefs[k] = coefs.get(k, 0.0) + v
        return Lin(coefs, self.const + other.const)

    __radd__ = __add__

    def __mul__(self, factor: int) -> Lin:
        return Lin({k: v * factor for k, v in self.coefs.items()}, self.const * factor)

    __rmul__ = __mul__

    def __sub__(self, other: Lin) -> Lin:
        return self + Lin({k: -v for k, v in other.coefs.items()}, -other.const)


class Attack:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.equalities: list[Lin] = []  # each == 0
        self.inequalities: list[Lin] = []  # each <= 0

    def cell(self, name: str, shown: Any) -> Lin:
        if shown is None:
            # "no data" (a quarter without logs): nothing was counted there; the reader may take it as 0.
            return Lin({}, 0.0)
        if shown == MARKER:
            # Zero is always shown, so a withheld count is at least 1 (the bounds below).
            self.index.setdefault(name, len(self.index))
            return Lin({self.index[name]: 1.0})
        return Lin({}, float(int(shown)))

    def equal(self, left: Lin, right: Lin) -> None:
        diff = left - right
        if not any(diff.coefs.values()):
            assert abs(diff.const) < 1e-9, f"published numbers contradict: {diff.const}"
            return
        self.equalities.append(diff)

    def at_most(self, left: Lin, right: Lin) -> None:
        diff = left - right
        if not any(diff.coefs.values()):
            assert diff.const <= 1e-9, f"published numbers contradict: {diff.const}"
            return
        self.inequalities.append(diff)

    def _matrix(self, rows: list[Lin]) -> tuple[Any, Any]:
        if not rows:
            return None, None
        a = np.zeros((len(rows), len(self.index)))
        b = np.zeros(len(rows))
        for i, row in enumerate(rows):
            for k, v in row.coefs.items():
                a[i, k] = v
            b[i] = -row.const
        return a, b

    def bounds(self) -> dict[str, tuple[int, float]]:
        """Integer bounds (lowest, highest; inf when unbounded) of every withheld cell."""
        a_eq, b_eq = self._matrix(self.equalities)
        a_ub, b_ub = self._matrix(self.inequalities)
        out: dict[str, tuple[int, float]] = {}
        for name, i in self.index.items():
            goal = np.zeros(len(self.index))
            goal[i] = 1.0
            results = []
            for sign in (1.0, -1.0):
                res = linprog(sign * goal, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq,
                              bounds=[(1, None)] * len(self.index), method="highs")
                if res.status == 2:  # HiGHS' presolve says "infeasible" for some unbounded problems
                    res = linprog(sign * goal, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq,
                                  bounds=[(1, None)] * len(self.index), method="highs",
                                  options={"presolve": False})
                assert res.status in (0, 3), f"the published tables are infeasible: {res.message}"
                results.append(None if res.status == 3 else sign * res.fun)
            low = math.ceil(results[0] - 1e-6)
            high = math.inf if results[1] is None else math.floor(results[1] + 1e-6)
            out[name] = (low, high)
        return out

    def recovered(self) -> dict[str, int]:
        return {name: low for name, (low, high) in self.bounds().items() if low == high}


def _tables(release: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {t["id"]: t for t in release["tables"]}


def attack_release(release: Mapping[str, Any], severity_of: Mapping[str, str], min_decisions: int = 20) -> Attack:
    """Every relation between the published numbers of a release JSON, as constraints."""
    attack = Attack()
    tables = _tables(release)

    def flag_of(row_key: str) -> Any:
        row = next(r for r in tables["rule_precision"]["rows"] if r["key"] == row_key)
        return row["values"].get("flagged_for_demotion")

    def value(table_id: str, row_key: str, column: str) -> Any:
        table = tables[table_id]
        row = next(r for r in table["rows"] if r["key"] == row_key)
        return attack.cell(f"{table_id}|{row_key}|{column}", row["values"][column])

    def counts(table_id: str) -> list[str]:
        return [c["key"] for c in tables[table_id]["columns"] if c["kind"] == "count"]

    def quarter_rows(table_id: str) -> list[str]:
        return [r["key"] for r in tables[table_id]["rows"] if not r["total"]]

    def additive(table_id: str, total_column: str | None) -> None:
        quarters = quarter_rows(table_id)
        columns = counts(table_id) + ([total_column] if total_column else [])
        for row in [*quarters, "total"]:
            if total_column:
                attack.equal(sum(value(table_id, row, c) for c in counts(table_id)), value(table_id, row, total_column))
        for column in columns:
            attack.equal(sum(value(table_id, q, column) for q in quarters), value(table_id, "total", column))

    additive("table1_investigations", None)
    if "table10_investigations_by_source" in tables:
        additive("table10_investigations_by_source", None)  # by source, no row total; nothing shared with Table 1
    for table_id in ("table2_er_by_type", "table3_er_by_outcome", "instances_by_decision", "instances_by_rule",
                     "instances_by_severity"):
        additive(table_id, "total")
    for group in (("table2_er_by_type", "table3_er_by_outcome"),
                  ("instances_by_decision", "instances_by_rule", "instances_by_severity")):
        for other in group[1:]:
            for row in [*quarter_rows(group[0]), "total"]:
                attack.equal(value(group[0], row, "total"), value(other, row, "total"))
    for row in [*quarter_rows("instances_by_rule"), "total"]:
        for severity in counts("instances_by_severity"):
            rules = [r for r in counts("instances_by_rule") if severity_of[r] == severity]
            attack.equal(sum(value("instances_by_rule", row, r) for r in rules),
                         value("instances_by_severity", row, severity))

    def distinct(table_id: str, columns: Sequence[str]) -> None:
        quarters = quarter_rows(table_id)
        for column in columns:
            whole = value(table_id, "period", column)
            for q in quarters:
                attack.at_most(value(table_id, q, column), whole)
            attack.at_most(whole, sum(value(table_id, q, column) for q in quarters))

    distinct("people_involved", ["staff", "clients"])
    distinct("unique_users", ["excluding_automated", "automated", "including_automated"])
    for row in [*quarter_rows("unique_users"), "period"]:
        attack.equal(value("unique_users", row, "excluding_automated") + value("unique_users", row, "automated"),
                     value("unique_users", row, "including_automated"))
    for row in quarter_rows("rule_precision"):
        founded, decided = value("rule_precision", row, "founded"), value("rule_precision", row, "decided")
        attack.equal(founded + value("rule_precision", row, "unfounded"), decided)
        # A rule flagged for demotion has at least ``min_decisions`` decisions, under 10 % of them founded.
        if flag_of(row) == "yes":
            attack.at_most(10 * founded + Lin({}, 1.0), decided)
            attack.at_most(Lin({}, float(min_decisions)), decided)
    return attack
