"""Client footprints: the Athena query text, the polars answer, and reading partitions back."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from accesswatch.contract import EVENT_SCHEMA
from accesswatch.dal.athena import AthenaQueries, AthenaQueryFailed
from accesswatch.dal.partitions import PartitionStore, parse_partition_key
from accesswatch.footprint import (
    EVENT_COLUMNS,
    FOOTPRINT_COLUMNS,
    build_footprint,
    distinct_users_sql,
    footprint_sql,
    typed_events,
)
from accesswatch.quarters import nz_date, parse_instant


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    full = []
    for i, r in enumerate(rows):
        instant = parse_instant(r["occurred_at"])
        full.append({"system": "cms", "event_id": f"e{i}", "screen": None, "site": "WLG", "session_id": None,
                     "source_key": "k", "line": i + 2, "extra": "{}", "action": "view",
                     "occurred_at_utc": instant, "nz_date": nz_date(instant), **r})
    return pl.DataFrame(full, schema=EVENT_SCHEMA)


STAFF = pl.DataFrame({"user_id": ["u.ana", "u.ben", "svc.batch"], "family_name": ["Ngata", "Smith", None],
                      "given_names": ["Ana", "Ben", None], "role": ["case manager", "analyst", None],
                      "team": ["Porirua", "Fraud", "Batch"], "account_type": ["person", "person", "service"]})
ASSIGNMENTS = pl.DataFrame({"user_id": ["u.ana"], "client_id": ["000123"], "valid_from": [date(2025, 3, 1)],
                            "valid_to": [date(2025, 3, 31)]})


def test_a_footprint_lists_every_access_with_cover_and_findings_and_no_names() -> None:
    ev = events(
        {"event_id": "late", "occurred_at": "2025-03-31T23:30:00+13:00", "user_id": "u.ana", "client_id": "000123"},
        {"event_id": "april", "occurred_at": "2025-03-31T11:30:00Z", "user_id": "u.ana", "client_id": "000123",
         "screen": "address"},
        {"event_id": "ben", "occurred_at": "2025-03-15T09:00:00+13:00", "user_id": "u.ben", "client_id": "000123",
         "action": "print"},
        {"event_id": "ben", "occurred_at": "2025-03-15T09:00:00+13:00", "user_id": "u.ben", "client_id": "000123",
         "action": "print"},  # delivered twice
        {"event_id": "svc", "occurred_at": "2025-03-20T02:00:00+13:00", "user_id": "svc.batch",
         "client_id": "000123", "action": "export"},
        {"event_id": "who", "occurred_at": "2025-03-21T02:00:00+13:00", "user_id": "u.gone", "client_id": "000123"},
    )
    findings = [
        {"system": "cms", "event_id": "april", "rule": "SENSITIVE_LOOKUP", "finding_id": "f2", "case_id": "CASE-1"},
        {"system": "cms", "event_id": "april", "rule": "OUT_OF_HOURS_SENSITIVE", "finding_id": "f3",
         "case_id": "CASE-1"},
        {"system": "cms", "event_id": "ben", "rule": "COLLEAGUE_RECORD", "finding_id": "f1", "case_id": None},
        {"system": "payment", "event_id": "late", "rule": "SELF_RECORD", "finding_id": "f9", "case_id": "CASE-9"},
    ]
    out = build_footprint(ev, staff=STAFF, assignments=ASSIGNMENTS, findings=findings)
    assert tuple(out.columns) == FOOTPRINT_COLUMNS
    assert not {"family_name", "given_names", "staff_family_name"} & set(out.columns)
    rows = {r["event_id"]: r for r in out.to_dicts()}
    assert out["event_id"].to_list() == ["ben", "svc", "who", "late", "april"]  # by instant, each once
    assert rows["late"]["assignment_covered"] is True  # last NZ day of the assignment
    assert rows["late"]["occurred_at_nz"] == "2025-03-31T23:30:00+13:00"
    assert rows["late"]["findings"] == ""  # the payment system's event "late" is another event
    assert rows["april"]["assignment_covered"] is False  # 00:30 on 1 April in New Zealand
    assert rows["april"]["nz_date"] == date(2025, 4, 1)
    assert rows["april"]["occurred_at"] == "2025-03-31T11:30:00Z"  # as the source wrote it
    assert rows["april"]["findings"] == "OUT_OF_HOURS_SENSITIVE;SENSITIVE_LOOKUP"
    assert rows["april"]["case_ids"] == "CASE-1"
    assert rows["ben"]["role"] == "analyst" and rows["ben"]["team"] == "Fraud"
    assert rows["ben"]["findings"] == "COLLEAGUE_RECORD" and rows["ben"]["case_ids"] == ""
    assert rows["svc"]["account_type"] == "service"
    assert rows["who"]["role"] is None  # not in the staff snapshot
    named = build_footprint(ev, staff=STAFF, assignments=ASSIGNMENTS, findings=findings, with_names=True)
    assert named.filter(pl.col("event_id") == "late")["staff_family_name"].to_list() == ["Ngata"]


def test_athena_text_columns_give_the_same_footprint_as_parquet() -> None:
    ev = events({"event_id": "a", "occurred_at": "2025-03-31T23:30:00.250+13:00", "user_id": "u.ana",
                 "client_id": "000123"})
    as_text = ev.select(EVENT_COLUMNS).with_columns(
        pl.col("nz_date").cast(pl.String),
        pl.col("occurred_at_utc").dt.strftime("%Y-%m-%d %H:%M:%S%.3f UTC"),  # Athena's CAST(timestamp AS varchar)
    )
    assert typed_events(as_text).equals(typed_events(ev))
    kwargs: dict[str, Any] = {"staff": STAFF, "assignments": ASSIGNMENTS, "findings": []}
    assert build_footprint(as_text, **kwargs).equals(build_footprint(ev, **kwargs))


def test_the_athena_query_prunes_partitions_and_passes_values_as_parameters() -> None:
    sql, params = footprint_sql("accesswatch_prod", "events", "O'Brien-01", date(2024, 4, 1), date(2025, 3, 31),
                                systems=["cms", "payment"])
    assert sql.startswith('SELECT "system", "event_id", "occurred_at", CAST("occurred_at_utc" AS varchar)')
    assert 'FROM "accesswatch_prod"."events"' in sql
    assert "nz_date BETWEEN CAST(? AS date) AND CAST(? AS date)" in sql
    assert "client_id = ?" in sql and "system IN (?, ?)" in sql
    assert sql.count("?") == len(params)
    assert params == ["'2024-04-01'", "'2025-03-31'", "'O''Brien-01'", "'cms'", "'payment'"]
    assert "Brien" not in sql and "2024" not in sql
    assert sql.endswith("ORDER BY occurred_at_utc, system, event_id")
    sql, params = footprint_sql('we"ird-db', "events", "1", date(2025, 1, 1), date(2025, 1, 1))
    assert 'FROM "we""ird-db"."events"' in sql and "system IN" not in sql and len(params) == 3
    with pytest.raises(ValueError):
        footprint_sql("d", "t", "1", date(2025, 1, 2), date(2025, 1, 1))
    sql, params = distinct_users_sql("d", "events", date(2025, 1, 1), date(2025, 3, 31), ["cms"])
    assert sql.startswith("SELECT DISTINCT user_id") and params == ["'2025-01-01'", "'2025-03-31'", "'cms'"]


class FakeAthena:
    """Just enough of the Athena API to check the polling and the result paging."""

    def __init__(self, states: list[str], pages: list[list[list[str | None]]]) -> None:
        self.states = states
        self.pages = pages
        self.started: dict[str, Any] = {}
        self.stopped = False

    def start_query_execution(self, **kwargs: Any) -> dict[str, str]:
        self.started = kwargs
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803 - the API's name
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"QueryExecution": {"Status": {"State": state, "StateChangeReason": "syntax"}}}

    def stop_query_execution(self, QueryExecutionId: str) -> None:  # noqa: N803
        self.stopped = True

    def get_paginator(self, name: str) -> Any:
        pages = self.pages

        class Paginator:
            def paginate(self, **_: Any) -> Any:
                for page in pages:
                    yield {"ResultSet": {"Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]}
                                                  for row in page]}}

        return Paginator()


def test_athena_queries_poll_then_read_every_page() -> None:
    fake = FakeAthena(["QUEUED", "RUNNING", "SUCCEEDED"],
                      [[["user_id", "nz_date"], ["u1", "2025-01-01"]], [["u2", None]]])
    frame = AthenaQueries(fake, "wg", "db", poll_s=0).run("SELECT 1", ["'x'"])
    assert frame.to_dicts() == [{"user_id": "u1", "nz_date": "2025-01-01"}, {"user_id": "u2", "nz_date": None}]
    assert fake.started == {"QueryString": "SELECT 1", "WorkGroup": "wg",
                            "QueryExecutionContext": {"Database": "db"}, "ExecutionParameters": ["'x'"]}
    with pytest.raises(AthenaQueryFailed, match="FAILED: syntax"):
        AthenaQueries(FakeAthena(["FAILED"], []), "wg", "db", poll_s=0).run("SELECT", [])
    slow = FakeAthena(["RUNNING"], [])
    with pytest.raises(AthenaQueryFailed, match="still RUNNING"):
        AthenaQueries(slow, "wg", "db", poll_s=0, timeout_s=0).run("SELECT", [])
    assert slow.stopped


@pytest.fixture
def bucket() -> Any:
    from moto import mock_aws

    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="ap-southeast-2")
        s3.create_bucket(Bucket="curated", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        yield s3


def put_partition(s3: Any, system: str, day: str, name: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    s3.put_object(Bucket="curated", Key=f"events/system={system}/nz_date={day}/{name}.parquet", Body=buffer.getvalue())


def test_partitions_are_listed_by_nz_date_and_read_with_a_filter(bucket: Any, tmp_path: Path) -> None:
    for system in ("cms", "payment"):
        for day in ("2025-03-30", "2025-03-31", "2025-04-01", "2025-04-02"):
            for n in range(2):
                stamp = f"{day}T10:00:00+13:00"
                put_partition(bucket, system, day, f"ingest-{n:05d}", events(
                    {"event_id": f"{system}-{day}-{n}", "occurred_at": stamp, "user_id": f"u{n}",
                     "client_id": "000123" if n else "000999", "system": system}))
    bucket.put_object(Bucket="curated", Key="events/system=cms/nz_date=2025-03-31/_SUCCESS", Body=b"")
    store = PartitionStore(bucket, "curated", workers=4)
    assert store.systems() == ["cms", "payment"]
    listed = store.list(date(2025, 3, 31), date(2025, 4, 1))
    assert sorted({(o.system, o.nz_date.isoformat()) for o in listed}) == [
        ("cms", "2025-03-31"), ("cms", "2025-04-01"), ("payment", "2025-03-31"), ("payment", "2025-04-01")]
    assert len(listed) == 8
    assert [o.key for o in store.list(date(2025, 4, 2), date(2025, 12, 31), ["payment"])] == [
        "events/system=payment/nz_date=2025-04-02/ingest-00000.parquet",
        "events/system=payment/nz_date=2025-04-02/ingest-00001.parquet"]
    assert store.list(date(2026, 1, 1), date(2026, 2, 1)) == []
    mine = store.read(listed, ["event_id", "client_id"], pl.col("client_id") == "000123")
    assert sorted(mine["event_id"].to_list()) == sorted(
        f"{s}-{d}-1" for s in ("cms", "payment") for d in ("2025-03-31", "2025-04-01"))
    cached = PartitionStore(bucket, "curated", cache_dir=tmp_path / "cache")
    again = cached.read(listed, ["event_id", "client_id"], pl.col("client_id") == "000123")
    assert sorted(again["event_id"].to_list()) == sorted(mine["event_id"].to_list())
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 8
    assert cached.read([], ["event_id"]).schema == pl.Schema({"event_id": pl.String})
    assert parse_partition_key("events/system=cms/nz_date=2025-03-31/a.parquet") == ("cms", date(2025, 3, 31))
    assert parse_partition_key("events/system=cms/nz_date=2025-03-31/_SUCCESS") is None

