"""The week's digest, as ``accesswatch digest`` prints it: per team manager, the users below the case
threshold with their accumulate-tier counts by rule, and the suppressed and staging-rule counts. Ids, team
names and counts only (the digest reads no name, address or date of birth).

A published week is read from its file (``digests/week=YYYY-Www/digest.json``, what the managers were
sent); any other week is computed with the layer code the CLI and the digest function use
(``accesswatch.services.digest.produce``). The page says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.cases.digest import UNASSIGNED_REASONS, Week
from accesswatch.console.roles import Permission
from accesswatch.console.sources import ConsoleSources
from accesswatch.console.web import BadRequest, allowed, audit, page, query, sources
from accesswatch.quarters import nz_week, previous_nz_week

router = Router()
PUBLISHED = "published"
TOTALS = ("accumulate_below_threshold", "users_below_threshold", "accumulate_in_cases", "users_awaiting_case",
          "accumulate_awaiting_case", "immediate", "suppressed", "staging")
FIRST_YEAR = 2000  # no log is older (the Glue table's partition projection starts here too)
COMPUTED = "computed"


def asked_week(text: str, now: datetime) -> Week:
    """The week asked for (``YYYY-Www``; none: the last complete New Zealand week); BadRequest, saying the
    expected form, for anything else or a week that has not started."""
    try:
        week = Week.of(text or previous_nz_week(now))
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"week: {exc}") from None
    if week.first_day.year < FIRST_YEAR:
        raise BadRequest(f"week {week.id}: the digest covers weeks from {FIRST_YEAR} on")
    if week.first_day.year > now.year + 1 or not week.started_at(now):
        raise BadRequest(f"week {week.id} ({week.label}) has not started yet")
    return week


def neighbours(week: Week, now: datetime) -> tuple[str, str | None]:
    """The previous week's id, and the next one's (None when it has not started)."""
    previous = nz_week(week.first_day - timedelta(days=7))
    following = Week.of(nz_week(week.first_day + timedelta(days=7)))
    return previous, following.id if following.started_at(now) else None


def _rule_counts(counts: Mapping[str, Any]) -> list[tuple[str, int]]:
    return [(str(rule), int(n)) for rule, n in counts.items()]


def digest_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the page shows of a digest (``Digest.as_dict()`` or the published file): the CLI's lines as
    values for the template."""
    # A digest published by an earlier version may lack a later count: shown as 0, never a 500.
    totals = {**dict.fromkeys(TOTALS, 0), **(data.get("totals") or {})}
    summary = [f"{totals['accumulate_below_threshold']} accumulate-tier below the threshold "
               f"({totals['users_below_threshold']} user(s))",
               f"{totals['accumulate_in_cases']} accumulate-tier in cases"]
    if totals.get("users_awaiting_case"):
        summary.append(f"{totals['accumulate_awaiting_case']} accumulate-tier of {totals['users_awaiting_case']} "
                       "user(s) whose case waits in the queue (not listed)")
    summary += [f"{totals['immediate']} immediate-tier", f"{totals['suppressed']} suppressed",
                f"{totals['staging']} staging"]
    groups = []
    for group in data.get("groups") or []:
        t = group["totals"]
        unassigned = group.get("manager_user_id") is None
        groups.append({
            "key": str(group["group"]),
            "manager_user_id": group.get("manager_user_id"),
            "unassigned": unassigned,
            "teams": list(group.get("teams") or []),
            "users_below_threshold": int(t["users_below_threshold"]),
            "users": [{"user_id": u["user_id"], "team": u.get("team") or "", "findings": int(u["findings"]),
                       "clients": int(u["clients"]), "by_rule": _rule_counts(u.get("by_rule") or {}),
                       "why": UNASSIGNED_REASONS.get(str(u.get("unassigned_reason") or ""), "") if unassigned else ""}
                      for u in group.get("users") or []],
            "suppressed": int(t["suppressed"]), "suppressed_by_rule": _rule_counts(t.get("suppressed_by_rule") or {}),
            "staging": int(t["staging"]), "staging_by_rule": _rule_counts(t.get("staging_by_rule") or {}),
        })
    return {
        "complete": bool(data.get("complete")),
        "team_source": str(data.get("team_source") or "none"),
        "snapshot_id": data.get("reference_snapshot_id") or "",
        "findings": int(totals["findings"]),
        "summary": summary,
        "empty": bool(data.get("empty")),
        "groups": groups,
        "published_at": data.get("published_at") or "",
        "generated_at": data.get("generated_at") or "",
        "messages": len(data.get("messages") or []),
    }


def digest_sources(src: ConsoleSources) -> Any:
    """The digest's sources from the console's settings (as ``operate.digest.digest_sources`` from a deployment)."""
    from accesswatch.dal.digests import DigestFindings
    from accesswatch.dal.risk import RiskStore
    from accesswatch.services.digest import DigestSources

    settings = src.settings
    return DigestSources(findings=DigestFindings(settings.findings_table, src.dynamodb), ledger=src.ledger,
                         risk=RiskStore(src.cases), store=src.store, curated_bucket=settings.curated_bucket)


def week_digest(src: ConsoleSources, week: Week, now: datetime) -> tuple[str, dict[str, Any]]:
    """(PUBLISHED, the file) when the week's digest was published, else (COMPUTED, the digest now)."""
    from accesswatch.dal.digests import digest_key
    from accesswatch.services.digest import DigestError, produce

    digests = digest_sources(src)
    key = digest_key(week.id)
    if digests.store.exists(digests.curated_bucket, key):
        return PUBLISHED, dict(digests.store.get_json(digests.curated_bucket, key))
    try:
        return COMPUTED, produce(digests, week, now=now).as_dict()
    except DigestError as exc:
        raise BadRequest(str(exc)) from None


@router.get("/digest")
def digest() -> Response:
    allowed(router, Permission.DIGEST)
    now = datetime.now(UTC)
    week = asked_week(query(router, "week"), now)
    origin, data = week_digest(sources(router), week, now)
    view = digest_view(data)
    audit(router, "console_page",
          subject={"page": "digest", "week": week.id,
                   "user_ids": sorted({u["user_id"] for g in view["groups"] for u in g["users"]})},
          result={"origin": origin, "groups": len(view["groups"]), "findings": view["findings"]})
    previous, following = neighbours(week, now)
    return page(router, "digest.html", title=f"Weekly digest {week.id}", active="/digest", week=week,
                origin=origin, digest=view, previous=previous, following=following)
