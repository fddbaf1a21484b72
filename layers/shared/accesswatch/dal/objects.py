"""S3 objects: streaming reads, Parquet partitions, JSON documents, and the curated layout."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import boto3
import polars as pl

READ_CHUNK = 8 * 1024 * 1024


def s3_client() -> Any:
    return boto3.client("s3")


class CuratedLayout:
    """Keys in the curated bucket (partitions are Hive-style, so Athena and DuckDB read them as a table)."""

    @staticmethod
    def partition(system: str, day: date, ingest_id: str, seq: int) -> str:
        return f"events/system={system}/nz_date={day.isoformat()}/{ingest_id}-{seq:05d}.parquet"

    @staticmethod
    def manifest(ingest_id: str) -> str:
        return f"manifests/{ingest_id}.json"

    @staticmethod
    def quarantine(system: str, ingest_id: str) -> str:
        return f"quarantine/system={system}/{ingest_id}.jsonl"

    @staticmethod
    def quarantine_raw(system: str, ingest_id: str) -> str:
        """The raw text of a file's quarantined lines: written only when ``QUARANTINE_RAW_TEXT`` is on, under a
        prefix of its own that the bucket policy restricts further than ``quarantine/``."""
        return f"quarantine-raw/system={system}/{ingest_id}.jsonl"

    @staticmethod
    def reference_snapshot(kind: str, digest: str) -> str:
        return f"reference/snapshots/{kind}/{digest}.parquet"

    @staticmethod
    def reference_report(kind: str, digest: str) -> str:
        return f"reference/reports/{kind}/{digest}.json"

    @staticmethod
    def reference_index(snapshot_id: str) -> str:
        return f"reference/index/{snapshot_id}.bin"


class ObjectStore:
    def __init__(self, client: Any | None = None) -> None:
        self.s3 = client or s3_client()

    def head(self, bucket: str, key: str) -> dict[str, Any]:
        return dict(self.s3.head_object(Bucket=bucket, Key=key))

    def stream(self, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]:
        args = {"Bucket": bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        body = self.s3.get_object(**args)["Body"]
        try:
            while chunk := body.read(READ_CHUNK):
                yield chunk
        finally:
            body.close()

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def put_json(self, bucket: str, key: str, value: Any) -> None:
        self.put_bytes(bucket, key, json.dumps(value, default=str).encode("utf-8"), "application/json")

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.get_bytes(bucket, key))

    def put_parquet(self, bucket: str, key: str, frame: pl.DataFrame) -> int:
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd", statistics=True)
        data = buffer.getvalue()
        self.put_bytes(bucket, key, data, "application/vnd.apache.parquet")
        return len(data)

    def get_parquet(self, bucket: str, key: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self.get_bytes(bucket, key)), columns=list(columns) if columns else None)

    def keys(self, bucket: str, prefix: str) -> Iterator[str]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def version_etags(self, bucket: str, key: str) -> list[tuple[str, str | None]]:
        """(ETag, version id) of every stored version of ``key`` (exactly that key), newest first; one listing
        call for a key with fewer than 1,000 versions. Empty when the key was never stored."""
        found: list[tuple[str, str | None]] = []
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Versions", []):
                if item.get("Key") == key:
                    version = item.get("VersionId")
                    found.append((str(item.get("ETag", "")).strip('"'), None if version in (None, "null") else version))
        return found

    def exists(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True
