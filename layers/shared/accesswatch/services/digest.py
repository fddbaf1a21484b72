"""Producing and publishing the weekly digest from a deployment.

Used by the digest function (scheduled each Monday for the ISO week that just ended, New Zealand time)
and by ``accesswatch digest`` (which prints what ``produce`` returns); the domain logic is
``accesswatch.cases.digest``. Publishing sends one message per team manager to the digest topic, then
writes ``digests/week=<YYYY-Www>/digest.json`` to the curated bucket: the file is written last, so it
also marks the week as published (a repeated schedule delivery sends nothing twice).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from accesswatch.cases.digest import (
    Digest,
    TeamDirectory,
    Week,
    build_digest,
    digest_messages,
    directory_from_rows,
)
from accesswatch.dal.digests import DigestFindings, DigestTopic, digest_key
from accesswatch.dal.ledger import Ledger, now_iso
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.dal.risk import RiskStore
from accesswatch.quarters import quarter_end
from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules import RULES_BY_ID

TEAM_COLUMNS = ("user_id", "team", "manager_user_id")


class DigestError(ValueError):
    """The digest cannot be made or published as asked; the message is one line, ids only."""


@dataclass
class DigestSources:
    findings: DigestFindings
    ledger: Ledger
    risk: RiskStore
    store: ObjectStore
    curated_bucket: str


def team_directory(sources: DigestSources) -> TeamDirectory:
    """Team and manager of every staff member from the current reference index; from the current staff
    snapshot if the index predates those columns; none before any reference data arrived."""
    pointer = sources.ledger.reference_pointer() or {}
    snapshot_id = str(pointer["snapshot_id"]) if pointer.get("snapshot_id") else None
    if snapshot_id is not None:
        data = sources.store.get_bytes(sources.curated_bucket, CuratedLayout.reference_index(snapshot_id))
        persons = ReferenceIndex.from_bytes(data).persons
        if set(TEAM_COLUMNS) <= set(persons.columns):
            return directory_from_rows(persons.select(TEAM_COLUMNS).iter_rows(named=True),
                                       source="reference_index", snapshot_id=snapshot_id)
    staff = (pointer.get("kinds") or {}).get("staff")
    if staff:
        data = sources.store.get_bytes(sources.curated_bucket, str(staff["key"]))
        columns = pl.read_parquet_schema(io.BytesIO(data))
        present = [c for c in TEAM_COLUMNS if c in columns]
        if "user_id" in present:
            frame = pl.read_parquet(io.BytesIO(data), columns=present)  # never the personal columns
            return directory_from_rows(frame.iter_rows(named=True), source="staff_snapshot",
                                       snapshot_id=snapshot_id)
    return TeamDirectory({}, "none", snapshot_id)


def week_findings(sources: DigestSources, week: Week) -> Iterator[dict[str, Any]]:
    """Every finding of every catalog rule that occurred in the week (one index query per rule and quarter),
    streamed: a ministry's week is hundreds of thousands of findings, counted as they are read.

    The key condition is a day wider on each side (ISO text compares safely whatever the fraction of a
    second); ``build_digest`` keeps the week's New Zealand days exactly."""
    start = (week.start - timedelta(days=1)).astimezone(UTC).isoformat()
    stop = (week.stop + timedelta(days=1)).astimezone(UTC).isoformat()
    quarters = sorted({quarter_end(day).isoformat() for day in week.days()})
    for rule in RULES_BY_ID:
        for quarter in quarters:
            yield from sources.findings.in_rule_quarter_between(rule, quarter, start, stop)


def produce(sources: DigestSources, week: Week, *, now: datetime | None = None) -> Digest:
    now = now or datetime.now(UTC)
    if not week.started_at(now):
        raise DigestError(f"week {week.id} has not started yet")
    awaiting = [str(row["sk"]) for row in sources.risk.queued()]
    return build_digest(week, week_findings(sources, week), team_directory(sources), generated_at=now,
                        awaiting_case=awaiting)


def publish(digest: Digest, *, store: ObjectStore, bucket: str, topic: DigestTopic,
            republish: bool = False) -> dict[str, Any]:
    """Send each group's message, then write the file. A week already published is left alone unless
    ``republish``; a week not yet over is never published (its digest would be partial)."""
    key = digest_key(digest.week.id)
    summary: dict[str, Any] = {"week": digest.week.id, "key": key, "groups": len(digest.groups),
                               "users_below_threshold": sum(len(g.users) for g in digest.groups),
                               "messages": 0, "already_published": False}
    if not digest.complete:
        raise DigestError(f"week {digest.week.id} has not ended: its digest is published once it has")
    if not republish and store.exists(bucket, key):
        summary["already_published"] = True
        return summary
    sent = []
    for message in digest_messages(digest, key):
        sent.append({"group": message.group, "message_id": topic.publish(message.subject, message.body,
                                                                         message.attributes)})
    store.put_json(bucket, key, {**digest.as_dict(), "published_at": now_iso(), "messages": sent})
    summary["messages"] = len(sent)
    return summary
