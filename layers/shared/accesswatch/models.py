"""The value types shared across the runtime package: the input every handler parses (pydantic v2) and
what a raw-bucket object is.

S3 notifications are modelled leniently: only the fields accesswatch needs are required, so the
same model reads AWS's full records, the samples in events/ and the embedded runtime's records.
This module imports nothing of accesswatch but ``quarters``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from accesswatch.quarters import Period, last_complete_quarter, nz_week_bounds

# ------------------------------------------------------------------ raw-bucket objects

ACCESS_LOG_PREFIX = "access-logs/"
REFERENCE_PREFIX = "reference/"


@dataclass(frozen=True)
class SourceObject:
    """One object of an S3 notification: what it is, and which put of it the notification reports."""

    bucket: str
    key: str  # URL-decoded
    etag: str
    version_id: str | None = None
    size: int | None = None
    sequencer: str | None = None  # hex; orders the puts (and deletes) of one key (S3 notifications carry it)
    event_time: str | None = None  # ISO-8601 UTC, milliseconds: when S3 finished the put (the event's eventTime)

    @classmethod
    def from_notification(cls, bucket: str, raw_key: str, etag: str | None, version_id: str | None,
                          size: int | None, sequencer: str | None = None,
                          event_time: datetime | None = None) -> SourceObject:
        return cls(bucket, unquote_plus(raw_key), (etag or "").strip('"'), version_id, size, sequencer or None,
                   utc_iso(event_time) if event_time is not None else None)

    @property
    def ingest_id(self) -> str:
        """Stable for the same content at the same key: a re-delivery or identical re-upload maps here."""
        identity = f"{self.bucket}\x1f{self.key}\x1f{self.etag or self.version_id or ''}"
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]

    @property
    def put(self) -> str | None:
        """Which put of the key this is: its version id (versioned bucket), else the event's sequencer;
        None when the notification carries neither (then a put cannot be told from a re-delivery)."""
        if self.version_id and self.version_id != "null":  # "null": a put while versioning was off
            return f"v:{self.version_id}"
        return f"s:{self.sequencer}" if self.sequencer else None

    @property
    def put_id(self) -> str:
        """Stable for one put, whatever delivers its notification again; new for every put, even of the same
        bytes (reference snapshots are identified so: the newest put of a kind is current). Without a version
        id or sequencer it is ``ingest_id``."""
        if self.put is None:
            return self.ingest_id
        identity = f"{self.bucket}\x1f{self.key}\x1f{self.etag}\x1f{self.put}"
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def utc_iso(moment: datetime) -> str:
    """``2025-04-01T02:15:00.000Z``: UTC, milliseconds (S3's eventTime form); a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


# ------------------------------------------------------------------ handler inputs


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3Bucket(_Lenient):
    name: str


class S3Object(_Lenient):
    key: str
    size: int | None = None
    etag: str | None = Field(default=None, alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")
    sequencer: str | None = None


class S3Entity(_Lenient):
    bucket: S3Bucket
    object: S3Object


class S3Record(_Lenient):
    event_source: str = Field(default="aws:s3", alias="eventSource")
    event_name: str = Field(alias="eventName")
    event_time: datetime | None = Field(default=None, alias="eventTime")
    s3: S3Entity

    def source(self) -> SourceObject:
        obj = self.s3.object
        return SourceObject.from_notification(self.s3.bucket.name, obj.key, obj.etag, obj.version_id, obj.size,
                                              obj.sequencer, self.event_time)


class S3Notification(_Lenient):
    """An S3 event notification with one or more records (S3's test event has none)."""

    records: list[S3Record] = Field(default_factory=list, alias="Records")
    event: str | None = Field(default=None, alias="Event")  # "s3:TestEvent"

    def created(self) -> list[S3Record]:
        return [r for r in self.records if r.event_name.startswith("ObjectCreated")]


class Partition(_Lenient):
    bucket: str
    key: str
    rows: int
    system: str
    nz_date: str


class DetectRequest(_Lenient):
    """One Distributed Map item: a partition and the reference snapshot to judge it against."""

    partition: Partition
    snapshot_id: str
    ingest_id: str


class DetectionOutcome(_Lenient):
    ingest_id: str
    outcome: Literal["detected", "failed"]
    partitions: list[dict[str, Any]] = Field(default_factory=list)
    error: dict[str, Any] | None = None


class CaseQueueRequest(_Lenient):
    """The case-queue function's input: open queued cases within the day's budget (after each detection
    execution and daily), or draw the week's random review (weekly; ``week`` defaults to the last
    complete ISO week in New Zealand)."""

    action: Literal["drain", "random_review"]
    week: str | None = Field(default=None, pattern=r"^\d{4}-W\d{2}$")
    source: str = "schedule"


class DigestRequest(_Lenient):
    """The digest function's input: the schedule's ``{"source": "schedule"}`` (the last complete ISO week in
    New Zealand) or a ``week`` on demand; ``republish`` sends a week's messages again."""

    week: str | None = Field(default=None, pattern=r"^\d{4}-W\d{2}$")
    source: str = "schedule"
    republish: bool = False

    @field_validator("week")
    @classmethod
    def _real_week(cls, value: str | None) -> str | None:
        if value is not None:
            nz_week_bounds(value)  # ValueError for 2025-W54 and the like
        return value


class CaseStepRequest(BaseModel):
    """One task of the case state machine: ``step`` names it; the rest is the step's own payload."""

    model_config = ConfigDict(extra="allow")
    step: str
    case_id: str


class ReportRequest(BaseModel):
    """The report function's input: the schedule's ``{"source": "schedule"}`` or a period on demand."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: str = "on_demand"
    period_from: date | None = Field(default=None, alias="from")
    period_to: date | None = Field(default=None, alias="to")
    quarters: int = Field(default=4, ge=1, le=40)
    systems: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _both_or_neither(self) -> ReportRequest:
        if (self.period_from is None) != (self.period_to is None):
            raise ValueError("give both 'from' and 'to', or neither (the last whole quarters)")
        return self

    def period(self, now: datetime) -> Period:
        """The period asked for, or the last ``quarters`` whole quarters before ``now``."""
        if self.period_from is not None and self.period_to is not None:
            return Period(self.period_from, self.period_to)
        return Period.of_quarters(last_complete_quarter(now), self.quarters)
