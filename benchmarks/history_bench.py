"""Staff access history benchmark: one user's accesses and their team's counts over a year of curated partitions.

    .venv/bin/python benchmarks/history_bench.py [--days 365] [--events-per-day 20000] [--users 8000] [--team 25]

Writes a year of synthetic partitions (one system, one Parquet object per NZ day, the layout and schema
ingestion writes: ``footprint_bench.day_frame``) into in-process moto S3, then answers a staff member's history
through the same code the CLI uses locally (``PartitionHistoryEvents`` over ``PartitionStore``, then
``build_history`` and ``compare_with_team``): one read of the year for the user and the other members of
their team, filtered by user id.

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
from footprint_bench import day_frame, timed

from accesswatch.dal.partitions import PartitionStore
from accesswatch.history import build_history, by_client, by_screen, compare_with_team
from accesswatch.services.history import PartitionHistoryEvents


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--events-per-day", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=500_000)
    parser.add_argument("--users", type=int, default=8_000)
    parser.add_argument("--team", type=int, default=25, help="members of the user's team, the user included")
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
        user = "u42"
        team = [user] + [f"u{1000 + i}" for i in range(args.team - 1)]
        assignments = pl.DataFrame(schema={"user_id": pl.String, "client_id": pl.String, "valid_from": pl.Date,
                                           "valid_to": pl.Date})

        def answer(store: PartitionStore) -> tuple[pl.DataFrame, object]:
            own, stats = PartitionHistoryEvents(store).user_events(user, team, first, last)
            history = build_history(own, assignments=assignments, findings=[])
            by_client(history)
            by_screen(history)
            from accesswatch.history import event_stats

            comparison = compare_with_team(user, "Bench", team, pl.concat([stats, event_stats(own)]), args.days)
            return history, comparison

        rows: list[tuple[str, float, int]] = []
        with tempfile.TemporaryDirectory() as tmp:
            list_s, objects = timed(lambda: PartitionStore(s3, "curated").list(first, last), args.repeats)
            colds = []
            for r in range(args.repeats):
                cache = Path(tmp) / f"cold{r}"
                seconds, result = timed(lambda cache=cache: answer(PartitionStore(s3, "curated", cache_dir=cache)), 1)
                colds.append(seconds)
            rows.append(("cold (download a year into an empty cache, then read)", statistics.median(colds),
                         result[0].height))  # type: ignore[index]
            warm_store = PartitionStore(s3, "curated", cache_dir=Path(tmp) / "cold0")
            seconds, result = timed(lambda: answer(warm_store), args.repeats)
            rows.append(("warm (partitions already in the cache)", seconds, result[0].height))  # type: ignore[index]
            seconds, result = timed(lambda: answer(PartitionStore(s3, "curated")), args.repeats)
            rows.append(("no cache (download and filter in memory)", seconds, result[0].height))  # type: ignore[index]
            comparison = result[1]  # type: ignore[index]

    print("# Staff access history benchmark\n")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"polars {pl.__version__}")
    print(f"- data: {args.days} NZ days x {args.events_per_day:,} events = {args.days * args.events_per_day:,} "
          f"events, {args.clients:,} clients, {args.users:,} users; {len(objects):,} partition objects, "  # type: ignore[arg-type]
          f"{total_bytes / 2**20:,.0f} MiB of Parquet (zstd) in in-process moto S3 (written in {generate_s:.0f} s)")
    print(f"- the user's team: {args.team} members (their counts read in the same pass)")
    print(f"- listing the year's partitions: {list_s * 1000:.0f} ms (median of {args.repeats})\n")
    print("| history of one user over the year, with the team comparison | seconds (median) | accesses found |")
    print("|---|---:|---:|")
    for label, seconds, found in rows:
        print(f"| {label} | {seconds:.2f} | {found} |")
    print()
    print("Team comparison computed: " + "; ".join(line.strip() for line in comparison.lines()))  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
