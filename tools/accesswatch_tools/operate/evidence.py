"""A case's evidence pack on a deployment (``accesswatch cases evidence`` and ``cases verify-evidence``).

``build_pack`` reads what an Employment Relations process needs (the case and its history, its findings with
explanations and evidence, the staff member's access history for the case's window, the reference snapshot
ids judged against) into files and a manifest (``accesswatch.evidence``); ``write_local`` puts them in a
directory; ``store_pack`` writes them to the evidence bucket (template.yaml ``EvidenceBucket``: Object Lock,
governance) under ``evidence/<case>/<pack>/``, each object locked for the bucket's default retention or the
caller's ``--retain-days``, and records the manifest's SHA-256 in the case history; ``verify_pack`` re-hashes
the stored copy (and a local one) against the manifest and the recorded hash. The same code on the embedded runtime and on AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from accesswatch_tools.operate.deployment import Deployment, OperationError

# The finding fields a pack keeps (ids, the rule's explanation and evidence, the snapshot judged against).
FINDING_FIELDS = ("finding_id", "rule", "severity", "rule_status", "system", "event_id", "user_id", "client_id",
                  "occurred_at", "occurred_at_utc", "nz_date", "explanation", "evidence", "snapshot_id", "case_id")
FILES = ("case.json", "findings.jsonl", "access-history.jsonl", "access-history-summary.json", "reference.json")


@dataclass(frozen=True)
class EvidencePack:
    case_id: str
    user_id: str
    pack_id: str
    start: date
    end: date
    files: dict[str, bytes]
    manifest: bytes
    findings: int
    accesses: int
    notes: tuple[str, ...] = field(default=())

    @property
    def manifest_sha256(self) -> str:
        from accesswatch.evidence import sha256

        return sha256(self.manifest)


def _nz_day(instant: Any) -> date | None:
    from accesswatch.quarters import nz_date

    if not instant:
        return None
    try:
        moment = datetime.fromisoformat(str(instant).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return nz_date(moment)


def case_window(case: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> tuple[date, date] | None:
    """The NZ dates the case covers: its findings' first to last access (the case's ``first_occurred_at`` and
    ``last_occurred_at``), widened to the period a person opened or joined it for (``source_from``/
    ``source_to``: a complaint, a manager's concern, a privacy request); None when it has neither."""
    days = [d for d in (_nz_day(case.get("first_occurred_at")), _nz_day(case.get("last_occurred_at"))) if d]
    days += [date.fromisoformat(str(f["nz_date"])) for f in findings if f.get("nz_date")]
    for key in ("source_from", "source_to"):
        value = case.get(key)
        if value:
            try:
                days.append(date.fromisoformat(str(value)[:10]))
            except ValueError:
                pass
    return (min(days), max(days)) if days else None


def _finding_record(finding: Mapping[str, Any]) -> dict[str, Any]:
    import json

    out = {f: finding.get(f) for f in FINDING_FIELDS}
    if isinstance(out.get("evidence"), str):
        text = out["evidence"]
        try:
            out["evidence"] = json.loads(text) if text else {}
        except json.JSONDecodeError:
            pass
    return out


def build_pack(dep: Deployment, case_id: str, *, actor: str, start: date | None = None, end: date | None = None,
               engine: str = "partitions", cache_dir: Path | None = None,
               now: datetime | None = None) -> EvidencePack:
    """Read everything the pack holds (OperationError, one line, for an unknown case or an empty window)."""
    from accesswatch.audit import iso
    from accesswatch.cases.actions import CaseActionError
    from accesswatch.dal.findings import FindingStore
    from accesswatch.dal.ledger import Ledger
    from accesswatch.evidence import build_manifest, json_bytes, json_lines_bytes, new_pack_id
    from accesswatch.quarters import nz_today
    from accesswatch_tools.operate.cases import case_service
    from accesswatch_tools.operate.history import access_records, answer_history, summary_json

    service = case_service(dep)
    try:
        shown = service.show(case_id, limit=None)
    except CaseActionError as exc:
        raise OperationError(str(exc)) from None
    user_id = str(shown.get("user_id") or "")
    store = FindingStore(dep.resource_name("FindingsTable"), dep.resource("dynamodb"))
    ids = sorted(shown.get("finding_ids") or [])
    found = store.get_many(ids) if ids else {}
    findings = [_finding_record(found[i]) for i in ids if i in found]
    notes = [f"finding {i} is no longer in the findings table" for i in ids if i not in found]
    window = case_window(shown, findings)
    if start is None or end is None:
        if window is None:
            raise OperationError(f"case {case_id} has no findings or period to take a window from: give --from and --to")
        start = start or window[0]
        end = end or window[1]
    if end < start:
        raise OperationError(f"the window ends ({end}) before it starts ({start})")
    history = answer_history(dep, user_id, start, end, engine=engine, cache_dir=cache_dir,
                             today=max(end, nz_today()), allow_unknown=True)
    pointer = Ledger(dep.resource_name("LedgerTable"), dep.resource("dynamodb")).reference_pointer() or {}
    reference = {
        "judged_against": sorted({str(f["snapshot_id"]) for f in findings if f.get("snapshot_id")}),
        "current_index": pointer.get("snapshot_id"),
        "current_snapshots": {kind: {k: v for k, v in (entry or {}).items() if k in ("digest", "key", "received_at")}
                              for kind, entry in sorted((pointer.get("kinds") or {}).items())},
    }
    case_doc = {k: v for k, v in shown.items() if k not in ("findings",)}
    files = {
        "case.json": json_bytes(case_doc),
        "findings.jsonl": json_lines_bytes(findings),
        "access-history.jsonl": json_lines_bytes(access_records(history)),
        "access-history-summary.json": json_bytes(summary_json(history)),
        "reference.json": json_bytes(reference),
    }
    at = now or datetime.now(UTC)
    pack_id = new_pack_id(at)
    manifest = build_manifest(files, pack_id=pack_id, case_id=case_id, user_id=user_id,
                              created_at=iso(at), created_by=actor,
                              period={"from": start.isoformat(), "to": end.isoformat(), "dates": "New Zealand"},
                              notes=notes)
    return EvidencePack(case_id, user_id, pack_id, start, end, files, manifest, len(findings),
                        history.frame.height, tuple(notes))


def write_local(pack: EvidencePack, out: Path) -> None:
    """The pack's files and manifest.json in ``out`` (which must not exist or be empty)."""
    from accesswatch.evidence import MANIFEST

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OperationError(f"--out {out}: not an empty directory (a pack is written to a new one)")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in pack.files.items():
        (out / name).write_bytes(data)
    (out / MANIFEST).write_bytes(pack.manifest)


EVIDENCE_BUCKET = "EvidenceBucket"  # template.yaml


def _evidence_bucket(dep: Deployment) -> str:
    try:
        return dep.resource_name(EVIDENCE_BUCKET)
    except KeyError:
        raise OperationError(f"the deployment has no {EVIDENCE_BUCKET} (a stack deployed before evidence packs "
                             "were kept under Object Lock): deploy the current template first") from None


def _stores(dep: Deployment) -> tuple[Any, Any]:
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.evidence import EvidenceStore

    return (EvidenceStore(dep.client("s3"), _evidence_bucket(dep)),
            CaseStore(dep.resource_name("CasesTable"), dep.resource("dynamodb")))


def check_retention(dep: Deployment) -> None:
    """OperationError unless the evidence bucket has Object Lock (asked for before anything is read): a
    retention date on an object of a bucket without it is refused by S3 after the pack was built."""
    evidence, _ = _stores(dep)
    if not evidence.object_lock():
        raise OperationError(f"--retain-days: the evidence bucket {evidence.bucket} has no Object Lock "
                             "(docs/cases.md, \"Evidence packs\")")


def store_pack(dep: Deployment, pack: EvidencePack, *, actor: str, retain_days: int | None = None) -> str:
    """Write the pack to the evidence bucket and record its manifest hash in the case history; the location.
    Each object is locked (governance) for the bucket's default retention, or for ``retain_days`` from now
    when given (refused when the bucket has no Object Lock)."""
    from accesswatch.dal.evidence import record_pack
    from accesswatch.evidence import history_note

    evidence, cases = _stores(dep)
    retain_until = None
    if retain_days is not None:
        check_retention(dep)
        retain_until = datetime.now(UTC) + timedelta(days=retain_days)
    evidence.put(pack.case_id, pack.pack_id, pack.files, pack.manifest, retain_until=retain_until)
    location = evidence.location(pack.case_id, pack.pack_id)
    record_pack(cases, pack.case_id, actor=actor, pack_id=pack.pack_id, manifest_sha256=pack.manifest_sha256,
                location=location, files=len(pack.files) + 1,
                note=history_note(pack.pack_id, pack.manifest_sha256, location, len(pack.files) + 1))
    return location


def _recorded_store(evidence: Any, location: str, case_id: str, pack_id: str) -> Any:
    """The store of the bucket the case history recorded the pack in (a pack written before the evidence
    bucket existed lives in the curated bucket), else the evidence bucket's."""
    from accesswatch.dal.evidence import EvidenceStore, bucket_of

    bucket = bucket_of(location, case_id, pack_id)
    return evidence if bucket in (None, evidence.bucket) else EvidenceStore(evidence.s3, bucket)


@dataclass(frozen=True)
class Verification:
    case_id: str
    pack_id: str
    recorded_sha256: str
    location: str
    checked: tuple[str, ...]  # "stored", "local"
    problems: tuple[Any, ...]  # accesswatch.evidence.Problem

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_pack(dep: Deployment, case_id: str, *, pack_id: str | None = None,
                local: Path | None = None) -> Verification:
    """Re-hash the stored pack (the one named, else the local directory's, else the case's latest) and the
    local directory if given, against the manifest and the hash the case history recorded."""
    from accesswatch.dal.evidence import recorded_packs
    from accesswatch.evidence import MANIFEST, EvidenceError, check_pack_id, read_manifest, verify

    evidence, cases = _stores(dep)
    if cases.get(case_id) is None:
        raise OperationError(f"no case {case_id}")
    local_manifest: bytes | None = None
    if local is not None:
        if not local.is_dir():
            raise OperationError(f"--dir {local}: not a directory")
        path = local / MANIFEST
        local_manifest = path.read_bytes() if path.is_file() else None
        if pack_id is None and local_manifest is not None:
            try:
                pack_id = str(read_manifest(local_manifest).get("pack_id") or "") or None
            except EvidenceError:
                pack_id = None
    if pack_id is not None:
        try:
            check_pack_id(pack_id)
        except EvidenceError as exc:
            raise OperationError(str(exc)) from None
    packs = recorded_packs(cases, case_id)
    if not packs:
        raise OperationError(f"case {case_id} has no evidence pack recorded in its history "
                             "(accesswatch cases evidence writes one)")
    entry = packs[-1] if pack_id is None else next((p for p in packs if p["pack_id"] == pack_id), None)
    if entry is None:
        raise OperationError(f"case {case_id} has no evidence pack {pack_id} in its history; recorded: "
                             + ", ".join(p["pack_id"] for p in packs))
    pid, recorded = str(entry["pack_id"]), str(entry["manifest_sha256"])
    evidence = _recorded_store(evidence, str(entry.get("pack_location") or ""), case_id, pid)
    problems = verify("stored", evidence.get(case_id, pid, MANIFEST), recorded,
                      lambda name: evidence.get(case_id, pid, name), evidence.names(case_id, pid))
    checked = ["stored"]
    if local is not None:
        def read_local(name: str) -> bytes | None:
            path = local / name
            return path.read_bytes() if path.is_file() else None

        problems += verify("local", local_manifest, recorded, read_local,
                           sorted(p.name for p in local.iterdir() if p.is_file()))
        checked.append("local")
    return Verification(case_id, pid, recorded, str(entry.get("pack_location") or ""), tuple(checked),
                        tuple(problems))
