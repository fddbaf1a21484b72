"""Risk scores: how much a finding weighs, how a user's findings add up, and when a case opens.

Pure (no AWS). The numbers are configuration (``ScoringSettings``, from the detect and case-queue
functions' environment, template parameters ``Case*``); the defaults and why are in docs/cases.md.

A finding scores ``weight(rule) * min(product of its modifiers, modifier cap)``:

- the rule's weight in points (``DEFAULT_RULE_WEIGHTS``; scaled by the rule's precision once people
  have decided enough of its cases, ``precision_weights``);
- modifiers are facts about the access that detection records on the finding (``MODIFIERS``): an
  IRD number or date-of-birth screen, an export or print, outside working hours, a watchlisted
  client, an account on leave, terminated or outside its employment dates.

A set of findings (a user's over a rolling window, or a case's) combines with diminishing returns
(``combine``): per client, the k-th strongest finding adds ``s_k / k**1.5`` (looking again at one
client is weak new evidence); across clients, the j-th strongest client adds ``S_j / j**0.5``
(another client is nearly independent evidence, but a sweep of many does not grow linearly).
Every finding's contribution is kept, so a case's score can be shown broken down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from accesswatch.config import _FromEnv

# Points per finding of a rule, before modifiers. Immediate-tier rules open a case on their own; their
# weight only ranks cases. Accumulate-tier rules must add up past the threshold.
DEFAULT_RULE_WEIGHTS: dict[str, float] = {
    "SELF_RECORD": 10.0,
    "RELATIVE_RECORD": 8.0,
    "HOUSEHOLD_RECORD": 8.0,
    "DECLARED_ASSOCIATE": 8.0,
    "COLLEAGUE_RECORD": 6.0,
    "PUBLIC_FIGURE": 6.0,
    "SENSITIVE_LOOKUP": 1.0,
    # staging rules: recorded only; a weight for the day they go live
    "INACTIVE_ACCOUNT": 1.0,
    "OUT_OF_HOURS_SENSITIVE": 0.5,
    "UNASSIGNED_VOLUME": 0.5,
}
# A rule the table does not name (a new rule) weighs this much until configured.
FALLBACK_WEIGHT = 1.0

# Modifier -> multiplier. Detection decides which apply to a finding (accesswatch.detection).
MODIFIERS: dict[str, str] = {
    "ird_number_screen": "the IRD number screen was opened",
    "date_of_birth_screen": "the date-of-birth screen was opened",
    "bulk_action": "the record was exported or printed",
    "out_of_hours": "outside working hours (before 07:00, from 19:00 or at the weekend, NZ time)",
    "watchlist_client": "the client is on the public-figure watchlist",
    "inactive_account": "the account is on leave, terminated or outside its employment dates",
}
DEFAULT_MODIFIER_MULTIPLIERS: dict[str, float] = {
    "ird_number_screen": 1.5,
    "date_of_birth_screen": 1.25,
    "bulk_action": 1.5,
    "out_of_hours": 1.5,
    "watchlist_client": 2.0,
    "inactive_account": 2.0,
}

PER_CLIENT_DECAY = 1.5  # the k-th finding on one client adds s / k**1.5
ACROSS_CLIENT_DECAY = 0.5  # the j-th client adds S / j**0.5

# Precision -> weight: factor precision / PRIOR_PRECISION, kept within [MIN_FACTOR, MAX_FACTOR].
PRIOR_PRECISION = 0.5
MIN_FACTOR, MAX_FACTOR = 0.25, 2.0
DEMOTION_PRECISION = 0.10  # below this (with enough decisions) a rule is flagged for staging


def _pairs(value: object) -> object:
    """``"A=1.5, B=2"`` -> {"A": 1.5, "B": 2.0} (an empty string is no override)."""
    if isinstance(value, str):
        out: dict[str, float] = {}
        for part in value.split(","):
            if not part.strip():
                continue
            name, sep, number = part.partition("=")
            if not sep:
                raise ValueError(f"{part.strip()!r} is not NAME=NUMBER")
            out[name.strip()] = float(number)
        return out
    return value


class ScoringSettings(_FromEnv):
    """``CASE_THRESHOLD``, ``CASE_WINDOW_DAYS``, ``CASE_RULE_WEIGHTS`` (``RULE=points,...``, overrides),
    ``CASE_MODIFIERS`` (``name=multiplier,...``, overrides), ``CASE_MODIFIER_CAP``,
    ``CASE_DAILY_BUDGET``, ``CASE_RANDOM_REVIEWS``, ``CASE_RANDOM_SEED``, ``CASE_PRECISION_MIN_DECISIONS``."""

    case_threshold: float = Field(default=8.0, gt=0)
    case_window_days: int = Field(default=7, gt=0, le=90)
    case_rule_weights: dict[str, float] = Field(default_factory=dict)
    case_modifiers: dict[str, float] = Field(default_factory=dict)
    case_modifier_cap: float = Field(default=3.0, ge=1)
    case_daily_budget: int = Field(default=20, ge=0)
    case_random_reviews: int = Field(default=2, ge=0)
    case_random_seed: str = "accesswatch"
    case_precision_min_decisions: int = Field(default=20, ge=1)

    @field_validator("case_rule_weights", "case_modifiers", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return _pairs(value)

    @field_validator("case_rule_weights")
    @classmethod
    def _known_rules(cls, value: dict[str, float]) -> dict[str, float]:
        from accesswatch.rules import CATALOG

        known = {r.id for r in CATALOG}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"names rules the catalog does not have: {', '.join(unknown)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("weights must not be negative")
        return value

    @field_validator("case_modifiers")
    @classmethod
    def _known_modifiers(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(MODIFIERS))
        if unknown:
            raise ValueError(f"names modifiers that do not exist: {', '.join(unknown)} (known: {', '.join(MODIFIERS)})")
        if any(v < 1 for v in value.values()):
            raise ValueError("a multiplier is at least 1 (a modifier never lowers a score)")
        return value

    @model_validator(mode="after")
    def _one_finding_never_opens_a_case(self) -> Self:
        strongest = self.max_accumulate_finding_score
        if strongest >= self.case_threshold:
            raise ValueError(
                f"CASE_THRESHOLD {self.case_threshold:g} must exceed the highest score one accumulate-tier finding "
                f"can reach ({strongest:g} = weight x modifier cap x the largest precision factor {MAX_FACTOR:g}), "
                "so that one such finding alone never opens a case")
        return self

    # ---------------------------------------------------------------- derived
    @property
    def window(self) -> timedelta:
        return timedelta(days=self.case_window_days)

    @property
    def rule_weights(self) -> dict[str, float]:
        return {**DEFAULT_RULE_WEIGHTS, **self.case_rule_weights}

    @property
    def multipliers(self) -> dict[str, float]:
        return {**DEFAULT_MODIFIER_MULTIPLIERS, **self.case_modifiers}

    @property
    def max_accumulate_finding_score(self) -> float:
        from accesswatch.rules import TIER_OF

        weights = self.rule_weights
        accumulate = [weights.get(rule, FALLBACK_WEIGHT) for rule, tier in TIER_OF.items() if tier == "accumulate"]
        return max(accumulate, default=0.0) * self.case_modifier_cap * MAX_FACTOR


# ------------------------------------------------------------------------------ one finding
@dataclass(frozen=True)
class Scored:
    """One finding with its score (``weight * multiplier``)."""

    finding_id: str
    rule: str
    client_id: str
    occurred_at_utc: datetime
    weight: float
    multiplier: float
    modifiers: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        return self.weight * self.multiplier


def modifier_names(value: object) -> tuple[str, ...]:
    """Modifiers as a finding item holds them (comma-separated text, or a list)."""
    if isinstance(value, str):
        parts: Iterable[str] = value.split(",")
    elif isinstance(value, Iterable):
        parts = (str(v) for v in value)
    else:
        return ()
    return tuple(sorted({p.strip() for p in parts if p and p.strip()}))


def score_finding(finding: Mapping[str, Any], settings: ScoringSettings,
                  weights: Mapping[str, float] | None = None) -> Scored:
    """A finding item (rule, client_id, occurred_at_utc, modifiers) scored under the settings."""
    rule = str(finding["rule"])
    table = weights if weights is not None else settings.rule_weights
    multipliers = settings.multipliers
    names = modifier_names(finding.get("modifiers"))
    product = 1.0
    for name in names:
        product *= multipliers.get(name, 1.0)
    at = finding["occurred_at_utc"]
    return Scored(
        finding_id=str(finding["finding_id"]), rule=rule, client_id=str(finding.get("client_id") or ""),
        occurred_at_utc=at if isinstance(at, datetime) else datetime.fromisoformat(str(at)),
        weight=float(table.get(rule, FALLBACK_WEIGHT)), multiplier=min(product, settings.case_modifier_cap),
        modifiers=names,
    )


# ------------------------------------------------------------------------------ many findings
@dataclass(frozen=True)
class Contribution:
    finding_id: str
    rule: str
    client_id: str
    score: float  # the finding's own score
    repeat: int  # 1 for the strongest finding on its client, 2 for the next, ...
    client_rank: int  # 1 for the client that adds most, ...
    points: float  # what it adds to the total: score / repeat**1.5 / client_rank**0.5

    def as_dict(self) -> dict[str, Any]:
        return {"finding_id": self.finding_id, "rule": self.rule, "client_id": self.client_id,
                "score": round(self.score, 4), "repeat": self.repeat, "client_rank": self.client_rank,
                "points": round(self.points, 4)}


@dataclass(frozen=True)
class Breakdown:
    total: float
    contributions: tuple[Contribution, ...]  # strongest first

    @property
    def clients(self) -> int:
        return len({c.client_id for c in self.contributions})

    def by_rule(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for c in self.contributions:
            out[c.rule] += c.points
        return {rule: round(points, 4) for rule, points in sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))}


def combine(findings: Iterable[Scored]) -> Breakdown:
    """The diminishing-returns total of a set of findings, with each finding's contribution.

    Deterministic: ties are broken by finding id and client id, so the same findings in any order give
    the same breakdown."""
    per_client: dict[str, list[Scored]] = defaultdict(list)
    seen: set[str] = set()
    for f in findings:
        if f.finding_id in seen:
            continue
        seen.add(f.finding_id)
        per_client[f.client_id].append(f)
    client_totals: list[tuple[float, str, list[tuple[Scored, int, float]]]] = []
    for client_id, items in per_client.items():
        items.sort(key=lambda f: (-f.score, f.finding_id))
        parts = [(f, k, f.score / k ** PER_CLIENT_DECAY) for k, f in enumerate(items, start=1)]
        client_totals.append((sum(p for _, _, p in parts), client_id, parts))
    client_totals.sort(key=lambda t: (-t[0], t[1]))
    contributions: list[Contribution] = []
    total = 0.0
    for j, (_sub, client_id, parts) in enumerate(client_totals, start=1):
        factor = 1 / j ** ACROSS_CLIENT_DECAY
        for f, k, p in parts:
            points = p * factor
            total += points
            contributions.append(Contribution(f.finding_id, f.rule, client_id, f.score, k, j, points))
    contributions.sort(key=lambda c: (-c.points, c.finding_id))
    return Breakdown(total, tuple(contributions))


@dataclass(frozen=True)
class Crossing:
    """The window in which a user's score crossed the threshold (or came closest)."""

    score: float
    window_start: datetime
    window_end: datetime
    finding_ids: tuple[str, ...]

    @property
    def findings(self) -> int:
        return len(self.finding_ids)


def strongest_window(entries: Sequence[Scored], window: timedelta, *,
                     ends_from: datetime | None = None) -> Crossing | None:
    """The rolling window (``window`` long, ending at one of the findings) with the highest score.

    Event time, not processing time: a backfill of old logs scores as the days were lived. A window is
    (end - window, end]; ties keep the earliest window. Only windows ending at or after ``ends_from``
    are considered when it is given (the windows a newly added finding can change).

    Adding a finding never lowers a total (each further finding of a client or further client weighs no
    more than the one before it), so only the maximal windows are scored: a window whose successor
    starts at the same finding is contained in it."""
    ordered = sorted(entries, key=lambda e: (e.occurred_at_utc, e.finding_id))
    n = len(ordered)
    stops: list[tuple[int, int]] = []  # (start, stop) of each window, ending at a distinct instant
    start = 0
    end = 0
    while end < n:
        stop = end + 1
        while stop < n and ordered[stop].occurred_at_utc == ordered[end].occurred_at_utc:
            stop += 1
        last = ordered[stop - 1].occurred_at_utc
        while ordered[start].occurred_at_utc <= last - window:
            start += 1
        stops.append((start, stop))
        end = stop
    best: Crossing | None = None
    for k, (first, stop) in enumerate(stops):
        end_at = ordered[stop - 1].occurred_at_utc
        if ends_from is not None and end_at < ends_from:
            continue
        if k + 1 < len(stops) and stops[k + 1][0] == first:
            continue  # contained in the next window, which scores at least as much
        members = ordered[first:stop]
        score = combine(members).total
        if best is None or score > best.score + 1e-9:
            best = Crossing(score, end_at - window, end_at, tuple(m.finding_id for m in members))
    return best


def crosses(entries: Sequence[Scored], settings: ScoringSettings) -> Crossing | None:
    """The window that crosses the threshold, or None. Never a lone finding (the settings forbid it)."""
    best = strongest_window(entries, settings.window)
    if best is None or best.score < settings.case_threshold or best.findings < 2:
        return None
    return best


# ------------------------------------------------------------------------------ precision -> weights
def precision_factor(founded: int, unfounded: int, min_decisions: int) -> float:
    """How a rule's precision scales its weight: 1 until ``min_decisions`` decisions, then
    precision / 0.5 within [0.25, 2]."""
    decided = founded + unfounded
    if decided < min_decisions:
        return 1.0
    return max(MIN_FACTOR, min(MAX_FACTOR, (founded / decided) / PRIOR_PRECISION))


def precision_weights(settings: ScoringSettings, stats: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """The rule weights in force: configured weights scaled by each rule's decided precision.

    ``stats``: rule -> (founded, unfounded) from per-rule decisions."""
    weights = settings.rule_weights
    out = dict(weights)
    for rule, (founded, unfounded) in stats.items():
        out[rule] = weights.get(rule, FALLBACK_WEIGHT) * precision_factor(
            founded, unfounded, settings.case_precision_min_decisions)
    return out


def flagged_for_demotion(founded: int, unfounded: int, min_decisions: int) -> bool:
    decided = founded + unfounded
    return decided >= min_decisions and founded / decided < DEMOTION_PRECISION


# ------------------------------------------------------------------------------ priority
def priority(tier: str, breakdown: Breakdown, threshold: float, trigger: str = "") -> str:
    """critical / high / medium / low from the case's tier, rules and score."""
    if trigger == "random_review":
        return "low"
    from accesswatch.rules import TIER_OF

    immediate_rules = {c.rule for c in breakdown.contributions if TIER_OF.get(c.rule) == "immediate"}
    if tier == "immediate":
        return "critical" if len(immediate_rules) >= 2 or breakdown.total >= 3 * threshold else "high"
    return "high" if breakdown.total >= 2 * threshold else "medium"
