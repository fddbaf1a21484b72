"""The weekly digest: what stayed below the case threshold, per team manager. Pure (no AWS).

Data contract v2 ("Cases"): an accumulate-tier finding below the threshold "reaches people through the
periodic digest, not as a case". Each Monday the digest of the ISO week that just ended (New Zealand
time) lists, for each team manager:

- the **users below the threshold**: users with accumulate-tier findings of the week that are in no case
  and were not suppressed by an exception, with their counts by rule and the number of distinct clients;
  a user whose score already crossed the threshold and whose case waits in the queue (the daily budget)
  is not below the threshold: such users are left out of the teams and only counted (``awaiting_case``);
- the team's **suppressed** findings of the week (an exception matched them) by rule;
- the team's **staging-rule** findings (record tier: recorded and counted, never in a case) by rule.

Teams are grouped by ``manager_user_id`` from the current reference data. Users the reference data gives
no manager (not in the staff snapshot, no manager, their own manager, or no team data at all) go to the
``unassigned`` group, each with the reason.

Ids, team names and counts only: never a name, an address, a date of birth or an IRD number (the digest
reads none; ``tests/e2e/test_pii.py`` scans the messages and the file).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from accesswatch.quarters import NZ, nz_date, nz_week, nz_week_bounds

UNASSIGNED: Final = "unassigned"
WEEK_PATTERN: Final = re.compile(r"\d{4}-W\d{2}")
DIGEST_EVENT: Final = "weekly_digest"
# Why a user is in the unassigned group (code -> what the digest says).
UNASSIGNED_REASONS: Final[dict[str, str]] = {
    "no_team_data": "no reference data with teams and managers has been loaded",
    "not_in_reference": "not in the staff reference data",
    "no_manager": "the staff reference data gives no manager",
    "own_manager": "the staff reference data names the user as their own manager",
}
UNASSIGNED_NOTE: Final = ("users whom the reference data gives no team manager (each with its unassigned_reason); "
                           "this group goes to the integrity unit")
# SNS takes messages up to 256 KiB; leave room for the attributes and the envelope.
MAX_MESSAGE_BYTES: Final = 200_000


# ------------------------------------------------------------------------------ weeks
@dataclass(frozen=True)
class Week:
    """An ISO week in New Zealand time: ``id`` (``YYYY-Www``), [start, stop) as aware instants."""

    id: str
    start: datetime
    stop: datetime

    @classmethod
    def of(cls, week: str) -> Week:
        """ValueError (one line, says the form) for anything but a real ISO week (``2025-W14``)."""
        text = week.strip().upper()
        if not WEEK_PATTERN.fullmatch(text):
            raise ValueError(f"{week!r} is not an ISO week (YYYY-Www, e.g. 2025-W14)")
        start, stop = nz_week_bounds(text)
        return cls(nz_week(nz_date(start)), start, stop)

    @property
    def first_day(self) -> date:
        return nz_date(self.start)

    @property
    def last_day(self) -> date:
        return nz_date(self.stop) - timedelta(days=1)

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(7)]

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.stop

    def complete_at(self, now: datetime) -> bool:
        return now >= self.stop

    def started_at(self, now: datetime) -> bool:
        return now >= self.start

    @property
    def label(self) -> str:
        first, last = self.first_day, self.last_day
        return f"{first:%A} {first.day} {first:%B %Y} to {last:%A} {last.day} {last:%B %Y}"


# ------------------------------------------------------------------------------ teams
@dataclass(frozen=True)
class Placement:
    """Where the staff reference data puts a user (ids and a team name only)."""

    team: str | None
    manager_user_id: str | None


@dataclass(frozen=True)
class TeamDirectory:
    """user_id -> placement, from the current reference data; ``source`` says where it came from
    (``reference_index``, ``staff_snapshot`` or ``none``)."""

    placements: Mapping[str, Placement]
    source: str = "none"
    snapshot_id: str | None = None

    def group_of(self, user_id: str) -> tuple[str | None, str | None]:
        """(manager_user_id, None) or (None, unassigned reason code)."""
        if self.source == "none":
            return None, "no_team_data"
        placement = self.placements.get(user_id)
        if placement is None:
            return None, "not_in_reference"
        manager = (placement.manager_user_id or "").strip()
        if not manager:
            return None, "no_manager"
        if manager == user_id:
            return None, "own_manager"
        return manager, None

    def team_of(self, user_id: str) -> str | None:
        placement = self.placements.get(user_id)
        return placement.team if placement else None


def directory_from_rows(rows: Iterable[Mapping[str, Any]], *, source: str,
                        snapshot_id: str | None = None) -> TeamDirectory:
    """Rows with ``user_id``, ``team``, ``manager_user_id`` (first row of a user wins, as in the index)."""
    placements: dict[str, Placement] = {}
    for row in rows:
        user_id = str(row.get("user_id") or "").strip()
        if not user_id or user_id in placements:
            continue
        team = str(row.get("team") or "").strip() or None
        manager = str(row.get("manager_user_id") or "").strip() or None
        placements[user_id] = Placement(team, manager)
    return TeamDirectory(placements, source, snapshot_id)


# ------------------------------------------------------------------------------ the digest
@dataclass
class UserLine:
    """One user below the threshold: counts of their accumulate-tier findings of the week in no case."""

    user_id: str
    team: str | None
    by_rule: Counter[str] = field(default_factory=Counter)
    clients: set[str] = field(default_factory=set)
    unassigned_reason: str | None = None

    @property
    def findings(self) -> int:
        return sum(self.by_rule.values())

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user_id": self.user_id, "team": self.team, "findings": self.findings,
                               "clients": len(self.clients), "by_rule": _sorted_counts(self.by_rule)}
        if self.unassigned_reason is not None:
            out["unassigned_reason"] = self.unassigned_reason
        return out


@dataclass
class Group:
    """A manager's team(s), or the unassigned group (``manager_user_id`` None)."""

    manager_user_id: str | None
    users: dict[str, UserLine] = field(default_factory=dict)
    suppressed: Counter[str] = field(default_factory=Counter)
    staging: Counter[str] = field(default_factory=Counter)
    teams: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return self.manager_user_id if self.manager_user_id is not None else UNASSIGNED

    @property
    def unassigned(self) -> bool:
        return self.manager_user_id is None

    def ranked_users(self) -> list[UserLine]:
        return sorted(self.users.values(), key=lambda u: (-u.findings, -len(u.clients), u.user_id))

    def accumulate_by_rule(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for user in self.users.values():
            total.update(user.by_rule)
        return total

    def totals(self) -> dict[str, Any]:
        accumulate = self.accumulate_by_rule()
        return {
            "users_below_threshold": len(self.users),
            "accumulate_findings": sum(accumulate.values()),
            "accumulate_by_rule": _sorted_counts(accumulate),
            "suppressed": sum(self.suppressed.values()),
            "suppressed_by_rule": _sorted_counts(self.suppressed),
            "staging": sum(self.staging.values()),
            "staging_by_rule": _sorted_counts(self.staging),
        }

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.key, "manager_user_id": self.manager_user_id,
                               "teams": sorted(self.teams)}
        if self.unassigned:
            reasons = Counter(u.unassigned_reason for u in self.users.values() if u.unassigned_reason)
            out["note"] = UNASSIGNED_NOTE
            out["unassigned_reasons"] = _sorted_counts(reasons)
        out["totals"] = self.totals()
        out["users"] = [u.as_dict() for u in self.ranked_users()]
        return out


@dataclass
class Digest:
    week: Week
    generated_at: datetime
    groups: list[Group]
    team_source: str
    snapshot_id: str | None
    counts: dict[str, int]

    @property
    def complete(self) -> bool:
        return self.week.complete_at(self.generated_at)

    @property
    def empty(self) -> bool:
        """Nothing for anyone: no user below the threshold, nothing suppressed or staged."""
        return not self.groups

    def group(self, key: str) -> Group | None:
        return next((g for g in self.groups if g.key == key), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": DIGEST_EVENT,
            "week": self.week.id,
            "starts_at": self.week.start.astimezone(NZ).isoformat(),
            "ends_at": self.week.stop.astimezone(NZ).isoformat(),
            "complete": self.complete,
            "generated_at": self.generated_at.isoformat(),
            "team_source": self.team_source,
            "reference_snapshot_id": self.snapshot_id,
            "empty": self.empty,
            "totals": {**self.counts, "groups": len(self.groups),
                       "managers": sum(1 for g in self.groups if not g.unassigned),
                       "users_below_threshold": sum(len(g.users) for g in self.groups)},
            "unassigned_reasons": dict(UNASSIGNED_REASONS),
            "groups": [g.as_dict() for g in self.groups],
        }


def _sorted_counts(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if v}


def finding_tier(finding: Mapping[str, Any]) -> str:
    """The tier the finding was routed by (stored since contract v2); derived for older items."""
    from accesswatch.rules import tier_of

    stored = str(finding.get("tier") or "")
    if stored:
        return stored
    if str(finding.get("rule_status") or "live") != "live":
        return "record"
    return tier_of(str(finding["rule"]))


def _in_week(finding: Mapping[str, Any], week: Week, days: set[str]) -> bool:
    day = finding.get("nz_date")
    if day:
        return str(day) in days
    at = datetime.fromisoformat(str(finding["occurred_at_utc"]).replace("Z", "+00:00"))
    return week.contains(at)


def build_digest(week: Week, findings: Iterable[Mapping[str, Any]], directory: TeamDirectory, *,
                 generated_at: datetime, awaiting_case: Iterable[str] = ()) -> Digest:
    """The digest of ``week`` from the findings of the week (any tier; others are ignored).

    ``awaiting_case``: users queued for an accumulate-tier case (over the threshold, waiting for the daily
    budget): not below the threshold, so not listed; counted."""
    days = {d.isoformat() for d in week.days()}
    queued = set(awaiting_case)
    groups: dict[str, Group] = {}
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    waiting: set[str] = set()

    def group_for(user_id: str) -> tuple[Group, str | None]:
        manager, reason = directory.group_of(user_id)
        key = manager if manager is not None else UNASSIGNED
        if key not in groups:
            groups[key] = Group(manager)
        team = directory.team_of(user_id)
        if team:
            groups[key].teams.add(team)
        return groups[key], reason

    for finding in findings:
        finding_id = str(finding["finding_id"])
        if finding_id in seen or not _in_week(finding, week, days):
            continue
        seen.add(finding_id)
        counts["findings"] += 1
        rule, user_id = str(finding["rule"]), str(finding["user_id"])
        tier = finding_tier(finding)
        if tier == "record":
            counts["staging"] += 1
            group_for(user_id)[0].staging[rule] += 1
            continue
        if finding.get("suppressed_by"):
            counts["suppressed"] += 1
            group_for(user_id)[0].suppressed[rule] += 1
            continue
        if tier != "accumulate":
            counts["immediate"] += 1
            continue
        counts["accumulate"] += 1
        if finding.get("case_id"):
            counts["accumulate_in_cases"] += 1
            continue
        if user_id in queued:
            counts["accumulate_awaiting_case"] += 1
            waiting.add(user_id)
            continue
        counts["accumulate_below_threshold"] += 1
        group, reason = group_for(user_id)
        line = group.users.get(user_id)
        if line is None:
            line = group.users[user_id] = UserLine(user_id, directory.team_of(user_id), unassigned_reason=reason)
        line.by_rule[rule] += 1
        line.clients.add(str(finding.get("client_id") or ""))
    for key in ("findings", "immediate", "accumulate", "accumulate_in_cases", "accumulate_awaiting_case",
                "accumulate_below_threshold", "suppressed", "staging"):
        counts.setdefault(key, 0)
    counts["users_awaiting_case"] = len(waiting)
    ordered = sorted((g for g in groups.values() if g.users or g.suppressed or g.staging),
                     key=lambda g: (g.unassigned, g.key))
    return Digest(week, generated_at, ordered, directory.source, directory.snapshot_id, dict(counts))


# ------------------------------------------------------------------------------ messages
@dataclass(frozen=True)
class DigestMessage:
    """One SNS message: to a manager (``manager_user_id``), or the unassigned group's (for the integrity unit)."""

    group: str
    subject: str
    body: str
    attributes: dict[str, str]


def group_message(digest: Digest, group: Group, file_key: str | None,
                  max_bytes: int = MAX_MESSAGE_BYTES) -> DigestMessage:
    """The group's message (JSON): ids, team names and counts. A group too large for one message lists its
    strongest users and says how many more the file holds."""
    users = [u.as_dict() for u in group.ranked_users()]
    body: dict[str, Any] = {
        "event": DIGEST_EVENT,
        "week": digest.week.id,
        "complete": digest.complete,
        "group": group.key,
        "manager_user_id": group.manager_user_id,
        "teams": sorted(group.teams),
        **group.totals(),
        "users_shown": len(users),
        "users": users,
        "file": file_key,
    }
    if group.unassigned:
        body["note"] = UNASSIGNED_NOTE
    text = json.dumps(body, ensure_ascii=False, sort_keys=False)
    shown = len(users)
    while len(text.encode("utf-8")) > max_bytes and shown > 0:
        shown = shown // 2 if shown > 1 else 0
        body["users"] = users[:shown]
        body["users_shown"] = shown
        body["more_users_in_file"] = len(users) - shown
        text = json.dumps(body, ensure_ascii=False, sort_keys=False)
    attributes = {"event": DIGEST_EVENT, "week": digest.week.id, "group": group.key,
                  "manager_user_id": group.manager_user_id or UNASSIGNED}
    return DigestMessage(group.key, f"accesswatch weekly digest {digest.week.id}", text, attributes)


def digest_messages(digest: Digest, file_key: str | None) -> list[DigestMessage]:
    """One message per manager with anything to report, and one for the unassigned group if it has any."""
    return [group_message(digest, g, file_key) for g in digest.groups]
