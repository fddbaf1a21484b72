"""Opening accumulate-tier cases: the queue within the daily budget, and the weekly random review.

``drain`` runs after every detection execution and once a day (schedule): queued users (their score
crossed the threshold) get a case, highest score first, while the NZ day's budget lasts; a queued user
who has an open case meanwhile joins it (no budget used); the rest wait for the next day's budget and
the ``CaseBudgetExhausted`` metric raises its alarm. Immediate-tier cases are never capped.

``random_review`` runs weekly: a configured number of users below the threshold (at least two pending
accumulate-tier findings in that ISO week, no open case, not queued) are drawn with a seeded generator
(seed and week -> the same draw, recorded once) and each gets a review case, so that the threshold is
no safe place to hide.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from accesswatch.cases.assign import CLAIM_WAITS_S, MAX_ATTEMPTS, CaseRouter, RoutingResult, case_id_for
from accesswatch.cases.scoring import crosses
from accesswatch.dal.cases import UNDECIDED, ConcurrentUpdate
from accesswatch.dal.risk import entry_as_finding
from accesswatch.quarters import nz_week_bounds


@dataclass(frozen=True)
class DrainResult:
    day: str
    opened: int
    joined: int
    dropped: int  # queued users whose score no longer crosses the threshold (findings moved or suppressed)
    waiting: int  # queued users left for the next day's budget
    budget: int
    budget_used: int
    deferred: int = 0  # queued users another writer held past every attempt: the next drain settles them

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "opened": self.opened, "joined": self.joined, "dropped": self.dropped,
                "waiting": self.waiting, "budget": self.budget, "budget_used": self.budget_used,
                "deferred": self.deferred}


def drain(router: CaseRouter, *, day: date) -> DrainResult:
    """Open queued accumulate-tier cases for the NZ day ``day`` within its budget, highest score first."""
    cap = router.settings.case_daily_budget
    result = RoutingResult()
    opened = joined = dropped = waiting = deferred = 0
    for row in router.risk.queued():
        user_id = str(row["sk"])
        try:
            outcome = _settle_queued(router, user_id, day.isoformat(), cap, result)
        except RuntimeError:
            outcome = "deferred"  # contended past its attempts: still queued, the next drain settles it
        opened += outcome == "opened"
        joined += outcome == "joined"
        dropped += outcome == "dropped"
        waiting += outcome == "waiting"
        deferred += outcome == "deferred"
    router.finish(result)
    return DrainResult(day.isoformat(), opened, joined, dropped, waiting, cap, router.risk.budget_used(day.isoformat()),
                       deferred)


def _settle_queued(router: CaseRouter, user_id: str, day: str, cap: int, result: RoutingResult) -> str:
    waited = 0
    for _attempt in range(MAX_ATTEMPTS + len(CLAIM_WAITS_S)):
        try:
            ledger = router.risk.ledger(user_id)
            crossing = crosses(router.score_entries(ledger.entries), router.settings)
            ours = case_id_for(user_id, min(crossing.finding_ids)) if crossing else None
            pointer = router.cases.open_pointer(user_id)
            if pointer is not None:
                case_id = str(pointer["case_id"])
                case = router.cases.get(case_id)
                if case is None:
                    if case_id == ours and crossing is not None:
                        # our claim, left by a drain that died before creating the case (its budget is
                        # not taken again: at worst one case more than the budget that day)
                        router.create_case(user_id, case_id, "threshold", [], result, carry_from=crossing.window_start)
                        router.risk.dequeue(user_id)
                        return "opened"
                    waited = router.wait_for_claim(user_id, pointer, waited)
                    continue
                if case.get("status") not in UNDECIDED:
                    router.cases.release_user(user_id, case_id)
                    continue
                members = [entry_as_finding(e) for e in ledger.entries]
                if members:
                    router.add_to_case(user_id, case, members, result)
                    router.take_from_ledger(user_id, {m["finding_id"] for m in members})
                router.risk.dequeue(user_id)
                return "joined" if members else "dropped"
            if crossing is None or ours is None:
                router.risk.dequeue(user_id)
                return "dropped"
            # Claim first, then the budget: a claim lost to a concurrent drain or detection costs no budget.
            router.cases.claim_user(user_id, ours, "threshold")
            if not router.risk.take_budget(day, cap):
                router.cases.release_user(user_id, ours)
                return "waiting"
            try:
                router.create_case(user_id, ours, "threshold", [], result, carry_from=crossing.window_start)
            except ConcurrentUpdate:
                router.risk.give_back_budget(day)
                raise
            router.risk.dequeue(user_id)
            return "opened"
        except ConcurrentUpdate:
            continue
    raise RuntimeError(f"could not settle the queued user {user_id} after {MAX_ATTEMPTS} attempts")


# ------------------------------------------------------------------------------ random review
def draw(candidates: list[str], k: int, seed: str, week: str) -> list[str]:
    """The same candidates, seed and week always draw the same users."""
    rng = random.Random(int(hashlib.sha256(f"{seed}\x1f{week}".encode()).hexdigest(), 16))
    pool = sorted(set(candidates))
    return sorted(rng.sample(pool, min(k, len(pool))))


def random_review(router: CaseRouter, *, week: str) -> dict[str, Any]:
    """Draw the week's users below the threshold and open a review case for each (once per week).

    The draw is recorded before the cases open and marked done after: a run that dies in between is
    finished by the next one (the same users; a user's review case is opened once, named after the week)."""
    start, end = nz_week_bounds(week)
    earlier = router.risk.draw(week)
    if earlier is not None and earlier.get("status", "done") == "done":
        return {"week": week, "drawn": earlier.get("users", []), "candidates": earlier.get("candidates", 0),
                "opened": 0, "already_drawn": True}
    if earlier is None:
        queued = {str(r["sk"]) for r in router.risk.queued()}
        open_users = {str(p["pk"]).removeprefix("USER#") for p in router.cases.open_pointers()}
        candidates = []
        for ledger in router.risk.ledgers():
            if ledger.user_id in queued or ledger.user_id in open_users:
                continue
            in_week = [e for e in ledger.entries if start <= datetime.fromisoformat(str(e["t"])) < end]
            if len(in_week) >= 2:
                candidates.append(ledger.user_id)
        seed = router.settings.case_random_seed
        picks = draw(candidates, router.settings.case_random_reviews, seed, week)
        earlier = router.risk.record_draw(week, picks, len(candidates), seed) or router.risk.draw(week) or {}
    picks = list(earlier.get("users") or [])
    result = RoutingResult()
    for user_id in picks:
        case_id = case_id_for(user_id, f"review:{week}")
        pointer = router.cases.open_pointer(user_id)
        try:
            if pointer is not None and str(pointer["case_id"]) == case_id:
                if router.cases.get(case_id) is None:  # claimed by a run that died before creating it
                    router.create_case(user_id, case_id, "random_review", [], result,
                                       carry_from=start - timedelta(microseconds=1))
                continue
            router.open_case(user_id, case_id, "random_review", [], result, carry_from=start - timedelta(microseconds=1))
        except ConcurrentUpdate:
            continue  # the user got a case meanwhile: the review is moot
    router.finish(result)
    router.risk.finish_draw(week)
    return {"week": week, "drawn": picks, "candidates": int(earlier.get("candidates", 0)),
            "opened": len(result.opened), "already_drawn": False}
