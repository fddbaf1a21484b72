"""Footprint benchmark: one client's accesses over a year of curated partitions.

    .venv/bin/python benchmarks/footprint_bench.py [--days 365] [--events-per-day 50000] [--clients 500000]

Writes a year of synthetic partitions (one system, one Parquet object per NZ day, the layout and
schema ingestion writes) into in-process moto S3, then answers footprints through the same code the
CLI uses locally (``PartitionEvents`` over ``PartitionStore``, then ``build_footprint``):

- cold: partitions downloaded from S3 into an empty cache directory, then read;
- warm: the cache directory already holds them (the CLI keeps it in the local endpoint's state dir);
- no cache: every object downloaded and filtered in memory.

All data is generated in-script (fictional, seeded). Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from accesswatch.contract import EVENT_SCHEMA
from accesswatch.dal.partitions import PartitionStore
from accesswatch.footprint import build_footprint
from accesswatch.quarters import NZ_TZ_NAME
from accesswatch.services.footprint import PartitionEvents

ACTIONS = ["view", "view", "view", "search", "update", "print", "export"]
SCREENS = ["summary", "address", "contact", "payments", "notes", "relationships", "date_of_birth", "ird_number"]


def day_frame(day: date, n: int, clients: int, users: int, seed: int) -> pl.DataFrame:
    i = pl.int_range(0, n, eager=False)
    start = pl.lit(day).cast(pl.Datetime("us")).dt.replace_time_zone(NZ_TZ_NAME)
    frame = pl.select(
        pl.lit("cms").alias("system"),
        (pl.lit(f"{day:%Y%m%d}-") + i.cast(pl.String)).alias("event_id"),
        (start + pl.duration(seconds=(i.hash(seed) % 86_400).cast(pl.Int64))).dt.convert_time_zone("UTC")
        .alias("occurred_at_utc"),
        pl.lit(day).alias("nz_date"),
        (pl.lit("u") + (i.hash(seed + 1) % users).cast(pl.String)).alias("user_id"),
        ((i.hash(seed + 2) % clients) + 1).cast(pl.String).str.zfill(7).alias("client_id"),
        pl.lit(ACTIONS).list.get((i.hash(seed + 3) % len(ACTIONS)).cast(pl.Int64)).alias("action"),
        pl.lit(SCREENS).list.get((i.hash(seed + 4) % len(SCREENS)).cast(pl.Int64)).alias("screen"),
        pl.lit("WLG").alias("site"),
        pl.lit(None, dtype=pl.String).alias("session_id"),
        pl.lit(f"access-logs/cms/{day}.csv").alias("source_key"),
        (i + 2).cast(pl.Int64).alias("line"),
        pl.lit("{}").alias("extra"),
    ).with_columns(pl.col("occurred_at_utc").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ").alias("occurred_at"))
    return frame.select(EVENT_SCHEMA.names()).cast(dict(EVENT_SCHEMA))  # type: ignore[arg-type]


def timed(fn, repeats: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--events-per-day", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=500_000)
    parser.add_argument("--users", type=int, default=8_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from moto import mock_aws

    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-southeast-2")
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="ap-southeast-2")
        s3.create_bucket(Bucket="curated", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        first = date(2024, 4, 1)
        started = time.perf_counter()
        total_bytes = 0
        for n in range(args.days):
            day = first + timedelta(days=n)
            buffer = io.BytesIO()
            day_frame(day, args.events_per_day, args.clients, args.users, n).write_parquet(
                buffer, compression="zstd", statistics=True)
            total_bytes += buffer.tell()
            s3.put_object(Bucket="curated", Key=f"events/system=cms/nz_date={day}/bench-{n:05d}-00000.parquet",
                          Body=buffer.getvalue())
        generate_s = time.perf_counter() - started
        last = first + timedelta(days=args.days - 1)
        staff = pl.DataFrame({"user_id": [f"u{i}" for i in range(args.users)],
                              "role": ["case manager"] * args.users, "team": ["Porirua"] * args.users,
                              "account_type": ["person"] * args.users})
        assignments = pl.DataFrame(schema={"user_id": pl.String, "client_id": pl.String, "valid_from": pl.Date,
                                           "valid_to": pl.Date})
        client = "0000042"

        def answer(store: PartitionStore) -> pl.DataFrame:
            events = PartitionEvents(store).client_events(client, first, last)
            return build_footprint(events, staff=staff, assignments=assignments, findings=[])

        rows: list[tuple[str, float, int]] = []
        with tempfile.TemporaryDirectory() as tmp:
            list_s, objects = timed(lambda: PartitionStore(s3, "curated").list(first, last), args.repeats)
            colds = []
            for r in range(args.repeats):
                cache = Path(tmp) / f"cold{r}"
                seconds, frame = timed(lambda cache=cache: answer(PartitionStore(s3, "curated", cache_dir=cache)), 1)
                colds.append(seconds)
            rows.append(("cold (download a year into an empty cache, then read)", statistics.median(colds),
                         frame.height))  # type: ignore[union-attr]
            warm_store = PartitionStore(s3, "curated", cache_dir=Path(tmp) / "cold0")
            seconds, frame = timed(lambda: answer(warm_store), args.repeats)
            rows.append(("warm (partitions already in the cache)", seconds, frame.height))  # type: ignore[union-attr]
            seconds, frame = timed(lambda: answer(PartitionStore(s3, "curated")), args.repeats)
            rows.append(("no cache (download and filter in memory)", seconds, frame.height))  # type: ignore[union-attr]

    print("# Footprint benchmark\n")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"polars {pl.__version__}")
    print(f"- data: {args.days} NZ days x {args.events_per_day:,} events = {args.days * args.events_per_day:,} "
          f"events, {args.clients:,} clients, {args.users:,} users; {len(objects):,} partition objects, "  # type: ignore[arg-type]
          f"{total_bytes / 2**20:,.0f} MiB of Parquet (zstd) in in-process moto S3 (written in {generate_s:.0f} s)")
    print(f"- listing the year's partitions: {list_s * 1000:.0f} ms (median of {args.repeats})\n")
    print("| footprint of one client over the year | seconds (median) | accesses found |")
    print("|---|---:|---:|")
    for label, seconds, found in rows:
        print(f"| {label} | {seconds:.2f} | {found} |")


if __name__ == "__main__":
    main()
