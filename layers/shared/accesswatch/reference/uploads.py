"""Which upload of a reference snapshot is the newest: the order of puts, whatever order their
notifications arrive in.

S3 delivers notifications at least once and in no particular order. Each one carries the put's
``sequencer`` (hex; for one key, a later put has a greater sequencer once both are left-padded with
zeros to the same length) and ``eventTime`` (when S3 finished the put, in milliseconds). Sequencers
are comparable only within one key, so two puts of one kind under different keys (``staff.csv`` and
``staff.jsonl``) are ordered by their upload time.

The ledger keeps these attributes on every reference file item and on each kind's entry of the
current-reference pointer, so the reference function, and ``accesswatch verify`` afterwards, can
tell which upload of a kind is the newest (``newest``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")

# The ledger attributes an upload is ordered by (on file items and on the pointer's kind entries).
ORDER_ATTRIBUTES = ("key", "version_id", "sequencer", "uploaded_at")


@dataclass(frozen=True)
class Upload:
    """One put of a reference file, as far as ordering puts goes."""

    key: str  # the raw-bucket key
    version_id: str | None = None
    sequencer: str | None = None
    uploaded_at: str | None = None  # ISO-8601 (S3's eventTime)

    @classmethod
    def from_item(cls, item: Mapping[str, Any], key_attribute: str = "key") -> Upload:
        """From a ledger file item, or (``key_attribute="source_key"``) a pointer entry."""
        def text(name: str) -> str | None:
            value = item.get(name)
            return str(value) if value not in (None, "") else None
        return cls(str(item.get(key_attribute) or ""), text("version_id"), text("sequencer"), text("uploaded_at"))

    def as_item(self) -> dict[str, str]:
        """The ordering attributes to store (those known)."""
        return {k: v for k, v in (("version_id", self.version_id), ("sequencer", self.sequencer),
                                  ("uploaded_at", self.uploaded_at)) if v}


def _sequence(sequencer: str | None) -> int | None:
    try:
        return int(sequencer, 16) if sequencer else None  # an integer: the same order as left-padded hex
    except ValueError:
        return None


def _instant(stamp: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def is_newer(candidate: Upload, current: Upload) -> bool:
    """Whether ``candidate`` was put after ``current``.

    The same key: the sequencers decide. Otherwise, or when either lacks one, the upload times do.
    When that cannot decide either (equal times, or a time unknown), the candidate wins: an upload is
    never ignored for want of an order, and a re-delivery of the current put is the same put anyway.
    """
    if candidate.key == current.key:
        mine, theirs = _sequence(candidate.sequencer), _sequence(current.sequencer)
        if mine is not None and theirs is not None and mine != theirs:
            return mine > theirs
    when, then = _instant(candidate.uploaded_at), _instant(current.uploaded_at)
    if when is not None and then is not None and when != then:
        return when > then
    return True


def newest(uploads: Iterable[tuple[Upload, T]]) -> T | None:
    """The payload of the newest upload (e.g. a ledger item), by ``is_newer``; None when there is none.

    Where ``is_newer`` cannot decide, the later one in ``uploads`` wins (its own rule); a checker treats
    such ties as unknowable (``decidable``)."""
    best: tuple[Upload, T] | None = None
    for upload, payload in uploads:
        if best is None or is_newer(upload, best[0]):
            best = (upload, payload)
    return best[1] if best is not None else None


def decidable(a: Upload, b: Upload) -> bool:
    """Whether the order of two different puts is known (not left to the order of processing)."""
    return is_newer(a, b) != is_newer(b, a)
