"""Application audit records of reads: who (the authenticated caller), when, what (ids only) and why.

Every footprint, staff access history, evidence pack, export, run's outputs, findings list, case read and read of the audit log itself leaves one record in the
audit table (``dal/audit.py``), written before what was read is shown. A record holds ids and counts only:
the client id, case ids, the period, filters and how many lines were read; never a name, address, date of
birth or IRD number. The reason is what the reader typed with ``--reason``.

Who acted is never free text: it is the authenticated caller (``Actor``): on AWS the caller's IAM identity
(``sts:GetCallerIdentity``, shown as ``assumed-role/Investigator/jane``), on the embedded runtime the local
operating-system user (there is no authentication locally).

This module is pure (no AWS): the record's shape, its checks, and turning an ARN into a readable actor.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from accesswatch.quarters import nz_date

# What was read. Each names one kind of read; ``audit list`` shows them.
ACTIONS: Final = (
    "footprint",            # accesswatch footprint CLIENT (internal)
    "footprint_client_safe",  # accesswatch footprint CLIENT --client-safe (the one handed to the client)
    "export_findings",      # accesswatch export findings
    "export_cases",         # accesswatch export cases
    "run_outputs",          # accesswatch run / demo: the run's findings, cases and quarantine written out
    "findings_list",        # accesswatch findings list
    "case_list",            # accesswatch cases list
    "case_show",            # accesswatch cases show CASE
    "staff_history",        # accesswatch history USER (a staff member's accesses)
    "evidence_pack",        # accesswatch cases evidence CASE (a case's evidence pack)
    "evidence_verify",      # accesswatch cases verify-evidence CASE (re-hashing a stored pack)
    "audit_list",           # accesswatch audit list (reading the audit log is itself audited)
    "console_queue",        # the console's queue page (cases listed)
    "client_details",       # the console's "personal details" of one client of a case (name, birth date, address)
    "console_page",         # any other console page that shows what the audit covers (digest, exceptions...)
)
SOURCES: Final = ("cli", "console")
ACTOR_SOURCES: Final = ("iam", "local", "cognito", "console_local")
MAX_REASON_CHARS: Final = 500
MAX_IDS: Final = 1000  # ids kept per list in a record (an item stays far below DynamoDB's 400 KB)
MAX_ACTOR_CHARS: Final = 200


class AuditError(ValueError):
    """An audit record that cannot be made as asked; one line for a person, naming no personal data."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, as authenticated: ``name`` is what records show (case history, audit records)."""

    name: str
    source: str  # "iam" (the caller's AWS identity) or "local" (the local OS user: no authentication)
    arn: str = ""
    account: str = ""

    def __post_init__(self) -> None:
        if self.source not in ACTOR_SOURCES:
            raise AuditError(f"actor source must be one of {', '.join(ACTOR_SOURCES)}")
        if not self.name.strip():
            raise AuditError("the actor has no name")
        if len(self.name) > MAX_ACTOR_CHARS:
            raise AuditError(f"the actor's name is longer than {MAX_ACTOR_CHARS} characters")

    def as_fields(self) -> dict[str, str]:
        fields = {"actor": self.name, "actor_source": self.source}
        if self.arn:
            fields["actor_arn"] = self.arn
        if self.account:
            fields["account"] = self.account
        return fields


def actor_from_arn(arn: str, account: str = "") -> Actor:
    """The readable actor of a caller's ARN (``sts:GetCallerIdentity``): the part after the account.

    ``arn:aws:sts::123456789012:assumed-role/Investigator/jane`` -> ``assumed-role/Investigator/jane``;
    ``arn:aws:iam::123456789012:user/ops/jane`` -> ``user/jane`` (the path dropped: the name is unique);
    ``arn:aws:iam::123456789012:root`` -> ``root``; ``federated-user/jane`` as it is."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        raise AuditError(f"not an IAM identity ARN: {arn!r}")
    resource = parts[5]
    if resource.startswith("user/"):
        resource = "user/" + resource.rsplit("/", 1)[1]
    return Actor(name=resource, source="iam", arn=arn, account=account or parts[4])


def check_reason(reason: str | None) -> str:
    """The reason as recorded (one line, trimmed); AuditError if it is too long or has line breaks."""
    text = (reason or "").strip()
    if len(text) > MAX_REASON_CHARS:
        raise AuditError(f"--reason is longer than {MAX_REASON_CHARS} characters")
    if "\n" in text or "\r" in text:
        raise AuditError("--reason must be one line")
    return text


def _ids(value: Any) -> Any:
    """Lists of ids capped at MAX_IDS; other values as they are (ids, dates, counts)."""
    if isinstance(value, list | tuple | set | frozenset):
        values = sorted(str(v) for v in value) if isinstance(value, set | frozenset) else [str(v) for v in value]
        return values[:MAX_IDS]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _clean(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _ids(v) for k, v in mapping.items() if v not in (None, "", [], (), {})}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_record(*, actor: Actor, action: str, subject: Mapping[str, Any], result: Mapping[str, Any],
               reason: str | None, source: str = "cli", target: str = "", now: datetime | None = None,
               record_id: str | None = None) -> dict[str, Any]:
    """One audit record, keyed for the audit table: ``DAY#<NZ date>`` / ``<UTC time>#<id>``.

    ``subject``: what was read, ids only (``client_id``, ``case_id``, ``case_ids``, ``from``/``to``, filters);
    ``result``: counts (lines, accesses, cases...). Lists of ids longer than MAX_IDS are cut to it and say so
    (``<name>_total``)."""
    if action not in ACTIONS:
        raise AuditError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
    if source not in SOURCES:
        raise AuditError(f"unknown audit source {source!r}; one of {', '.join(SOURCES)}")
    at = now or datetime.now(UTC)
    rid = record_id or uuid.uuid4().hex
    when = iso(at)
    subject_fields = _clean(subject)
    for key, value in subject.items():
        if isinstance(value, list | tuple | set | frozenset) and len(value) > MAX_IDS:
            subject_fields[f"{key}_total"] = len(value)
    record: dict[str, Any] = {
        "pk": f"DAY#{nz_date(at).isoformat()}", "sk": f"{when}#{rid}", "audit_id": rid, "at": when,
        "nz_date": nz_date(at).isoformat(), **actor.as_fields(), "action": action, "source": source,
        "reason": check_reason(reason), "subject": subject_fields, "result": _clean(result),
    }
    if target:
        record["target"] = target
    return record


def record_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as ``audit list --json`` shows it: without the table's keys."""
    return {k: v for k, v in item.items() if k not in ("pk", "sk")}
