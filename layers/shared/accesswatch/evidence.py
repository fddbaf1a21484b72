"""A case's evidence pack: what an Employment Relations process needs, fixed by a manifest of SHA-256 hashes.

A pack is a set of files (``case.json``, ``findings.jsonl``, ``access-history.jsonl``,
``access-history-summary.json``, ``reference.json``) and ``manifest.json``, which names every other file
with its size and SHA-256. The manifest's own SHA-256 is printed when the pack is written and recorded in the
case's append-only history (an ``evidence_pack`` entry), so a later change to any file, or to the manifest,
is detectable: ``verify`` re-hashes a pack against its manifest and the recorded hash.

This module is pure (no AWS): the manifest's shape, its hashing and the comparison.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

FORMAT: Final = "accesswatch-evidence-pack/1"
MANIFEST: Final = "manifest.json"
HISTORY_STATE: Final = "evidence_pack"  # the case history entry that records a pack
PREFIX: Final = "evidence/"  # in the evidence bucket: evidence/<case id>/<pack id>/<file>
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PACK_ID: Final = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


class EvidenceError(ValueError):
    """A pack that cannot be made or read as asked; one line naming ids only."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_pack_id(now: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-<8 hex>``: sorts by creation time, unique."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def check_pack_id(pack_id: str) -> str:
    if not _PACK_ID.match(pack_id):
        raise EvidenceError(f"not an evidence pack id: {pack_id!r} (they look like 20261130T081500Z-1a2b3c4d)")
    return pack_id


def pack_prefix(case_id: str, pack_id: str) -> str:
    """The pack's key prefix in the evidence bucket."""
    if not case_id or "/" in case_id or case_id.strip() != case_id:
        raise EvidenceError(f"not a case id: {case_id!r}")
    return f"{PREFIX}{case_id}/{check_pack_id(pack_id)}/"


def json_bytes(value: Any) -> bytes:
    """Stable JSON (sorted keys, indented) so that a pack of the same content hashes the same."""
    return (json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1, default=str) + "\n").encode("utf-8")


def json_lines_bytes(records: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True, default=str) + "\n"
                   for r in records).encode("utf-8")


def build_manifest(files: Mapping[str, bytes], *, pack_id: str, case_id: str, user_id: str, created_at: str,
                   created_by: str, period: Mapping[str, str], notes: Sequence[str] = ()) -> bytes:
    """The manifest of ``files`` (name -> content): every file's size and SHA-256, sorted by name."""
    for name in files:
        if name == MANIFEST or not _NAME.match(name):
            raise EvidenceError(f"not a pack file name: {name!r}")
    return json_bytes({
        "format": FORMAT, "pack_id": check_pack_id(pack_id), "case_id": case_id, "user_id": user_id,
        "created_at": created_at, "created_by": created_by, "period": dict(period), "notes": list(notes),
        "files": [{"name": n, "bytes": len(files[n]), "sha256": sha256(files[n])} for n in sorted(files)],
    })


def read_manifest(data: bytes) -> dict[str, Any]:
    """A manifest's content; EvidenceError if it is not one."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EvidenceError("manifest.json is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"),
                                                                                              list):
        raise EvidenceError(f"manifest.json is not an evidence pack manifest ({FORMAT})")
    for entry in manifest["files"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and _NAME.match(entry["name"])
                and isinstance(entry.get("sha256"), str)):
            raise EvidenceError("manifest.json lists a file without a valid name and sha256")
    return manifest


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a pack: ``name`` (a file, or manifest.json) and what."""

    where: str  # "stored" (the evidence bucket) or "local" (a directory)
    name: str
    what: str

    def text(self) -> str:
        return f"{self.where} {self.name}: {self.what}"


def verify(where: str, manifest_data: bytes | None, recorded_sha256: str | None,
           read: Callable[[str], bytes | None], present: Sequence[str]) -> list[Problem]:
    """Everything wrong with one copy of a pack: the manifest missing, or its hash not the one recorded in the
    case history; a listed file missing, or its size or SHA-256 not the manifest's; a file present that the
    manifest does not list. ``read(name)`` gives a file's bytes (None: missing); ``present``: the names there."""
    if manifest_data is None:
        return [Problem(where, MANIFEST, "missing")]
    problems: list[Problem] = []
    actual = sha256(manifest_data)
    if recorded_sha256 is not None and actual != recorded_sha256:
        problems.append(Problem(where, MANIFEST, f"altered: its SHA-256 is {actual}, the case history recorded "
                                                 f"{recorded_sha256}"))
    try:
        manifest = read_manifest(manifest_data)
    except EvidenceError as exc:
        return [*problems, Problem(where, MANIFEST, str(exc))]
    listed = set()
    for entry in manifest["files"]:
        name = entry["name"]
        listed.add(name)
        data = read(name)
        if data is None:
            problems.append(Problem(where, name, "missing"))
        elif sha256(data) != entry["sha256"] or len(data) != entry.get("bytes", len(data)):
            problems.append(Problem(where, name, f"altered: its SHA-256 is {sha256(data)}, the manifest has "
                                                 f"{entry['sha256']}"))
    for name in sorted(set(present) - listed - {MANIFEST}):
        problems.append(Problem(where, name, "not in the manifest (added after the pack was written)"))
    return problems


def history_note(pack_id: str, manifest_sha256: str, location: str, files: int) -> str:
    """The note of the case history entry that records a pack."""
    return f"evidence pack {pack_id}: {files} file(s) at {location}; manifest SHA-256 {manifest_sha256}"
