"""Exceptions: scopes (user, client and/or rule) whose accumulate-tier findings are recorded but not routed,
until an expiry date. Every exception is listed (active first, then expired, then revoked); investigators add
and revoke them with the checks of ``accesswatch exceptions add|revoke`` (the layer's
``create_exception``/``revoke_exception``, and the typed ids checked against the current reference data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.cases import MAX_NOTE_CHARS
from accesswatch.cases.exceptions import ExceptionError, create_exception, revoke_exception, state
from accesswatch.console.roles import Permission
from accesswatch.console.web import allowed, audit, field, form, page, query, redirect, sources
from accesswatch.dal.ledger import now_iso
from accesswatch.quarters import nz_today
from accesswatch.rules import TIER_OF

router = Router()
STATES = ("active", "expired", "revoked")
EXCEPTION_ID = re.compile(r"^EXC-[0-9A-F]{12}$")
ADD_FIELDS = ("user_id", "client_id", "rule", "expires_on", "reason", "case_id")
MAX_REASON = MAX_NOTE_CHARS  # as a case note: the exception keeps at most this much
# What the list shows of an exception (absent ones blank: an exception has only the scope it was given).
SHOWN = ("rule", "user_id", "client_id", "case_id", "reason", "created_at", "created_by", "revoked_at", "revoked_by",
         "revoke_note")


def exception_rows(exceptions: Iterable[Mapping[str, Any]], today: date) -> list[dict[str, Any]]:
    """Every exception with its state on ``today``: active first (soonest expiry first), then expired, then
    revoked (most recent first)."""
    rows = [{**dict.fromkeys(SHOWN, ""), "suppressed": 0, **e, "state": state(e, today)} for e in exceptions]
    active = sorted((r for r in rows if r["state"] == "active"),
                    key=lambda r: (str(r["expires_on"]), str(r["exception_id"])))
    ended = sorted((r for r in rows if r["state"] != "active"),
                   key=lambda r: str(r.get("revoked_at") or r["expires_on"]), reverse=True)
    ended.sort(key=lambda r: STATES.index(r["state"]))
    return active + ended


def accumulate_rules() -> list[str]:
    return sorted(rule for rule, tier in TIER_OF.items() if tier == "accumulate")


def _identifier(what: str, text: str) -> str | None:
    """An id compared as text: one word (ExceptionError otherwise), or None when blank."""
    if not text:
        return None
    if any(c.isspace() for c in text) or len(text) > 128:
        raise ExceptionError(f"{what} {text!r}: an id is one word, e.g. u112017 or 010693250")
    return text


def _render(status: int = 200, *, error: str = "", values: Mapping[str, str] | None = None,
            revoke_error: tuple[str, str] | None = None) -> Response:
    who = allowed(router, Permission.EXCEPTIONS)
    today = nz_today()
    rows = exception_rows(sources(router).exceptions.all(), today)
    audit(router, "console_page",
          subject={"page": "exceptions", "exception_ids": [r["exception_id"] for r in rows],
                   "user_ids": sorted({str(r["user_id"]) for r in rows if r.get("user_id")}),
                   "client_ids": sorted({str(r["client_id"]) for r in rows if r.get("client_id")})},
          result={"exceptions": len(rows), "active": sum(1 for r in rows if r["state"] == "active")})
    made, revoked = query(router, "made"), query(router, "revoked")
    return page(router, "exceptions.html", title="Exceptions", active="/exceptions", status=status, rows=rows,
                today=today, may_manage=who.may(Permission.EXCEPTIONS_MANAGE), rules=accumulate_rules(),
                error=error, values={name: (values or {}).get(name, "") for name in ADD_FIELDS},
                revoke_error=revoke_error or ("", ""),
                made=made if EXCEPTION_ID.match(made) else "", revoked=revoked if EXCEPTION_ID.match(revoked) else "")


@router.get("/exceptions")
def exceptions() -> Response:
    allowed(router, Permission.EXCEPTIONS)
    return _render()


def _checked_ids(user_id: str | None, client_id: str | None) -> None:
    """A typed user or client id must be in the current reference data (an exception for a mistyped id
    suppresses nothing): ExceptionError naming it and the ids it may have meant."""
    from accesswatch.services.reference_ids import UnknownReferenceId, check_reference_ids

    if user_id is None and client_id is None:
        return
    src = sources(router)
    try:
        check_reference_ids(src.ledger, src.store, src.settings.curated_bucket, user=user_id, client=client_id)
    except UnknownReferenceId as exc:
        raise ExceptionError(str(exc)) from None


@router.post("/exceptions")
def add() -> Response:
    who = allowed(router, Permission.EXCEPTIONS_MANAGE)
    submitted = form(router)
    values = {name: field(submitted, name) for name in ADD_FIELDS}
    try:
        user_id = _identifier("user", values["user_id"])
        client_id = _identifier("client", values["client_id"])
        case_id = _identifier("case", values["case_id"])
        rule = values["rule"].upper() or None
        if len(values["reason"]) > MAX_REASON:
            raise ExceptionError(f"the reason is longer than {MAX_REASON} characters")
        if not (user_id or client_id or rule):
            raise ExceptionError("an exception needs a scope: a user, a client and/or a rule")
        _checked_ids(user_id, client_id)
        item = create_exception(sources(router).exceptions, today=nz_today(), created_at=now_iso(),
                                user_id=user_id, client_id=client_id, rule=rule, expires_on=values["expires_on"],
                                reason=values["reason"], actor=who.actor_name, case_id=case_id)
    except ExceptionError as exc:
        return _render(400, error=_console_words(str(exc)), values=values)
    return redirect(f"/exceptions?made={item['exception_id']}#exception-{item['exception_id']}")


@router.post("/exceptions/<exception_id>/revoke")
def revoke(exception_id: str) -> Response:
    who = allowed(router, Permission.EXCEPTIONS_MANAGE)
    note = field(form(router), "reason")
    try:
        if not EXCEPTION_ID.match(exception_id):
            raise ExceptionError(f"no exception {exception_id}")
        if not note:
            raise ExceptionError("say why the exception is revoked (the reason is kept with it)")
        if len(note) > MAX_REASON:
            raise ExceptionError(f"the reason is longer than {MAX_REASON} characters")
        revoke_exception(sources(router).exceptions, exception_id, actor=who.actor_name, note=note)
    except ExceptionError as exc:
        return _render(400, revoke_error=(exception_id, str(exc)))
    return redirect(f"/exceptions?revoked={exception_id}#exception-{exception_id}")


def _console_words(message: str) -> str:
    """The layer's messages name the CLI's options (``--expires``); on the page they name the fields."""
    for option, label in (("--expires", "Expiry date"), ("--reason", "Reason"), ("--user", "user"),
                          ("--client", "client"), ("--rule", "rule"), ("--actor", "who acts")):
        message = message.replace(option, label)
    return message
