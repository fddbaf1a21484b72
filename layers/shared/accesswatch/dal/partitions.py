"""Reading curated event partitions back (``events/system=<s>/nz_date=<d>/*.parquet``) with polars.

Partitions are listed by key prefix for a date range (S3 lists keys in order, so one paginated
listing per system starting at the first day), downloaded in parallel and read with only the
columns asked for. Partition objects never change once written (their names carry the ingest id),
so a local cache directory, keyed by key and ETag, makes repeated questions (footprints) fast.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from accesswatch.contract import EVENT_SCHEMA

EVENTS_PREFIX = "events/"
_KEY = re.compile(r"^events/system=(?P<system>[^/]+)/nz_date=(?P<day>\d{4}-\d{2}-\d{2})/[^/]+\.parquet$")


@dataclass(frozen=True)
class PartitionObject:
    key: str
    system: str
    nz_date: date
    etag: str
    size: int


def parse_partition_key(key: str) -> tuple[str, date] | None:
    match = _KEY.match(key)
    if match is None:
        return None
    return match["system"], date.fromisoformat(match["day"])


class PartitionStore:
    def __init__(self, client: Any, bucket: str, *, cache_dir: Path | None = None, workers: int = 16) -> None:
        self.s3 = client
        self.bucket = bucket
        self.cache_dir = cache_dir
        self.workers = workers

    def systems(self) -> list[str]:
        found = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=EVENTS_PREFIX, Delimiter="/"):
            for prefix in page.get("CommonPrefixes", []):
                name = prefix["Prefix"][len(EVENTS_PREFIX):].rstrip("/")
                if name.startswith("system="):
                    found.append(name[len("system="):])
        return sorted(found)

    def list(self, start: date, end: date, systems: Sequence[str] | None = None) -> list[PartitionObject]:
        """Every partition object of the given systems (default all) dated ``start..end`` (NZ dates)."""
        objects = []
        for system in systems or self.systems():
            prefix = f"{EVENTS_PREFIX}system={system}/"
            kwargs = {"Bucket": self.bucket, "Prefix": prefix, "StartAfter": f"{prefix}nz_date={start.isoformat()}"}
            done = False
            for page in self.s3.get_paginator("list_objects_v2").paginate(**kwargs):
                for item in page.get("Contents", []):
                    parsed = parse_partition_key(item["Key"])
                    if parsed is None:
                        continue
                    if parsed[1] > end:
                        done = True
                        break
                    if parsed[1] >= start:
                        objects.append(PartitionObject(item["Key"], parsed[0], parsed[1],
                                                       str(item.get("ETag", "")).strip('"'), int(item.get("Size", 0))))
                if done:
                    break
        return objects

    # ------------------------------------------------------------------ reading
    def _cache_path(self, obj: PartitionObject) -> Path:
        assert self.cache_dir is not None
        digest = hashlib.sha256(f"{self.bucket}/{obj.key}#{obj.etag}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{digest}.parquet"

    def _fetch(self, obj: PartitionObject) -> bytes | Path:
        if self.cache_dir is not None:
            path = self._cache_path(obj)
            if not path.exists():
                data = self.s3.get_object(Bucket=self.bucket, Key=obj.key)["Body"].read()
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".part")
                partial.write_bytes(data)
                partial.replace(path)
            return path
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=obj.key)["Body"].read())

    def frames(self, objects: Sequence[PartitionObject], columns: Sequence[str],
               predicate: pl.Expr | None = None) -> Iterator[pl.DataFrame]:
        """Each object's rows (only ``columns``, filtered by ``predicate``), downloaded in parallel."""

        def read(obj: PartitionObject) -> pl.DataFrame:
            source = self._fetch(obj)
            frame = pl.read_parquet(io.BytesIO(source) if isinstance(source, bytes) else source,
                                    columns=list(columns))
            return frame if predicate is None else frame.filter(predicate)

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            yield from pool.map(read, objects)

    def read(self, objects: Sequence[PartitionObject], columns: Sequence[str],
             predicate: pl.Expr | None = None) -> pl.DataFrame:
        if not objects:
            return pl.DataFrame(schema={c: EVENT_SCHEMA[c] for c in columns})
        if self.cache_dir is not None:
            paths = list(self._fetch_all(objects))
            lazy = pl.scan_parquet(paths).select(list(columns))
            return (lazy if predicate is None else lazy.filter(predicate)).collect()
        frames = list(self.frames(objects, columns, predicate))
        if not frames:
            return pl.DataFrame(schema={c: EVENT_SCHEMA[c] for c in columns})
        return pl.concat(frames, how="vertical_relaxed")

    def _fetch_all(self, objects: Sequence[PartitionObject]) -> Iterator[Path]:
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for source in pool.map(self._fetch, objects):
                assert isinstance(source, Path)
                yield source
