"""Routing findings to cases (data contract v2, "Cases"), safely under retries and concurrent writers.

- *immediate* tier: the finding opens a case for its user, or joins the user's open case, at once;
- *accumulate* tier: the finding joins the user's open case if there is one; otherwise it goes to the
  user's risk ledger, and when the user's score over the rolling window crosses the threshold the user
  is queued for a case (``cases.queue`` opens queued cases within the daily budget);
- *record* tier (staging rules): never routed.

One open case per user: a case is opened by claiming the user's pointer (a conditional put); a writer
that loses the race joins the winner's case. A case item changes only at the version it was read
(``CaseStore.save_findings``). Safe to run again on the same findings: a finding that names its case, or
that a case already lists, is not added twice; a case's execution is named after the case, so it starts
once; joining a case starts no execution and sends no notification (its history records the join).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from accesswatch.cases.exceptions import suppressing
from accesswatch.cases.scoring import (
    Scored,
    ScoringSettings,
    combine,
    crosses,
    priority,
    score_finding,
    strongest_window,
)
from accesswatch.dal.cases import UNDECIDED, CaseStore, ConcurrentUpdate, split_part
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import now_iso
from accesswatch.dal.risk import RiskStore, entry_as_finding, ledger_entry
from accesswatch.rules import TIER_OF

MAX_ATTEMPTS = 12
# Ledger entries older than this many days before the user's newest entry are dropped (the window
# needs ``case_window_days``; the weekly digest and draw look back one more week).
LEDGER_KEEP_EXTRA_DAYS = 14
# At most this many entries in one user's ledger (the newest): far past any threshold, and well inside
# DynamoDB's 400 KB item limit however many lookups one account makes.
MAX_LEDGER_ENTRIES = 2000
# A history entry lists at most this many finding ids (and says how many more joined).
MAX_HISTORY_IDS = 1000


def case_id_for(user_id: str, opening_finding_id: str) -> str:
    """Stable: a retry or replay that opens the same user's case from the same finding gets the same id."""
    digest = hashlib.sha256(f"{user_id}\x1f{opening_finding_id}".encode()).hexdigest()
    return f"CASE-{digest[:16].upper()}"


def part_of(scored: Scored) -> str:
    return f"{scored.finding_id}|{scored.rule}|{scored.client_id}|{scored.score:.4f}"


def scored_parts(parts: Iterable[str]) -> list[Scored]:
    """A case's stored parts as scored findings (the score they joined with)."""
    out = []
    for part in parts:
        finding_id, rule, client_id, score = split_part(part)
        out.append(Scored(finding_id, rule, client_id, datetime.min, score, 1.0))
    return out


def _at(finding: Mapping[str, Any]) -> str:
    return str(finding["occurred_at_utc"])


@dataclass
class RoutingResult:
    opened: list[str] = field(default_factory=list)
    joined: Counter[str] = field(default_factory=Counter)  # case -> findings that joined it
    ledgered: int = 0
    queued: set[str] = field(default_factory=set)
    suppressed: Counter[str] = field(default_factory=Counter)  # exception -> findings
    touched: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        return {"cases_opened": len(self.opened), "cases_joined": len(self.joined),
                "findings_joined": sum(self.joined.values()), "findings_ledgered": self.ledgered,
                "users_queued": len(self.queued), "findings_suppressed": sum(self.suppressed.values())}


@dataclass
class CaseRouter:
    cases: CaseStore
    risk: RiskStore
    findings: FindingStore
    executions: Executions
    case_state_machine_arn: str
    settings: ScoringSettings
    weights: dict[str, float]

    # ------------------------------------------------------------------ detection's entry point
    def route(self, stored: Sequence[Mapping[str, Any]], *, exceptions: Sequence[Mapping[str, Any]] = ()
              ) -> RoutingResult:
        """``stored``: findings as the table holds them (any rule status). Returns what happened."""
        result = RoutingResult()
        by_user: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for item in stored:
            if item.get("rule_status", "live") != "live" or TIER_OF.get(str(item["rule"]), "record") == "record":
                continue
            if item.get("case_id"):
                result.touched.add(str(item["case_id"]))
                continue
            if item.get("suppressed_by"):
                continue
            exception_id = suppressing(item, exceptions)
            if exception_id:
                self.findings.set_suppressed(str(item["finding_id"]), exception_id)
                result.suppressed[exception_id] += 1
                continue
            by_user[str(item["user_id"])].append(item)
        for user_id, items in sorted(by_user.items()):
            self._settle_user(user_id, items, result)
        self.start_executions(result)
        return result

    def _settle_user(self, user_id: str, items: list[Mapping[str, Any]], result: RoutingResult) -> None:
        immediate = [i for i in items if TIER_OF.get(str(i["rule"])) == "immediate"]
        in_ledger = False  # our accumulate findings were written to the ledger by an earlier attempt
        for _attempt in range(MAX_ATTEMPTS):
            try:
                pointer = self.cases.open_pointer(user_id)
                if pointer is not None:
                    case = self.cases.get(str(pointer["case_id"]))
                    if case is not None and case.get("status") not in UNDECIDED:
                        self.cases.release_user(user_id, str(pointer["case_id"]))  # decided: release, plan again
                        continue
                    self.add_to_case(user_id, str(pointer["case_id"]), str(pointer.get("trigger") or "immediate"),
                                     case, items, result)
                    if in_ledger:
                        self.take_from_ledger(user_id, {str(i["finding_id"]) for i in items})
                    return
                if immediate:
                    first = min(immediate, key=lambda i: (_at(i), str(i["finding_id"])))
                    self.open_case(user_id, case_id_for(user_id, str(first["finding_id"])), "immediate", items, result)
                    return
                if self._ledger_and_queue(user_id, items, result):
                    in_ledger = True
                    if self.cases.open_pointer(user_id) is None:
                        return
                    # a case opened for the user meanwhile: our findings join it (next attempt)
            except ConcurrentUpdate:
                continue
        raise RuntimeError(f"could not settle the findings of user {user_id} after {MAX_ATTEMPTS} attempts")

    # ------------------------------------------------------------------ the risk ledger
    def _ledger_and_queue(self, user_id: str, items: Sequence[Mapping[str, Any]], result: RoutingResult) -> bool:
        ledger = self.risk.ledger(user_id)
        known = ledger.finding_ids()
        added = [ledger_entry(i) for i in items if str(i["finding_id"]) not in known]
        ledger.entries = prune(ledger.entries + added, self.settings)
        scored = self.score_entries(ledger.entries)
        best = strongest_window(scored, self.settings.window)
        newest = max((str(e["t"]) for e in ledger.entries), default="")
        self.risk.save_ledger(ledger, score=best.score if best else 0.0, newest=newest)
        result.ledgered += len(added)
        crossing = crosses(scored, self.settings)
        if crossing is not None:
            self.risk.enqueue(user_id, crossing.score, crossing.window_end, crossing.findings)
            result.queued.add(user_id)
        return True

    def score_entries(self, entries: Iterable[Mapping[str, Any]]) -> list[Scored]:
        return [score_finding(entry_as_finding(e), self.settings, self.weights) for e in entries]

    def take_from_ledger(self, user_id: str, finding_ids: set[str]) -> None:
        """Remove entries that joined a case from the user's ledger (retrying on a concurrent writer)."""
        for _attempt in range(MAX_ATTEMPTS):
            ledger = self.risk.ledger(user_id)
            if ledger.version is None or not (ledger.finding_ids() & finding_ids):
                return
            ledger.entries = [e for e in ledger.entries if str(e["f"]) not in finding_ids]
            best = strongest_window(self.score_entries(ledger.entries), self.settings.window)
            try:
                self.risk.save_ledger(ledger, score=best.score if best else 0.0,
                                      newest=max((str(e["t"]) for e in ledger.entries), default=""))
                return
            except ConcurrentUpdate:
                continue
        raise RuntimeError(f"could not update the risk ledger of user {user_id}")

    # ------------------------------------------------------------------ cases
    def open_case(self, user_id: str, case_id: str, trigger: str, items: Sequence[Mapping[str, Any]],
                  result: RoutingResult, *, carry_from: datetime | None = None) -> None:
        """Claim the user's pointer for a new case and create it with ``items`` and the user's ledger
        entries since ``carry_from`` (default: one window before the earliest item)."""
        self.cases.claim_user(user_id, case_id, trigger)
        ledger = self.risk.ledger(user_id)
        if carry_from is None and items:
            carry_from = min(datetime.fromisoformat(_at(i)) for i in items) - self.settings.window
        carried = [entry_as_finding(e) for e in ledger.entries
                   if carry_from is not None and datetime.fromisoformat(str(e["t"])) > carry_from]
        members = list(items) + [c for c in carried if c["finding_id"] not in {str(i["finding_id"]) for i in items}]
        self.add_to_case(user_id, case_id, trigger, None, members, result)
        if carried:
            self.take_from_ledger(user_id, {str(c["finding_id"]) for c in carried})

    def add_to_case(self, user_id: str, case_id: str, trigger: str, case: dict[str, Any] | None,
                    members: Sequence[Mapping[str, Any]], result: RoutingResult) -> None:
        """Create the case (``case`` None) or add ``members`` it does not list yet, at the version read."""
        scored = [score_finding(m, self.settings, self.weights) for m in members]
        times = [datetime.fromisoformat(_at(m)) for m in members]
        if case is None:
            parts = [part_of(s) for s in sorted(scored, key=lambda s: s.finding_id)]
            breakdown = combine(scored_parts(parts))
            tier = "immediate" if any(TIER_OF.get(s.rule) == "immediate" for s in scored) else "accumulate"
            record = {
                "case_id": case_id, "user_id": user_id, "status": "opened", "source": "detection"
                if trigger != "random_review" else "random_review", "trigger": trigger, "tier": tier,
                "opened_at": now_iso(), "parts": parts, "score": breakdown.total,
                "priority": priority(tier, breakdown, self.settings.case_threshold, trigger),
                "first_occurred_at": min(times).isoformat(), "last_occurred_at": max(times).isoformat(),
            }
            self.cases.save_findings(record, expected_version=None)
            result.opened.append(case_id)
            new_ids = [s.finding_id for s in scored]
        else:
            if case.get("pending_history"):
                self.cases.flush_history(case)
            listed = set(case.get("finding_ids") or [])
            new = [s for s in scored if s.finding_id not in listed]
            new_ids = [s.finding_id for s in new]
            if new:
                parts = list(case.get("parts") or []) + [part_of(s) for s in sorted(new, key=lambda s: s.finding_id)]
                breakdown = combine(scored_parts(parts))
                tier = "immediate" if case.get("tier") == "immediate" or any(
                    TIER_OF.get(s.rule) == "immediate" for s in new) else "accumulate"
                first = min([*times, datetime.fromisoformat(str(case.get("first_occurred_at") or max(times).isoformat()))])
                last = max([*times, datetime.fromisoformat(str(case.get("last_occurred_at") or min(times).isoformat()))])
                self.cases.save_findings({
                    "case_id": case_id, "parts": parts, "score": breakdown.total, "tier": tier,
                    "priority": priority(tier, breakdown, self.settings.case_threshold, str(case.get("trigger") or "")),
                    "first_occurred_at": first.isoformat(), "last_occurred_at": last.isoformat(),
                    "updated_at": now_iso(),
                }, expected_version=int(case.get("version") or 0))
                rules = Counter(s.rule for s in new)
                clients = sorted({s.client_id for s in new})
                listed_ids = new_ids[:MAX_HISTORY_IDS]
                more = f" (the first {len(listed_ids)} listed)" if len(new_ids) > len(listed_ids) else ""
                self.cases.append_history(
                    case_id, state="joined", actor="accesswatch",
                    note=(f"{len(new)} finding(s) joined{more}: "
                          + ", ".join(f"{rule} x{n}" for rule, n in sorted(rules.items()))
                          + f"; {len(clients)} client(s); score now {breakdown.total:.2f}"),
                    finding_ids=listed_ids)
                result.joined[case_id] += len(new)
        for finding_id in new_ids:
            self.findings.set_case(finding_id, case_id)
        result.touched.add(case_id)

    def start_executions(self, result: RoutingResult) -> None:
        """Start the workflow of every touched case that has none yet (once: named after the case)."""
        for case_id in sorted(result.touched):
            case = self.cases.get(case_id)
            if case is not None and not case.get("execution_arn"):
                # History first: the execution's first step may run (elsewhere) before start returns.
                self.cases.record_opened(case)
                arn = self.executions.start(self.case_state_machine_arn, case_id, {"case_id": case_id})
                self.cases.update(case_id, execution_arn=arn)


def prune(entries: list[dict[str, Any]], settings: ScoringSettings) -> list[dict[str, Any]]:
    """Entries within the window and two weeks more of the newest one, oldest first, each once."""
    if not entries:
        return []
    unique = {str(e["f"]): e for e in entries}
    newest = max(datetime.fromisoformat(str(e["t"])) for e in unique.values())
    keep_from = newest - settings.window - timedelta(days=LEDGER_KEEP_EXTRA_DAYS)
    kept = sorted((e for e in unique.values() if datetime.fromisoformat(str(e["t"])) > keep_from),
                  key=lambda e: (datetime.fromisoformat(str(e["t"])), str(e["f"])))
    return kept[-MAX_LEDGER_ENTRIES:]
