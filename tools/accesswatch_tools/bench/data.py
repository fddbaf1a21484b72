"""Benchmark inputs: a ministry-scale day, a large gzip CSV, and a slice of the day.

The day comes from the synthetic world generator (:func:`accesswatch_tools.world.generate`): 8,044 users
including service accounts, 500,000 clients, one day of access logs in every supported format, with
the generator's quarantinable lines and duplicate deliveries, and its ground truth. The large gzip
CSV is made with polars (seconds, not minutes) from the day's own user and client ids; its content
only has to look like an export, not to carry planted scenarios.
"""

from __future__ import annotations

import gzip
import io
import math
import shutil
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

MINISTRY_USERS = 8_044  # including service accounts
MINISTRY_CLIENTS = 500_000
DAY = datetime(2025, 3, 31, tzinfo=UTC)  # the synthetic generator's default start


def ministry_day(out_dir: Path, *, events: int, seed: int = 8, staff: int = MINISTRY_USERS,
                 clients: int = MINISTRY_CLIENTS) -> dict[str, Any]:
    """One ministry day (about ``events`` events) under ``out_dir`` (reference/, logs/, truth); a smaller
    ``staff`` and ``clients`` make a smaller day of the same shape (for trying the benchmark out)."""
    from accesswatch_tools.world import generate

    summary = generate(out_dir, staff=staff, clients=clients, days=1, seed=seed,
                       events_per_user_day=max(1, math.ceil(events / staff)))
    return summary.model_dump(mode="json")


# `accesswatch synth`'s shape (20,000 clients, 14 days of logs) gives about 350 events per staff member
# (1,316 staff: 461,068 events, seed 8).
WORLD_EVENTS_PER_STAFF = 350


def synth_world(out_dir: Path, *, events: int, seed: int = 8) -> dict[str, Any]:
    """The world ``accesswatch synth`` writes with its default shape (20,000 clients, 14 days of logs),
    its staff scaled so that it holds about ``events`` events: what ``accesswatch run`` is timed on."""
    from accesswatch_tools.world import generate

    return generate(out_dir, staff=world_staff(events), seed=seed).model_dump(mode="json")


def world_staff(events: int) -> int:
    return max(10, math.ceil(events / WORLD_EVENTS_PER_STAFF))


def day_ids(day_dir: Path) -> tuple[list[str], list[str]]:
    """The user ids and client ids of a generated day's reference snapshots."""
    staff = pl.read_csv(day_dir / "reference" / "staff.csv", infer_schema=False, columns=["user_id"])
    clients = pl.read_csv(day_dir / "reference" / "clients.csv.gz", infer_schema=False, columns=["client_id"])
    return staff["user_id"].to_list(), clients["client_id"].to_list()


def gzip_csv(path: Path, *, lines: int, users: list[str], clients: list[str], seed: int = 1,
             chunk_rows: int = 250_000, level: int = 6) -> dict[str, Any]:
    """A gzip CSV access log of ``lines`` events (one gzip member, written in chunks: bounded memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    raw = 0
    with path.open("wb") as out:
        for start in range(0, lines, chunk_rows):
            frame = _events(start, min(chunk_rows, lines - start), users, clients, seed)
            buffer = io.BytesIO()
            frame.write_csv(buffer, include_header=start == 0)
            data = buffer.getvalue()
            raw += len(data)
            out.write(compressor.compress(data))
        out.write(compressor.flush())
    return {"path": str(path), "lines": lines, "bytes": path.stat().st_size, "uncompressed_bytes": raw}


def _events(start: int, n: int, users: list[str], clients: list[str], seed: int) -> pl.DataFrame:
    """``n`` plausible access events: office-hours NZ times, ISO-8601 with Z or +13:00, some fractions."""
    rng = pl.int_range(0, n, eager=True)
    noise = (rng + start).hash(seed)  # deterministic pseudo-random u64 per row

    def pick(values: list[str], salt: int) -> pl.Series:
        index = ((rng + start).hash(seed + salt) % len(values)).cast(pl.Int64)
        return pl.Series(values, dtype=pl.String).gather(index)

    # 07:00-19:00 New Zealand daylight time (UTC+13) on the day, to the microsecond.
    micros = (noise % (12 * 3600 * 1_000_000)).cast(pl.Int64) + int((DAY.timestamp() - 6 * 3600) * 1_000_000)
    instant = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    style = (noise // 7) % 20
    utc = instant.dt.strftime("%Y-%m-%dT%H:%M:%S")
    nz = instant.dt.convert_time_zone("Pacific/Auckland").dt.strftime("%Y-%m-%dT%H:%M:%S")
    millis = instant.dt.strftime("%.3f")
    frame = pl.DataFrame({
        "n": rng + start,
        "style": style, "utc": utc, "nz": nz, "millis": millis,
        "user_id": pick(users, 1), "client_id": pick(clients, 2),
        "action": pick(["view"] * 14 + ["search"] * 3 + ["update"] * 2 + ["print"], 3),
        "screen": pick(["summary"] * 6 + ["notes", "payments", "payments", "relationships", "address", "contact",
                        "date_of_birth", "ird_number", ""], 4),
        "site": pick(["Wellington, Level 3", "Manukau", "Christchurch", "Hamilton", "Dunedin", "Napier"], 5),
    })
    return frame.select(
        pl.concat_str(pl.lit("bench-"), pl.col("n").cast(pl.String).str.zfill(10)).alias("event_id"),
        pl.when(pl.col("style") < 8).then(pl.col("utc") + "Z")
        .when(pl.col("style") < 16).then(pl.col("nz") + "+13:00")
        .otherwise(pl.col("nz") + pl.col("millis") + "+13:00").alias("occurred_at"),
        "user_id", "client_id", "action",
        pl.col("screen").replace("", None),
        "site",
        pl.concat_str(pl.lit("sess-"), (pl.col("n") // 40).cast(pl.String).str.zfill(8)).alias("session_id"),
    )


def slice_day(day_dir: Path, out_dir: Path, *, events: int) -> dict[str, Any]:
    """The day's reference snapshots and the first lines of each of its log files (about ``events`` in all).

    The generator writes each file in time order and shards the day by time, so the first lines of
    every file sample the whole day; the finding rate of the slice is the day's.
    """
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(day_dir / "reference", out_dir / "reference")
    files = sorted(p for p in (day_dir / "logs").iterdir() if p.is_file())
    per_file = max(1, events // max(1, len(files)))
    (out_dir / "logs").mkdir(parents=True)
    taken = 0
    for path in files:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as source:  # type: ignore[operator]
            head = [source.readline() for _ in range(per_file + (1 if ".csv" in path.name else 0))]
        data = b"".join(head)
        if data and not data.endswith(b"\n"):
            data += b"\n"
        target = out_dir / "logs" / path.name
        target.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
        taken += sum(1 for line in head if line) - (1 if ".csv" in path.name else 0)
    return {"dir": str(out_dir), "lines": taken, "files": len(files)}
