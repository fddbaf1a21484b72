"""What a raw-bucket object is: its identity for idempotency and the system it belongs to."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import unquote_plus

ACCESS_LOG_PREFIX = "access-logs/"
REFERENCE_PREFIX = "reference/"


@dataclass(frozen=True)
class SourceObject:
    bucket: str
    key: str  # URL-decoded
    etag: str
    version_id: str | None = None
    size: int | None = None

    @classmethod
    def from_notification(cls, bucket: str, raw_key: str, etag: str | None, version_id: str | None,
                          size: int | None) -> SourceObject:
        return cls(bucket, unquote_plus(raw_key), (etag or "").strip('"'), version_id, size)

    @property
    def ingest_id(self) -> str:
        """Stable for the same content at the same key: a re-delivery or identical re-upload maps here."""
        identity = f"{self.bucket}\x1f{self.key}\x1f{self.etag or self.version_id or ''}"
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def system_of(key: str) -> str | None:
    """``access-logs/<system>/...`` -> system (lower case), or None when the key has no system part."""
    if not key.startswith(ACCESS_LOG_PREFIX):
        return None
    parts = key[len(ACCESS_LOG_PREFIX):].split("/")
    if len(parts) < 2 or not parts[0].strip() or not parts[-1]:
        return None
    return parts[0].strip().lower()


def reference_kind_of(key: str) -> str | None:
    """``reference/<name>.<ext>`` -> name (lower case)."""
    if not key.startswith(REFERENCE_PREFIX):
        return None
    name = key[len(REFERENCE_PREFIX):]
    if "/" in name or not name:
        return None
    return name.split(".", 1)[0].strip().lower() or None
