"""Event models the handlers parse their input with (pydantic v2).

S3 notifications are modelled leniently: only the fields accesswatch needs are required, so the
same model reads AWS's full records, the samples in events/ and the embedded runtime's records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accesswatch.quarters import nz_week_bounds
from accesswatch.services.files import SourceObject


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
        return SourceObject.from_notification(self.s3.bucket.name, obj.key, obj.etag, obj.version_id, obj.size)


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
