"""Exceptions: what a ``rule_too_broad`` decision may suppress from routing, and the checks on one. Pure.

An exception has a scope (``user_id``, ``client_id`` and/or ``rule``: at least one), an expiry date
(New Zealand date, inclusive), who made it, why, and optionally the case it came from. While active it
suppresses matching **accumulate-tier** findings: they are still recorded and counted (as suppressed),
but add to no risk score and join no case. Immediate-tier findings are never suppressed: data contract v2
puts every one of them in a case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Protocol

from accesswatch.cases import MAX_NOTE_CHARS

MAX_DAYS = 366  # an exception is reviewed at least yearly


class ExceptionError(ValueError):
    """An exception cannot be made as asked; the message is one line for the person."""


class UnknownException(ExceptionError):
    """No exception has that id."""


class AlreadyRevoked(ExceptionError):
    """The exception was revoked before."""


class ExceptionItems(Protocol):
    """Where exceptions are kept (``accesswatch.dal.exceptions.ExceptionStore``)."""

    def add(self, exception: Mapping[str, Any]) -> bool: ...

    def get(self, exception_id: str) -> dict[str, Any] | None: ...

    def revoke(self, exception_id: str, *, actor: str, note: str) -> bool: ...


def exception_id_for(user_id: str | None, client_id: str | None, rule: str | None, created_at: str) -> str:
    digest = hashlib.sha256(f"{user_id}\x1f{client_id}\x1f{rule}\x1f{created_at}".encode()).hexdigest()
    return f"EXC-{digest[:12].upper()}"


def new_exception(*, user_id: str | None, client_id: str | None, rule: str | None, expires_on: str, reason: str,
                  actor: str, today: date, created_at: str, case_id: str | None = None) -> dict[str, Any]:
    """A checked exception item; ExceptionError says what is wrong."""
    from accesswatch.rules import TIER_OF

    user_id, client_id, rule = (v.strip() if v else None for v in (user_id, client_id, rule))
    if not (user_id or client_id or rule):
        raise ExceptionError("an exception needs a scope: --user, --client and/or --rule")
    if rule is not None:
        tier = TIER_OF.get(rule)
        if tier is None:
            raise ExceptionError(f"unknown rule {rule!r} (rule ids are upper case, e.g. SENSITIVE_LOOKUP)")
        if tier != "accumulate":
            raise ExceptionError(f"{rule} is a {tier}-tier rule: only accumulate-tier findings can be suppressed "
                                 "(every immediate-tier finding goes to a case)")
    expires = check_expiry(expires_on, today)
    if not reason.strip():
        raise ExceptionError("--reason must say why (it is kept with the exception)")
    if not actor.strip():
        raise ExceptionError("--actor must not be empty")
    item: dict[str, Any] = {
        "exception_id": exception_id_for(user_id, client_id, rule, created_at),
        "expires_on": expires.isoformat(), "reason": reason.strip()[:MAX_NOTE_CHARS], "created_by": actor.strip()[:128],
        "created_at": created_at, "suppressed": 0,
    }
    for key, value in (("user_id", user_id), ("client_id", client_id), ("rule", rule), ("case_id", case_id)):
        if value:
            item[key] = value
    return item


def create_exception(store: ExceptionItems, *, today: date, created_at: str, **fields: Any) -> dict[str, Any]:
    """Check and store one exception (the CLI's ``exceptions add`` and the console's form); ExceptionError
    says what is wrong."""
    item = new_exception(today=today, created_at=created_at, **fields)
    if not store.add(item):
        raise ExceptionError(f"exception {item['exception_id']} exists already")
    return item


def revoke_exception(store: ExceptionItems, exception_id: str, *, actor: str, note: str) -> None:
    """End an exception now (it is kept, marked revoked); UnknownException or AlreadyRevoked otherwise."""
    if store.get(exception_id) is None:
        raise UnknownException(f"no exception {exception_id}")
    if not store.revoke(exception_id, actor=actor, note=note):
        raise AlreadyRevoked(f"exception {exception_id} was revoked already")


def check_expiry(expires_on: str, today: date) -> date:
    """The expiry date, if it is a date from today to a year away; ExceptionError otherwise."""
    try:
        expires = date.fromisoformat(expires_on)
    except ValueError:
        raise ExceptionError(f"--expires {expires_on!r} is not a date (YYYY-MM-DD)") from None
    if expires < today:
        raise ExceptionError(f"--expires {expires_on} is in the past")
    if expires > today + timedelta(days=MAX_DAYS):
        raise ExceptionError(f"--expires {expires_on} is more than {MAX_DAYS} days away; exceptions are reviewed yearly")
    return expires


def is_active(exception: Mapping[str, Any], today: date) -> bool:
    return not exception.get("revoked_at") and date.fromisoformat(str(exception["expires_on"])) >= today


def state(exception: Mapping[str, Any], today: date) -> str:
    """``active``, ``revoked`` or ``expired`` on ``today`` (a New Zealand date)."""
    if is_active(exception, today):
        return "active"
    return "revoked" if exception.get("revoked_at") else "expired"


def active(exceptions: Iterable[Mapping[str, Any]], today: date) -> list[Mapping[str, Any]]:
    return [e for e in exceptions if is_active(e, today)]


def suppressing(finding: Mapping[str, Any], exceptions: Sequence[Mapping[str, Any]]) -> str | None:
    """The id of the first active exception that suppresses this finding, or None."""
    from accesswatch.rules import TIER_OF

    if TIER_OF.get(str(finding.get("rule"))) != "accumulate":
        return None
    for e in exceptions:
        if all(not e.get(key) or e.get(key) == finding.get(key) for key in ("user_id", "client_id", "rule")):
            return str(e["exception_id"])
    return None
