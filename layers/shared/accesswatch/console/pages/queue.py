"""The queue: cases ranked by priority and score (open first), with filters, overdue decisions highlighted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.cases.service import PRIORITY_RANK, STATUS_GROUPS, TIERS, CaseFilter, FilterError, rank_key
from accesswatch.cases.workflow import INVESTIGATING, STATUSES
from accesswatch.console.pages.case import staff_directory, teams_of
from accesswatch.console.roles import Permission
from accesswatch.console.web import BadRequest, allowed, audit, page, query, sources
from accesswatch.rules import CATALOG

router = Router()
AGES = {"": None, "1": 1, "7": 7, "30": 30}  # opened within the last N days
DUE = ("", "overdue", "3")  # any, decision overdue, due within 3 days
MAX_SHOWN = 500
ANY = "any"  # the status filter's "any status" (no parameter at all means the open cases)


def _when(text: object) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def queue_rows(cases: list[dict[str, Any]], *, now: datetime, age: str, due: str, team: str = "",
               staff: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """The cases as queue rows (ranked), each with ``overdue`` and the staff member's ``team`` (from ``staff``,
    user_id -> role and team); ``age``, ``due`` and ``team`` filtered here."""
    rows = []
    staff = staff or {}
    for case in sorted(cases, key=rank_key):
        member_team = (staff.get(str(case.get("user_id") or "")) or {}).get("team", "")
        if team and member_team != team:
            continue
        opened = _when(case.get("opened_at"))
        due_at = _when(case.get("decision_due_at"))
        waiting = case.get("status") == INVESTIGATING
        overdue = bool(waiting and due_at and due_at < now)
        if AGES.get(age) and (opened is None or opened < now - timedelta(days=AGES[age] or 0)):
            continue
        if due == "overdue" and not overdue:
            continue
        if due == "3" and not (waiting and due_at and due_at < now + timedelta(days=3)):
            continue
        rows.append({**case, "overdue": overdue, "team": member_team, "priority": case.get("priority") or "",
                     "tier": case.get("tier") or "", "decision_due_at": case.get("decision_due_at") or "",
                     "opened_at": case.get("opened_at") or "", "score": case.get("score") or 0, "rules": sorted(case.get("rules") or []),
                     "clients": len(case.get("client_ids") or []),
                     "findings": len(case.get("finding_ids") or [])})
    return rows


@router.get("/queue")
def queue() -> Response:
    allowed(router, Permission.QUEUE)
    status = query(router, "status", "open")
    rule = query(router, "rule")
    tier = query(router, "tier")
    priority = query(router, "priority")
    age = query(router, "age")
    due = query(router, "due")
    team = query(router, "team")
    if age not in AGES or due not in DUE:
        raise BadRequest("unknown age or due filter")
    staff = staff_directory(sources(router))
    teams = teams_of(staff)
    if team and team not in teams:
        raise BadRequest("unknown team: choose one of the list")
    try:
        where = CaseFilter(status=None if status in ("", ANY) else status, rule=rule or None, tier=tier or None, priority=priority or None)
    except FilterError as exc:
        raise BadRequest(str(exc)) from None
    rows = queue_rows(sources(router).case_service.find(where), now=datetime.now(UTC), age=age, due=due, team=team,
                      staff=staff)
    shown = rows[:MAX_SHOWN]
    audit(router, "console_queue", subject={"status": status, "rule": rule, "tier": tier, "priority": priority,
                                            "age": age, "due": due, "team": team,
                                            "case_ids": [r["case_id"] for r in shown]},
          result={"cases": len(rows)})
    filters = {"status": status, "rule": rule, "tier": tier, "priority": priority, "age": age, "due": due,
               "team": team}
    return page(router, "queue.html", title="Queue", active="/queue", rows=shown, total=len(rows),
                filters=filters, teams=teams, rule_ids=[r.id for r in CATALOG if r.tier() != "record"], statuses=[*STATUS_GROUPS, *STATUSES], tiers=TIERS, priorities=list(PRIORITY_RANK),
                ages=[("", "any age"), ("1", "opened today"), ("7", "last 7 days"), ("30", "last 30 days")],
                dues=[("", "any"), ("overdue", "decision overdue"), ("3", "due within 3 days")],
                overdue=sum(1 for r in rows if r["overdue"]))
