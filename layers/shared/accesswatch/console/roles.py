"""Roles and what each may see and do. Checked on the server for every request (``require``), never only by
hiding a link: a forbidden page or action answers 403 whatever the browser sends."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    INVESTIGATOR = "investigator"
    ER_ADVISER = "er_adviser"
    PRIVACY_OFFICER = "privacy_officer"
    OPERATOR = "operator"


class Permission(StrEnum):
    QUEUE = "queue"                  # the ranked queue of cases
    CASE_VIEW = "case_view"          # a case's page: staff member, score, findings, history
    CASE_DECIDE = "case_decide"      # decide a case awaiting a decision (founded / unfounded, per rule)
    CASE_OUTCOME = "case_outcome"    # record the Employment Relations outcome
    CASE_NOTE = "case_note"          # add a note to a case's history
    CLIENT_DETAILS = "client_details"  # a case's client's personal details (name, date of birth, address)
    DIGEST = "digest"                # the week's digest (team managers' counts)
    EXCEPTIONS = "exceptions"        # the exceptions list
    EXCEPTIONS_MANAGE = "exceptions_manage"  # add and revoke exceptions
    PRECISION = "precision"          # per-rule precision and weights
    FOOTPRINT = "footprint"          # a client's footprint (client details: names of staff, times)
    REPORTS = "reports"              # quarterly governance / OIA tables and downloads
    OPERATIONS = "operations"        # alarm states and the dashboard's figures


GRANTS: Final[dict[Role, frozenset[Permission]]] = {
    Role.INVESTIGATOR: frozenset({Permission.QUEUE, Permission.CASE_VIEW, Permission.CASE_DECIDE,
                                  Permission.CASE_NOTE, Permission.CLIENT_DETAILS, Permission.DIGEST, Permission.EXCEPTIONS,
                                  Permission.EXCEPTIONS_MANAGE, Permission.PRECISION}),
    Role.ER_ADVISER: frozenset({Permission.QUEUE, Permission.CASE_VIEW, Permission.CASE_OUTCOME,
                                Permission.CASE_NOTE}),
    Role.PRIVACY_OFFICER: frozenset({Permission.FOOTPRINT, Permission.REPORTS}),
    Role.OPERATOR: frozenset({Permission.OPERATIONS, Permission.REPORTS}),
}

# Where each role lands, and the navigation it sees (in this order), as (permission, path, label).
NAVIGATION: Final[tuple[tuple[Permission, str, str], ...]] = (
    (Permission.QUEUE, "/queue", "Queue"),
    (Permission.DIGEST, "/digest", "Digest"),
    (Permission.EXCEPTIONS, "/exceptions", "Exceptions"),
    (Permission.PRECISION, "/precision", "Rule precision"),
    (Permission.FOOTPRINT, "/footprint", "Footprint"),
    (Permission.OPERATIONS, "/operations", "Operations"),
    (Permission.REPORTS, "/reports", "Reports"),
)


def permissions(roles: frozenset[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= GRANTS[role]
    return frozenset(granted)


def parse_roles(values: object) -> frozenset[Role]:
    """Roles from Cognito's ``cognito:groups`` claim: a list, or the HTTP API's string form ``[a b]``;
    unknown group names are ignored (a group that grants nothing here)."""
    if isinstance(values, str):
        items = values.strip().strip("[]").replace(",", " ").split()
    elif isinstance(values, list | tuple | set | frozenset):
        items = [str(v) for v in values]
    else:
        items = []
    known = {r.value for r in Role}
    return frozenset(Role(v) for v in items if v in known)


def home(granted: frozenset[Permission]) -> str | None:
    """The first page a person with ``granted`` may open (None: nothing at all)."""
    return next((path for perm, path, _ in NAVIGATION if perm in granted), None)
