"""Handling every record of an S3 notification, once each: shared by the ingest and reference functions."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.models import S3Notification, S3Record, SourceObject


class ObjectsFailed(RuntimeError):
    """Some objects of the notification failed; raising makes Lambda retry (then its dead-letter queue)."""


class Identity(StrEnum):
    """What makes an object the same file again, for the idempotency table and the ledger item.

    CONTENT (access logs): bucket, key and ETag. A re-delivered notification and an identical re-upload
    are the same file: its events are already in, and a second copy would only be duplicates.
    PUT (reference snapshots): bucket, key, ETag and the put (version id, else the event's sequencer).
    A re-delivered notification is the same put; a new put of the same bytes is a new snapshot, because
    which put is the newest decides the current reference data (putting back an earlier file restores it).
    """

    CONTENT = "content"
    PUT = "put"

    def file_id(self, obj: SourceObject) -> str:
        return obj.put_id if self is Identity.PUT else obj.ingest_id

    @property
    def event_key(self) -> str:
        """The idempotency key (JMESPath over ``SourceObject``'s fields). For PUT both the version id and
        the sequencer are in it: a notification delivered again carries both unchanged, while a put on an
        unversioned bucket (version id absent or "null") differs by its sequencer."""
        return "[bucket, key, etag, version_id, sequencer]" if self is Identity.PUT else "[bucket, key, etag]"


def marking_failures(ledger: Ledger, what: str, process: Callable[[SourceObject], dict[str, Any]],
                     identity: Identity = Identity.CONTENT) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Wrap ``process`` so that an unexpected failure leaves the file's ledger item FAILED (ids only)."""
    def run(source: dict[str, Any]) -> dict[str, Any]:
        obj = SourceObject(**source)
        try:
            return process(obj)
        except Exception as exc:
            # Name the object too (and the put): a failure before the file's ledger item was started still
            # says which file it was, so `accesswatch redrive` can deliver it again.
            put = {k: v for k, v in (("version_id", obj.version_id), ("sequencer", obj.sequencer),
                                     ("uploaded_at", obj.event_time)) if v}
            ledger.update_file(identity.file_id(obj), FileStatus.FAILED, reason=f"{type(exc).__name__} while {what}",
                               bucket=obj.bucket, key=obj.key, etag=obj.etag, **put)
            raise
    return run


# A re-delivered notification (or, for CONTENT, an identical re-upload) within this time returns the
# first result.
IDEMPOTENCY_SECONDS = 30 * 24 * 3600


def once_per_object(idempotency_table: str, ledger: Ledger, what: str,
                    process: Callable[[SourceObject], dict[str, Any]], *, identity: Identity = Identity.CONTENT
                    ) -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    """``process`` made safe to deliver twice: once per file as ``identity`` tells files apart (CONTENT:
    bucket, key, ETag; PUT: also the version id and sequencer), recorded in the idempotency table, with an
    unexpected failure marked FAILED in the ledger (``marking_failures``). Returns the idempotency config
    (the handler registers its Lambda context with it) and ``once(source=...)``."""
    config = IdempotencyConfig(event_key_jmespath=identity.event_key, expires_after_seconds=IDEMPOTENCY_SECONDS)
    persistence = DynamoDBPersistenceLayer(table_name=idempotency_table)
    run = marking_failures(ledger, what, process, identity)

    @idempotent_function(data_keyword_argument="source", config=config, persistence_store=persistence)
    def once(source: dict[str, Any]) -> dict[str, Any]:
        return run(source)

    return config, once


def for_each_created_object(notification: S3Notification, process: Callable[[dict[str, Any]], dict[str, Any]], *,
                            logger: Logger, metrics: Metrics, failure_metric: str,
                            identity: Identity = Identity.CONTENT) -> list[tuple[S3Record, dict[str, Any]]]:
    """Process every created object (never only the first); fail the invocation if any failed."""
    created = notification.created()
    done: list[tuple[S3Record, dict[str, Any]]] = []
    failures = 0
    for record in created:
        source = record.source()
        logger.append_keys(object_key=source.key, ingest_id=identity.file_id(source))
        try:
            result = process(source.__dict__)
        except Exception as exc:  # noqa: BLE001 - every record is attempted; the failure is re-raised below
            logger.exception("object failed", extra={"error_type": type(exc).__name__})
            metrics.add_metric(name=failure_metric, unit=MetricUnit.Count, value=1)
            failures += 1
            continue
        done.append((record, result))
    logger.remove_keys(["object_key", "ingest_id"])
    if failures:
        # Finished records are idempotent: the retry returns their first result.
        raise ObjectsFailed(f"{failures} of {len(created)} objects failed")
    return done
