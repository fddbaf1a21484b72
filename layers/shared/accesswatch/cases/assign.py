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
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from accesswatch.cases.exceptions import suppressing
from accesswatch.cases.scoring import (
    Crossing,
    Scored,
    ScoringSettings,
    combine,
    priority,
    score_finding,
    strongest_window,
)
from accesswatch.dal.cases import UNDECIDED, CaseStore, ConcurrentUpdate, split_part
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingMarks
from accesswatch.dal.ledger import now_iso
from accesswatch.dal.risk import RiskLedger, RiskStore, entry_as_finding, ledger_entry
from accesswatch.quarters import parse_instant

MAX_ATTEMPTS = 12
# Waits (seconds) for a case another writer claimed to appear, and when such a claim is deemed dead.
CLAIM_WAITS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)
STALE_CLAIM_S = 900.0  # the longest a detect invocation runs; its retries re-create the case they claimed
# Ledger entries older than this many days before the user's newest entry are dropped (the window
# needs ``case_window_days``; the weekly digest and draw look back one more week).
LEDGER_KEEP_EXTRA_DAYS = 14
# At most this many entries in one user's ledger (the newest): far past any threshold, and well inside
# DynamoDB's 400 KB item limit however many lookups one account makes.
MAX_LEDGER_ENTRIES = 1000
# A history entry lists at most this many finding ids (and says how many more joined).
MAX_HISTORY_IDS = 1000


# What the first attempt to settle a user plans from (``CaseRouter.read_users``): the open-case pointer, the risk
# ledger and the case the pointer names (None: no pointer, or a claim whose case is not created yet).
Known = tuple[dict[str, Any] | None, RiskLedger, dict[str, Any] | None]
_UNREAD: Any = object()  # the pointer's case is not read yet


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
    settled: set[str] = field(default_factory=set)  # finding ids that now name their case

    def counts(self) -> dict[str, int]:
        return {"cases_opened": len(self.opened), "cases_joined": len(self.joined),
                "findings_joined": sum(self.joined.values()), "findings_ledgered": self.ledgered,
                "users_queued": len(self.queued), "findings_suppressed": sum(self.suppressed.values())}


@dataclass
class CaseRouter:
    cases: CaseStore
    risk: RiskStore
    findings: FindingMarks
    executions: Executions
    case_state_machine_arn: str
    settings: ScoringSettings
    weights: dict[str, float]

    # ------------------------------------------------------------------ detection's entry point
    def route(self, stored: Sequence[Mapping[str, Any]], *, exceptions: Sequence[Mapping[str, Any]] = ()
              ) -> RoutingResult:
        """``stored``: findings as the table holds them (any rule status). Returns what happened."""
        from accesswatch.rules import TIER_OF

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
                if self.findings.set_suppressed(str(item["finding_id"]), exception_id):
                    result.suppressed[exception_id] += 1
                continue
            by_user[str(item["user_id"])].append(item)
        known = self.read_users(sorted(by_user))
        recheck: dict[str, list[Mapping[str, Any]]] = {}
        for user_id, items in sorted(by_user.items()):
            self._settle_user(user_id, items, result, known=known[user_id], recheck=recheck)
        # Findings this run put in a ledger join the case another writer opened for the user meanwhile.
        if recheck:
            pointers = self.cases.open_pointers_of(sorted(recheck))
            for user_id, items in sorted(recheck.items()):
                if pointers[user_id] is not None:
                    self._settle_user(user_id, items, result, in_ledger=True)
        self.findings.flush()  # the findings as routed, written before any case's workflow starts
        self.finish(result)
        return result

    def read_users(self, user_ids: Sequence[str]) -> dict[str, Known]:
        """Each user's open-case pointer, risk ledger and the case the pointer names (None: no pointer, or a
        claim whose case is not created yet), read in batches (BatchGetItem) rather than three reads per user:
        what the first attempt to settle the user plans from."""
        found = self.cases.get_many([k for u in user_ids for k in (self.cases.user_key(u), self.risk.ledger_key(u))])
        pointers = {u: found.get((f"USER#{u}", "OPEN")) for u in user_ids}
        open_cases = self.cases.get_cases([str(p["case_id"]) for p in pointers.values() if p is not None])
        out: dict[str, Known] = {}
        for user_id, pointer in pointers.items():
            case = open_cases.get(str(pointer["case_id"])) if pointer is not None else None
            out[user_id] = (pointer, self.risk.ledger_of(user_id, found.get((f"RISK#{user_id}", "LEDGER"))), case)
        return out

    def read_ledgers(self, user_ids: Collection[str]) -> dict[str, RiskLedger]:
        """The users' risk ledgers, read in batches (an empty ledger for a user who has none)."""
        found = self.cases.get_many([self.risk.ledger_key(u) for u in user_ids])
        return {u: self.risk.ledger_of(u, found.get((f"RISK#{u}", "LEDGER"))) for u in user_ids}

    def _settle_user(self, user_id: str, items: list[Mapping[str, Any]], result: RoutingResult, *,
                     known: Known | None = None,
                     recheck: dict[str, list[Mapping[str, Any]]] | None = None, in_ledger: bool = False) -> None:
        """Settle the user's findings: into their open case, a new case, or their risk ledger. ``known``: the
        pointer, ledger and open case read in a batch (the first attempt plans from them; a retry reads afresh,
        and every write is conditional on what it read). After a
        write to the ledger the user's pointer is read again, in case another writer opened a case meanwhile
        (its findings then join it): with ``recheck``, the caller does that read for many users at once.
        ``in_ledger``: our accumulate findings were written to the ledger already (by an earlier attempt)."""
        from accesswatch.rules import TIER_OF

        waited = 0
        for _attempt in range(MAX_ATTEMPTS + len(CLAIM_WAITS_S)):
            items = [i for i in items if str(i["finding_id"]) not in result.settled]
            if not items:
                return
            immediate = [i for i in items if TIER_OF.get(str(i["rule"])) == "immediate"]
            opening = case_id_for(user_id, min(immediate, key=_order)["finding_id"]) if immediate else None
            try:
                if known is not None:
                    (pointer, ledger, case), known = known, None
                else:
                    pointer, ledger, case = self.cases.open_pointer(user_id), None, _UNREAD
                if pointer is not None:
                    case_id = str(pointer["case_id"])
                    if case is _UNREAD:
                        case = self.cases.get(case_id)
                    if case is None:
                        if case_id == opening:  # our own claim, left by an attempt that died: finish it
                            self.create_case(user_id, case_id, "immediate", items, result)
                            return
                        waited = self.wait_for_claim(user_id, pointer, waited)
                        continue
                    if case.get("status") not in UNDECIDED:
                        self.cases.release_user(user_id, case_id)  # decided: release, plan again
                        continue
                    self.add_to_case(user_id, case, items, result)
                    if in_ledger:
                        self.take_from_ledger(user_id, {str(i["finding_id"]) for i in items})
                    return
                if opening is not None:
                    self.open_case(user_id, opening, "immediate", items, result, ledger=ledger)
                    return
                self._ledger_and_queue(user_id, items, result, ledger=ledger)
                in_ledger = True
                if recheck is not None:
                    recheck[user_id] = items
                    return
                if self.cases.open_pointer(user_id) is None:
                    return
                # a case opened for the user meanwhile: our findings join it (next attempt)
            except ConcurrentUpdate:
                continue
        raise RuntimeError(f"could not settle the findings of user {user_id} after {MAX_ATTEMPTS} attempts")

    def wait_for_claim(self, user_id: str, pointer: Mapping[str, Any], waited: int) -> int:
        """Another writer claimed the user but has not created its case yet: wait for it. A claim older
        than STALE_CLAIM_S whose case never appeared (its writer died and was not retried) is released."""
        claimed = str(pointer.get("claimed_at") or "")
        age = (parse_instant(now_iso()) - parse_instant(claimed)).total_seconds() if claimed else STALE_CLAIM_S
        if age >= STALE_CLAIM_S:
            self.cases.release_user(user_id, str(pointer["case_id"]))
            return waited
        if waited >= len(CLAIM_WAITS_S):
            raise RuntimeError(f"user {user_id}: case {pointer['case_id']} was claimed but not created; "
                               "retry later")
        time.sleep(CLAIM_WAITS_S[waited])
        return waited + 1

    # ------------------------------------------------------------------ the risk ledger
    def _ledger_and_queue(self, user_id: str, items: Sequence[Mapping[str, Any]], result: RoutingResult, *,
                          ledger: RiskLedger | None = None) -> None:
        """Add the user's accumulate findings to their ledger (``ledger``: as read in a batch, else read now)
        and queue the user if the score crosses the threshold."""
        ledger = ledger if ledger is not None else self.risk.ledger(user_id)
        known = ledger.finding_ids()
        added = [ledger_entry(i) for i in items if str(i["finding_id"]) not in known]
        merged = unique_entries(ledger.entries + added)
        # Scored before pruning: an old day arriving late (a backfill out of order) is still judged
        # with its neighbours; only the windows it can change are evaluated.
        affected_from = min((datetime.fromisoformat(str(e["t"])) for e in added), default=None)
        best = self.best_window(merged, since=affected_from)
        ledger.entries = prune(merged, self.settings)
        newest = max((str(e["t"]) for e in ledger.entries), default="")
        stored_best = best.score if best else 0.0
        self.risk.save_ledger(ledger, score=stored_best, newest=newest)
        result.ledgered += len(added)
        if best is not None and best.score >= self.settings.case_threshold and best.findings >= 2:
            self.risk.enqueue(user_id, best.score, best.window_end, best.findings)
            result.queued.add(user_id)

    def score_entries(self, entries: Iterable[Mapping[str, Any]]) -> list[Scored]:
        return [score_finding(entry_as_finding(e), self.settings, self.weights) for e in entries]

    def best_window(self, entries: Sequence[Mapping[str, Any]], since: datetime | None = None) -> Crossing | None:
        """The strongest window of the entries (only windows ending at or after ``since``, if given)."""
        return strongest_window(self.score_entries(entries), self.settings.window, ends_from=since)

    def take_from_ledger(self, user_id: str, finding_ids: set[str], *, ledger: RiskLedger | None = None) -> None:
        """Remove entries that are in a case from the user's ledger (retrying on a concurrent writer).
        ``ledger``: the ledger as read already (the first attempt writes at its version; a retry reads afresh)."""
        for _attempt in range(MAX_ATTEMPTS):
            current, ledger = ledger if ledger is not None else self.risk.ledger(user_id), None
            if current.version is None or not (current.finding_ids() & finding_ids):
                return
            current.entries = [e for e in current.entries if str(e["f"]) not in finding_ids]
            best = self.best_window(current.entries)
            try:
                self.risk.save_ledger(current, score=best.score if best else 0.0,
                                      newest=max((str(e["t"]) for e in current.entries), default=""))
                return
            except ConcurrentUpdate:
                continue
        raise RuntimeError(f"could not update the risk ledger of user {user_id}")

    # ------------------------------------------------------------------ cases
    def open_case(self, user_id: str, case_id: str, trigger: str, items: Sequence[Mapping[str, Any]],
                  result: RoutingResult, *, carry_from: datetime | None = None, ledger: RiskLedger | None = None,
                  opening: Mapping[str, Any] | None = None) -> None:
        """Claim the user's pointer for a new case, then create it (``create_case``). ConcurrentUpdate if
        the user has an open case or a claim already."""
        self.cases.claim_user(user_id, case_id, trigger)
        self.create_case(user_id, case_id, trigger, items, result, carry_from=carry_from, ledger=ledger,
                         opening=opening)

    def create_case(self, user_id: str, case_id: str, trigger: str, items: Sequence[Mapping[str, Any]],
                    result: RoutingResult, *, carry_from: datetime | None = None,
                    ledger: RiskLedger | None = None, opening: Mapping[str, Any] | None = None) -> None:
        """Create the claimed case with ``items`` and the user's ledger entries since ``carry_from``
        (default: one window before the earliest item). If an earlier attempt created it already, finish
        that attempt's work instead: add what it lacks while it is open; once decided, release the claim
        and leave the findings it does not list to be planned again (ConcurrentUpdate). ``ledger``: the user's
        ledger as read before the claim (entries another writer adds after it join the case through that
        writer's own check of the pointer); else it is read now."""
        ledger = ledger if ledger is not None else self.risk.ledger(user_id)
        if carry_from is None and items:
            carry_from = min(datetime.fromisoformat(_at(i)) for i in items) - self.settings.window
        own = {str(i["finding_id"]) for i in items}
        carried = [entry_as_finding(e) for e in ledger.entries
                   if carry_from is not None and datetime.fromisoformat(str(e["t"])) > carry_from
                   and str(e["f"]) not in own]
        members = [*items, *carried]
        try:
            self.add_to_case(user_id, None, members, result, case_id=case_id, trigger=trigger, opening=opening)
        except ConcurrentUpdate:
            existing = self.cases.get(case_id)
            if existing is None:
                raise
            if existing.get("status") in UNDECIDED:
                self.add_to_case(user_id, existing, members, result)
            else:
                self.cases.release_user(user_id, case_id)
                listed = set(existing.get("finding_ids") or [])
                for member in members:
                    if str(member["finding_id"]) in listed:
                        self.findings.set_case(str(member["finding_id"]), case_id)
                        result.settled.add(str(member["finding_id"]))
                result.touched.add(case_id)
                raise
        if carried:
            self.take_from_ledger(user_id, {str(c["finding_id"]) for c in carried}, ledger=ledger)

    def add_to_case(self, user_id: str, case: dict[str, Any] | None, members: Sequence[Mapping[str, Any]],
                    result: RoutingResult, *, case_id: str = "", trigger: str = "",
                    opening: Mapping[str, Any] | None = None) -> None:
        """Create a case (``case`` None: ``case_id``, ``trigger``) or add to ``case`` the members it does not
        list yet, at the version read; every member then names the case (also those an interrupted
        attempt added without naming). The join's history entry is written with the case, in one transaction.
        (An entry parked on the case as ``pending_history`` by an earlier version's join is appended first.)"""
        from accesswatch.rules import TIER_OF

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
            }
            if times:  # a case a person opened (a complaint, ...) may start without findings
                record.update(first_occurred_at=min(times).isoformat(), last_occurred_at=max(times).isoformat())
            # A person's case (cases.sources): its source, who opened it and why, replacing detection's.
            record.update(opening or {})
            self.cases.save_findings(record, expected_version=None)
            result.opened.append(case_id)
        else:
            case_id = str(case["case_id"])
            if case.get("pending_history"):
                self.cases.flush_history(case)
            listed = set(case.get("finding_ids") or [])
            new = [s for s in scored if s.finding_id not in listed]
            if new:
                parts = list(case.get("parts") or []) + [part_of(s) for s in sorted(new, key=lambda s: s.finding_id)]
                breakdown = combine(scored_parts(parts))
                tier = "immediate" if case.get("tier") == "immediate" or any(
                    TIER_OF.get(s.rule) == "immediate" for s in new) else "accumulate"
                first = min([*times, datetime.fromisoformat(str(case.get("first_occurred_at") or max(times).isoformat()))])
                last = max([*times, datetime.fromisoformat(str(case.get("last_occurred_at") or min(times).isoformat()))])
                new_ids = [s.finding_id for s in new]
                listed_ids = new_ids[:MAX_HISTORY_IDS]
                more = f" (the first {len(listed_ids)} listed)" if len(new_ids) > len(listed_ids) else ""
                rules = Counter(s.rule for s in new)
                entry = self.cases.history_item(
                    case_id, now_iso(), state="joined", actor="accesswatch",
                    note=(f"{len(new)} finding(s) joined{more}: "
                          + ", ".join(f"{rule} x{n}" for rule, n in sorted(rules.items()))
                          + f"; {len({s.client_id for s in new})} client(s); score now {breakdown.total:.2f}"),
                    finding_ids=listed_ids)
                self.cases.save_findings({
                    "case_id": case_id, "parts": parts, "score": breakdown.total, "tier": tier,
                    "priority": priority(tier, breakdown, self.settings.case_threshold, str(case.get("trigger") or "")),
                    "first_occurred_at": first.isoformat(), "last_occurred_at": last.isoformat(),
                    "updated_at": now_iso(),
                }, expected_version=int(case.get("version") or 0), history=entry)
                result.joined[case_id] += len(new)
        for member in members:
            self.findings.set_case(str(member["finding_id"]), case_id)
            result.settled.add(str(member["finding_id"]))
        result.touched.add(case_id)

    def finish(self, result: RoutingResult) -> None:
        """For every case this run touched: complete a history entry an interrupted join left parked, take
        the findings the case lists out of its user's ledger (an attempt that died after creating the case
        left them there), and start its workflow if it has none yet (once: named after the case). The cases
        and their users' ledgers are read in batches; a ledger is written only if it holds a finding of the case."""
        touched = sorted(result.touched)
        current = self.cases.get_cases(touched)
        ledgers = self.read_ledgers(sorted({str(case["user_id"]) for case in current.values()}))
        for case_id in touched:
            case = current.get(case_id)
            if case is None:
                continue
            if case.get("pending_history"):
                self.cases.flush_history(case)
            user_id, listed = str(case["user_id"]), set(case.get("finding_ids") or [])
            ledger = ledgers.pop(user_id, None)  # as read, for the user's first case here; afresh for another
            if ledger is None or ledger.finding_ids() & listed:
                self.take_from_ledger(user_id, listed, ledger=ledger)
            if not case.get("execution_arn"):
                # History first: the execution's first step may run (elsewhere) before start returns.
                self.cases.record_opened(case)
                arn = self.executions.start(self.case_state_machine_arn, case_id, {"case_id": case_id})
                self.cases.update(case_id, execution_arn=arn)


def _order(item: Mapping[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(_at(item)), str(item["finding_id"])


def unique_entries(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    unique = {str(e["f"]): dict(e) for e in entries}
    return sorted(unique.values(), key=lambda e: (datetime.fromisoformat(str(e["t"])), str(e["f"])))


def prune(entries: list[dict[str, Any]], settings: ScoringSettings) -> list[dict[str, Any]]:
    """Entries within the window and two weeks more of the newest one, oldest first, each once."""
    ordered = unique_entries(entries)
    if not ordered:
        return []
    keep_from = datetime.fromisoformat(str(ordered[-1]["t"])) - settings.window - timedelta(days=LEDGER_KEEP_EXTRA_DAYS)
    kept = [e for e in ordered if datetime.fromisoformat(str(e["t"])) > keep_from]
    return kept[-MAX_LEDGER_ENTRIES:]
