"""Cases from every source: a client's complaint, a manager's concern, a client's privacy request.

Detection is one of four ways inappropriate access comes to light. A person who learns of a concern about a
staff member opens a case for that staff member (``accesswatch cases open``) through the same case state
machine and under the same rule (data contract v2, "Cases"): **one open case per user**. So:

- the user has no open case: a case is opened for them (``source`` the source, ``trigger`` too, ``opened_by``
  the authenticated person), carrying the user's accumulate-tier findings still in their risk ledger since
  the start of the period (or one scoring window back), and its workflow starts as a detection case's does;
- the user has an open case: the request **joins** it: the case's ``sources`` gains the source and its
  history a ``joined`` entry naming the source, the person, the clients and the period, in one transaction.

Idempotent: a request is identified by its content (user, source, clients, period, note): sent twice (a
retry, a double click) it opens or joins once. Ids only in what this module writes besides the person's note
(which is kept on the case and in its history, as decision notes are, never logged or notified).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from accesswatch.cases import MAX_NOTE_CHARS
from accesswatch.cases.assign import CLAIM_WAITS_S, MAX_ATTEMPTS, CaseRouter, RoutingResult, case_id_for
from accesswatch.dal.cases import UNDECIDED, ConcurrentUpdate
from accesswatch.dal.risk import entry_as_finding
from accesswatch.quarters import nz_midnight

DETECTION = "detection"
RANDOM_REVIEW = "random_review"
COMPLAINT = "complaint"
MANAGER_CONCERN = "manager_concern"
PRIVACY_REQUEST = "privacy_request"
# The sources a person opens a case from (``cases open --source``), and every source a case can have.
PERSON_SOURCES: tuple[str, ...] = (COMPLAINT, MANAGER_CONCERN, PRIVACY_REQUEST)
SOURCES: tuple[str, ...] = (DETECTION, RANDOM_REVIEW, *PERSON_SOURCES)
# How a sentence names each source ("opened from a complaint", "a manager's concern joined").
SOURCE_WORDS: dict[str, str] = {COMPLAINT: "complaint", MANAGER_CONCERN: "manager's concern",
                                PRIVACY_REQUEST: "privacy request"}
MAX_CLIENTS = 50
# The case takes exactly the ledger findings of the period (``_ledger_members``): the router carries none more.
_NOTHING_MORE = datetime.max.replace(tzinfo=UTC)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SourceError(ValueError):
    """A request that cannot open a case (said in one line, naming ids only)."""


@dataclass(frozen=True)
class SourceRequest:
    """What a person reports about a staff member: checked on construction (``SourceError``)."""

    user_id: str
    source: str
    note: str
    actor: str
    client_ids: tuple[str, ...] = ()
    period_from: date | None = None
    period_to: date | None = None

    def __post_init__(self) -> None:
        if self.source not in PERSON_SOURCES:
            raise SourceError(f"unknown source {self.source!r}; one of {', '.join(PERSON_SOURCES)}")
        if not _ID.match(self.user_id):
            raise SourceError(f"user id {self.user_id!r} is not an id (letters, digits, '.', '_', '-')")
        for client in self.client_ids:
            if not _ID.match(client):
                raise SourceError(f"client id {client!r} is not an id (letters, digits, '.', '_', '-')")
        if len(self.client_ids) > MAX_CLIENTS:
            raise SourceError(f"at most {MAX_CLIENTS} --client ids in one request")
        if not self.note.strip():
            raise SourceError("--note is required: say what was reported (ids and a reference, no names)")
        if len(self.note) > MAX_NOTE_CHARS:
            raise SourceError(f"--note is {len(self.note)} characters; at most {MAX_NOTE_CHARS}")
        if self.period_from and self.period_to and self.period_from > self.period_to:
            raise SourceError(f"--from {self.period_from} is after --to {self.period_to}")
        if not self.actor:
            raise SourceError("no authenticated actor")
        object.__setattr__(self, "client_ids", tuple(sorted(set(self.client_ids))))

    @property
    def request_id(self) -> str:
        """Derived from the content: the same report sent again is the same request."""
        text = "\x1f".join([self.user_id, self.source, ",".join(self.client_ids), str(self.period_from or ""),
                            str(self.period_to or ""), self.note.strip()])
        return "REQ-" + hashlib.sha256(text.encode()).hexdigest()[:16].upper()

    @property
    def case_id(self) -> str:
        """The id of the case this request opens when the user has none open."""
        return case_id_for(self.user_id, f"{self.source}:{self.request_id}")

    def period_text(self) -> str:
        if not (self.period_from or self.period_to):
            return "no period given"
        return f"period {self.period_from or '...'} to {self.period_to or '...'}"

    def opening(self) -> dict[str, Any]:
        """What the case item records of the request that opened it."""
        out: dict[str, Any] = {"source": self.source, "trigger": self.source, "opened_by": self.actor,
                               "source_note": self.note.strip(), "sources": [self.source],
                               "source_requests": {self.request_id}, "source_request": self.request_id}
        if self.client_ids:
            out["source_client_ids"] = list(self.client_ids)
        if self.period_from:
            out["source_from"] = self.period_from.isoformat()
        if self.period_to:
            out["source_to"] = self.period_to.isoformat()
        return out

    def join_entry(self, findings: int) -> dict[str, Any]:
        """The ``joined`` history entry of a request that joins an open case."""
        clients = f"{len(self.client_ids)} client(s): {', '.join(self.client_ids)}" if self.client_ids else "no clients"
        entry: dict[str, Any] = {
            "state": "joined", "actor": self.actor, "source": self.source, "request_id": self.request_id,
            "note": (f"a {SOURCE_WORDS[self.source]} joined: {self.note.strip()} ({clients}; {self.period_text()}; "
                     f"{findings} finding(s) carried from the risk ledger)"),
        }
        if self.client_ids:
            entry["client_ids"] = list(self.client_ids)
        return entry


@dataclass(frozen=True)
class SourceResult:
    case_id: str
    joined: bool  # True: the request joined the user's open case; False: it opened this case
    already: bool  # True: this very request had opened or joined the case before (nothing new written)
    findings_carried: int

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "joined": self.joined, "already": self.already,
                "findings_carried": self.findings_carried}


def carry_from(request: SourceRequest, router: CaseRouter, now: datetime) -> datetime:
    """From when (exclusive, a UTC instant) the user's ledger findings are carried into the case: the start of
    the period (New Zealand midnight), else one scoring window before ``now``."""
    if request.period_from is not None:
        return nz_midnight(request.period_from) - timedelta(microseconds=1)
    return now.astimezone(UTC) - router.settings.window


def _ledger_members(router: CaseRouter, user_id: str, since: datetime, until: date | None) -> list[dict[str, Any]]:
    """The user's ledger findings after ``since`` and, with ``until``, before the end of that NZ day."""
    stop = nz_midnight(until + timedelta(days=1)) if until is not None else None
    members = []
    for entry in router.risk.ledger(user_id).entries:
        at = datetime.fromisoformat(str(entry["t"]))
        if at > since and (stop is None or at < stop):
            members.append(entry_as_finding(entry))
    return members


def open_from_source(router: CaseRouter, request: SourceRequest, *, now: datetime) -> SourceResult:
    """Open a case for the request's user, or join their open case (see the module's docstring)."""
    since = carry_from(request, router, now)
    waited = 0
    for _attempt in range(MAX_ATTEMPTS + len(CLAIM_WAITS_S)):
        result = RoutingResult()
        try:
            pointer = router.cases.open_pointer(request.user_id)
            if pointer is not None:
                case_id = str(pointer["case_id"])
                case = router.cases.get(case_id)
                if case is None:
                    if case_id == request.case_id:  # our own claim, left by an attempt that died: finish it
                        router.create_case(request.user_id, case_id, request.source,
                                           _ledger_members(router, request.user_id, since, request.period_to),
                                           result, carry_from=_NOTHING_MORE, opening=request.opening())
                        router.finish(result)
                        return SourceResult(case_id, False, False, len(result.settled))
                    waited = router.wait_for_claim(request.user_id, pointer, waited)
                    continue
                if case.get("status") not in UNDECIDED:
                    router.cases.release_user(request.user_id, case_id)  # decided: release, plan again
                    continue
                if request.request_id in set(case.get("source_requests") or ()):
                    router.finish(RoutingResult(touched={case_id}))
                    return SourceResult(case_id, case_id != request.case_id, True, 0)
                members = _ledger_members(router, request.user_id, since, request.period_to)
                if not router.cases.join_source(case_id, request_id=request.request_id, source=request.source,
                                                entry=request.join_entry(len(members))):
                    continue  # decided or joined by this request meanwhile: plan again
                if members:
                    router.add_to_case(request.user_id, router.cases.get(case_id), members, result)
                    router.take_from_ledger(request.user_id, {str(m["finding_id"]) for m in members})
                result.touched.add(case_id)
                router.finish(result)
                return SourceResult(case_id, True, False, len(members))
            router.open_case(request.user_id, request.case_id, request.source,
                             _ledger_members(router, request.user_id, since, request.period_to), result,
                             carry_from=_NOTHING_MORE, opening=request.opening())
            router.finish(result)
            return SourceResult(request.case_id, False, False, len(result.settled))
        except ConcurrentUpdate:
            continue
    raise RuntimeError(f"could not open or join a case for user {request.user_id}; try again")


def source_counts(cases: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many cases each source opened (a case's ``source``; records before sources existed are detection)."""
    out = dict.fromkeys(SOURCES, 0)
    for case in cases:
        source = str(case.get("source") or DETECTION)
        out[source] = out.get(source, 0) + 1
    return out
