"""Evidence packs in the evidence bucket (``evidence/<case id>/<pack id>/<file>``) and their record in the case's
append-only history (an ``evidence_pack`` entry holding the manifest's SHA-256 and the pack's location).

The evidence bucket (template.yaml ``EvidenceBucket``) is versioned and has Object Lock: every object is kept,
in governance mode, for the bucket's default retention, or until the ``retain_until`` ``put`` is given. The
lock stops a version being deleted or overwritten in place; a new version or a delete marker is still
possible, and is what the manifest hash in the case history (which no function role can delete or rewrite)
makes detectable: ``accesswatch cases verify-evidence``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from accesswatch.dal.cases import CaseStore
from accesswatch.evidence import HISTORY_STATE, MANIFEST, pack_prefix


class EvidenceStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def location(self, case_id: str, pack_id: str) -> str:
        return f"s3://{self.bucket}/{pack_prefix(case_id, pack_id)}"

    def object_lock(self) -> bool:
        """Whether the bucket has Object Lock enabled."""
        try:
            config = self.s3.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError:
            return False
        return (config.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled") == "Enabled"

    def put(self, case_id: str, pack_id: str, files: Mapping[str, bytes], manifest: bytes, *,
            retain_until: datetime | None = None, mode: str = "GOVERNANCE") -> None:
        """Every file, then the manifest last (a pack without its manifest is incomplete, never mistaken for
        whole). ``retain_until``: an Object Lock retention date for each object (the bucket must have it)."""
        prefix = pack_prefix(case_id, pack_id)
        lock: dict[str, Any] = ({"ObjectLockMode": mode, "ObjectLockRetainUntilDate": retain_until}
                                if retain_until is not None else {})
        for name in sorted(files):
            self.s3.put_object(Bucket=self.bucket, Key=prefix + name, Body=files[name], **lock,
                               ContentType="application/json")
        self.s3.put_object(Bucket=self.bucket, Key=prefix + MANIFEST, Body=manifest, **lock,
                           ContentType="application/json")

    def get(self, case_id: str, pack_id: str, name: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=pack_prefix(case_id, pack_id) + name)["Body"]
                         .read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def names(self, case_id: str, pack_id: str) -> list[str]:
        """The names of the objects stored under the pack's prefix."""
        prefix = pack_prefix(case_id, pack_id)
        found: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found += [item["Key"][len(prefix):] for item in page.get("Contents", [])]
        return sorted(found)


def bucket_of(location: str, case_id: str, pack_id: str) -> str | None:
    """The bucket of a recorded ``s3://<bucket>/<pack prefix>`` location; None if it is not one."""
    scheme = "s3://"
    suffix = "/" + pack_prefix(case_id, pack_id)
    if not location.startswith(scheme) or not location.endswith(suffix):
        return None
    bucket = location[len(scheme):-len(suffix)]
    return bucket if bucket and "/" not in bucket else None


def record_pack(cases: CaseStore, case_id: str, *, actor: str, pack_id: str, manifest_sha256: str, location: str,
                files: int, note: str) -> None:
    """Append the ``evidence_pack`` history entry (never updated, like every history entry)."""
    cases.append_history(case_id, state=HISTORY_STATE, actor=actor, note=note, pack_id=pack_id,
                         manifest_sha256=manifest_sha256, pack_location=location, pack_files=files)


def recorded_packs(cases: CaseStore, case_id: str) -> list[dict[str, Any]]:
    """The case's ``evidence_pack`` history entries, oldest first."""
    return [e for e in cases.history(case_id) if e.get("state") == HISTORY_STATE and e.get("pack_id")]
