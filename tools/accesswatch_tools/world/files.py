"""Streaming writers for CSV / JSON Lines, plain or gzip, with the quirks real exports have."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True, slots=True)
class Format:
    kind: str  # "csv" | "jsonl"
    gz: bool = False
    crlf: bool = False
    bom: bool = False
    shuffle: bool = False
    extra: str | None = None  # name of an unknown extra column
    blank: str = "omit"  # jsonl: how absent optional values appear: omit | null | empty | mixed

    @property
    def suffix(self) -> str:
        return f".{self.kind}" + (".gz" if self.gz else "")


class TextSink:
    """A UTF-8 text stream over a plain or deterministic (mtime=0) gzip file."""

    def __init__(self, path: Path, gz: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = open(path, "wb")  # noqa: SIM115
        self._gz: gzip.GzipFile | None = None
        binary: IO[bytes] = self._raw
        if gz:
            self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=4)
            binary = self._gz  # type: ignore[assignment]
        self.text = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=False)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()
        if self._gz is not None:
            self._gz.close()
        self._raw.close()


def write_table(
    path: Path,
    fmt: Format,
    columns: list[str],
    rows: list[list[Any]],
    *,
    blank_choice: list[bool] | None = None,
) -> None:
    """Write a reference snapshot. ``rows`` hold strings; "" / None are blanks.

    For JSON Lines a blank becomes null or "" (``blank_choice[i]`` True: null)."""
    sink = TextSink(path, fmt.gz)
    t = sink.text
    if fmt.bom:
        t.write("\ufeff")
    if fmt.kind == "csv":
        w = csv.writer(t, lineterminator="\r\n" if fmt.crlf else "\n")
        w.writerow(columns)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    else:
        for i, row in enumerate(rows):
            null = blank_choice[i] if blank_choice is not None else True
            obj = {
                k: (None if null else "") if (v is None or v == "") else v
                for k, v in zip(columns, row, strict=True)
            }
            t.write(json.dumps(obj, ensure_ascii=False))
            t.write("\n")
    sink.close()
