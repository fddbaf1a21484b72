"""Properties of parsing, normalisation and New Zealand dates that the other tests state only by example.

- parsing: any values written by a CSV or JSON Lines writer come back exactly; how the file is cut
  into chunks and blocks, and whether it is gzipped, changes nothing;
- timestamps: the vectorised (polars) parse and New Zealand date agree with the standard library's
  and with ``accesswatch.quarters``, whatever the offset (the ingest path and the reports must agree
  on the day and the quarter of every event);
- normalisation: the vectorised forms equal the scalar ones on any input.
(tests/unit/reports/test_quarters.py holds the quarter arithmetic's own properties, tests/unit/rules/test_normalise.py the
normalisers' invariances, tests/unit/ingest/test_ingest_parsing.py conservation over arbitrary lines.)
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accesswatch.contract import EVENT_FIELDS
from accesswatch.ingest.events import parse_timestamps
from accesswatch.ingest.pipeline import FileReport, ingest_stream
from accesswatch.normalise import normalise_address, normalise_addresses, normalise_name, normalise_names
from accesswatch.quarters import NZ_TZ_NAME, nz_date, quarter_end, quarter_of

# Field text: anything but NUL (a NUL early in a file means binary) and surrogates; no surrounding
# whitespace (fields are trimmed by design).
_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
text = st.text(alphabet=_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)
tricky = st.one_of(text, st.sampled_from(["=1+2", "+SUM(A1)", "-3", "@cmd", 'a "quoted", value', "two\nlines",
                                          "cr\rinside", "x\x01", "\x1f\x8b", "Māori ā", "日本 😀", "0007"]))
# Accepted instants: after 1990 and not in the future (ingest quarantines both).
instants = st.datetimes(min_value=datetime(1991, 1, 1), max_value=datetime.now() - timedelta(days=3),
                        timezones=st.just(UTC))
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def _iso(instant: datetime, offset: timezone, style: int) -> str:
    local = instant.astimezone(offset)
    text = local.isoformat(timespec=("seconds", "milliseconds", "microseconds")[style % 3])
    return text.replace("+00:00", "Z") if style % 2 and text.endswith("+00:00") else text


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, str]]:
    rows = []
    for n in range(draw(st.integers(1, 12))):
        instant, offset = draw(instants), draw(offsets)
        rows.append({
            "event_id": f"{draw(tricky)}#{n}",  # unique per file
            "occurred_at": _iso(instant, offset, draw(st.integers(0, 5))),
            "user_id": draw(tricky), "client_id": draw(tricky),
            "action": draw(st.sampled_from(["view", "VIEW", "search", "Update", "print", "export"])),
            "screen": draw(st.one_of(st.none(), tricky)), "site": draw(st.one_of(st.none(), tricky)),
            "session_id": draw(st.one_of(st.none(), tricky)),
        })
    return rows


def _csv(rows: list[dict[str, str]], columns: list[str], crlf: bool) -> bytes:
    """RFC 4180: a field holding a comma, quote, CR or LF is quoted, quotes doubled."""
    def field(value: str | None) -> str:
        value = value or ""
        return f'"{value.replace(chr(34), chr(34) * 2)}"' if any(c in value for c in ',"\r\n') else value

    end = "\r\n" if crlf else "\n"
    lines = [",".join(columns)] + [",".join(field(r[c]) for c in columns) for r in rows]
    return (end.join(lines) + end).encode("utf-8")


def _jsonl(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=bool(len(r) % 2)) + "\n"
                   for r in rows).encode("utf-8")


def _ingest(data: bytes, key: str, *, chunks: int = 1, block_bytes: int = 16 * 1024 * 1024,
            rows: int = 1000) -> tuple[FileReport, pl.DataFrame]:
    parts: list[pl.DataFrame] = []
    size = max(1, len(data) // chunks)
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    report = ingest_stream(pieces, key=key, system="cms", partition_rows=rows, max_decompressed_bytes=10**8,
                           sink=lambda s, d, f, n: parts.append(f), block_bytes=block_bytes)
    frame = pl.concat(parts) if parts else pl.DataFrame()
    return report, frame.sort("line") if frame.height else frame


def _expected(rows: list[dict[str, str]]) -> list[dict[str, str | None]]:
    return [{**r, "action": r["action"].lower(), "screen": r["screen"].lower() if r["screen"] else None}
            for r in rows]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(), st.permutations(list(EVENT_FIELDS)), st.booleans(), st.sampled_from(["csv", "jsonl"]))
def test_values_written_by_a_csv_or_jsonl_writer_come_back_exactly(rows, columns, crlf, fmt):
    data = _csv(rows, columns, crlf) if fmt == "csv" else _jsonl(rows)
    report, frame = _ingest(data, f"access-logs/cms/f.{fmt}")
    assert report.rejected_reason is None and report.quarantine == [], report.quarantine
    assert (report.lines_read, report.accepted) == (len(rows), len(rows))
    got = frame.select(EVENT_FIELDS).to_dicts()
    assert got == _expected(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(), st.integers(1, 7), st.sampled_from([48, 97, 256, 4096]), st.integers(1, 5),
       st.sampled_from(["csv", "jsonl"]), st.booleans())
def test_chunks_blocks_partitions_and_gzip_change_nothing(rows, chunks, block_bytes, partition_rows, fmt, gz):
    data = _csv(rows, list(EVENT_FIELDS), False) if fmt == "csv" else _jsonl(rows)
    key = f"access-logs/cms/f.{fmt}"
    reference, whole = _ingest(data, key)
    cut, pieces = _ingest(gzip.compress(data) if gz else data, key + (".gz" if gz else ""), chunks=chunks,
                          block_bytes=block_bytes, rows=partition_rows)
    assert (cut.lines_read, cut.accepted, cut.quarantine) == (reference.lines_read, reference.accepted,
                                                              reference.quarantine)
    assert pieces.drop("source_key").equals(whole.drop("source_key"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(instants, offsets, st.integers(0, 5)), min_size=1, max_size=20))
def test_timestamps_parse_to_the_same_instant_new_zealand_date_and_quarter_everywhere(stamps):
    texts = [_iso(i, o, s) for i, o, s in stamps]
    frame = pl.DataFrame({"t": texts}).with_columns(parse_timestamps(pl.col("t")).alias("utc")).with_columns(
        pl.col("utc").dt.convert_time_zone(NZ_TZ_NAME).dt.date().alias("nz_date"))
    for text_, (instant, _offset, _style), utc, day in zip(texts, stamps, frame["utc"], frame["nz_date"], strict=True):
        expected = instant.replace(microsecond=instant.microsecond // 1000 * 1000) if _style % 3 == 1 else instant
        expected = expected.replace(microsecond=0) if _style % 3 == 0 else expected
        assert utc == expected, text_
        assert utc == datetime.fromisoformat(text_.replace("Z", "+00:00")), text_
        assert day == nz_date(utc), text_  # polars' New Zealand date is the standard library's
        assert quarter_end(day) == quarter_of(utc), text_


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30)),
                max_size=12))
def test_vectorised_normalisation_equals_scalar_on_any_input(values):
    series = pl.Series("v", values, dtype=pl.String)
    assert normalise_names(series).to_list() == [normalise_name(v) for v in values]
    assert normalise_addresses(series).to_list() == [normalise_address(v) for v in values]
