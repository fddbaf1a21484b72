"""The ingest fast paths give exactly what the record-by-record readers give, or step aside.

The JSON Lines fast path (polars) must produce the same frame as the exact reader (``json.loads``
per line) whenever it takes a block; the long-line check must agree with its definition.
"""

from __future__ import annotations

import json
import random

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from accesswatch.contract import EVENT_FIELDS
from accesswatch.ingest import records, source
from accesswatch.ingest.records import _parse_jsonl_fast, _parse_jsonl_slow, parse_jsonl_block
from accesswatch.ingest.source import Block

FIELDS = EVENT_FIELDS


def block(text: str, first_line: int = 2) -> Block:
    data = text.encode("utf-8")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    return Block(data, first_line, data.count(b"\n"))


def both(text: str) -> tuple[records.ParsedBlock | None, records.ParsedBlock]:
    b = block(text)
    return _parse_jsonl_fast(b, FIELDS), _parse_jsonl_slow(b, FIELDS)


def assert_same(fast: records.ParsedBlock, slow: records.ParsedBlock) -> None:
    assert fast.lines == slow.lines and fast.rejected == slow.rejected == []
    assert_frame_equal(fast.rows, slow.rows)


GOOD = {"event_id": "e1", "occurred_at": "2025-04-01T09:00:00Z", "user_id": "u1", "client_id": "000123",
        "action": "view"}


def test_plain_lines_take_the_fast_path_with_extras_nulls_and_absent_keys():
    lines = [
        json.dumps({**GOOD, "screen": "address", "site": "Ōtautahi", "workstation": "WS-1"}, ensure_ascii=False),
        json.dumps({**GOOD, "screen": None, "client_app": None}),
        json.dumps({"action": "print", **GOOD, "zeta": "z", "alpha": "a"}, separators=(",", ":")),
        "  " + json.dumps({**GOOD, "session_id": ""}) + " \r",
        "{}",
    ]
    fast, slow = both("\n".join(lines))
    assert fast is not None, "plain lines should not fall back"
    assert_same(fast, slow)
    assert fast.rows[records.EXTRA_COLUMN].to_list() == [
        '{"workstation": "WS-1"}', '{"client_app": null}', '{"alpha": "a", "zeta": "z"}', None, None]


def test_anything_unusual_falls_back_to_the_exact_reader():
    unusual = [
        '{"event_id": 7}',  # a number: json.dumps renders it, polars would too but differently for 7.0
        '{"event_id": 7.0}',
        '{"event_id": true}',
        '{"event_id": "é\\u00e9"}',
        '{"event_id": "1", "event_id": "2"}',  # json.loads keeps the last, polars the first
        '{"event_id": null, "event_id": "2"}',
        '{"device": {"id": 7}}',
        '{"tags": ["a"]}',
        '[1, 2]',
        '"a string"',
        "{not json",
        "",
        "   ",
        '{"a": "1"}{"b": "2"}',
        '{"weird:key": "1"}',
        '{"": "1"}',
        '\ufeff{"event_id": "1"}',
    ]
    for line in unusual:
        text = json.dumps(GOOD) + "\n" + line + "\n" + json.dumps(GOOD)
        fast, slow = both(text)
        assert fast is None, line
        public = parse_jsonl_block(block(text), FIELDS)
        assert public.rejected == slow.rejected and public.lines == slow.lines
        assert_frame_equal(public.rows, slow.rows)


_plain = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=6)
_value = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
    st.integers(-5, 5),
    st.sampled_from(["2025-04-01T09:00:00Z", "view", "", " x ", "null", "a\\b", 'q"q', "\u2028", "é"]),
)
_key = st.one_of(st.sampled_from(FIELDS), _plain, st.sampled_from(["x:y", "", "é", "a b", "__line", "#present0"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(_key, _value), max_size=10), min_size=1, max_size=12),
       st.integers(0, 2**31))
def test_fast_path_equals_exact_reader_whenever_it_answers(objects: list[list[tuple[str, object]]], seed: int):
    rng = random.Random(seed)
    lines = []
    for members in objects:
        parts = [f"{json.dumps(k, ensure_ascii=False)}{rng.choice(['', ' '])}:{rng.choice(['', ' '])}"
                 f"{json.dumps(v, ensure_ascii=False)}" for k, v in members]
        lines.append(rng.choice(["", " "]) + "{" + rng.choice([",", ", "]).join(parts) + "}" + rng.choice(["", "\r"]))
    fast, slow = both("\n".join(lines))
    if fast is not None:
        assert_same(fast, slow)


def test_fast_path_answers_for_a_synthetic_export():
    rng = random.Random(3)
    lines = []
    for i in range(2000):
        obj = {**GOOD, "event_id": f"cms-{i:09d}", "screen": rng.choice(["summary", None]),
               "client_app": "cms-web/4.2"}
        if rng.random() < 0.3:
            del obj["screen"]
        lines.append(json.dumps(obj, ensure_ascii=False))
    fast, slow = both("\n".join(lines))
    assert fast is not None
    assert_same(fast, slow)


def _long_line_by_definition(data: bytes, limit: int) -> bool:
    return any(len(line) > limit for line in data.split(b"\n"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60).map(lambda b: bytes(b"a\n\r"[x % 3] for x in b)), st.integers(1, 9))
def test_long_line_check_matches_its_definition(data: bytes, limit: int):
    original = source.MAX_LINE_BYTES
    try:
        source.MAX_LINE_BYTES = limit
        assert source.has_long_line(data) == _long_line_by_definition(data, limit)
    finally:
        source.MAX_LINE_BYTES = original


_safe_value = st.one_of(st.none(), st.text(alphabet=st.characters(
    blacklist_categories=("Cs",), blacklist_characters="".join(map(chr, range(32)))) | st.sampled_from("\n\t"),
    max_size=8))
_safe_key = st.one_of(st.sampled_from(FIELDS), _plain)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(_safe_key, _safe_value), max_size=10), min_size=1, max_size=12),
       st.integers(0, 2**31))
def test_fast_path_takes_plain_objects_and_equals_exact_reader(objects: list[list[tuple[str, object]]], seed: int):
    rng = random.Random(seed)
    lines = []
    duplicated = escaped_extra = False
    for members in objects:
        keys = [k for k, _ in members]
        duplicated |= len(set(keys)) < len(keys)
        escaped_extra |= any(k not in FIELDS and isinstance(v, str) and any(c in v for c in '"\\\n\t')
                             for k, v in members)
        parts = [f'"{k}"{rng.choice(["", " "])}:{rng.choice(["", " "])}{json.dumps(v, ensure_ascii=False)}'
                 for k, v in members]
        lines.append("{" + ", ".join(parts) + "}")
    fast, slow = both("\n".join(lines))
    if duplicated or escaped_extra:
        assert fast is None or not duplicated
    else:
        # Every line is plain; the fast path steps aside only when no key at all appears in the block
        # (polars then reads no columns).
        assert fast is not None or all(not m for m in objects)
    if fast is not None:
        assert_same(fast, slow)


def test_escaped_quotes_in_contract_values_stay_on_the_fast_path():
    line = json.dumps({**GOOD, "site": 'Māngere "Town Centre" \\ /\n'}, ensure_ascii=False)
    fast, slow = both(line + "\n" + line.replace("/", "\\/"))
    assert fast is not None
    assert_same(fast, slow)
    assert fast.rows["site"][0] == 'Māngere "Town Centre" \\ /\n'


def test_a_few_odd_lines_are_read_exactly_and_merged_in_line_order():
    rng = random.Random(5)
    odd = ['{"event_id": 7}', "{not json", "", "   ", '[1, 2]', '{"event_id": "1", "event_id": "2"}',
           '{"device": {"id": 7}, "event_id": "x"}', '"a string"', "\r"]
    lines = [json.dumps({**GOOD, "event_id": f"e{i}", "client_app": "web"}) for i in range(1000)]
    for line in odd:
        lines.insert(rng.randrange(len(lines)), line)
    text = "\n".join(lines)
    fast, slow = both(text)
    assert fast is not None
    assert fast.lines == slow.lines and fast.rejected == slow.rejected and len(slow.rejected) >= 5
    assert_frame_equal(fast.rows, slow.rows)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(_key, _value), max_size=6), min_size=1, max_size=3), st.integers(0, 2**31))
def test_odd_lines_among_many_plain_ones_are_merged_exactly(objects: list[list[tuple[str, object]]], seed: int):
    rng = random.Random(seed)
    lines = [json.dumps({**GOOD, "event_id": f"e{i}", "extra_key": rng.choice(["a", None])}) for i in range(300)]
    for members in objects:
        parts = [f"{json.dumps(k, ensure_ascii=False)}:{json.dumps(v, ensure_ascii=False)}" for k, v in members]
        lines.insert(rng.randrange(len(lines)), "{" + ",".join(parts) + "}")
    fast, slow = both("\n".join(lines))
    if fast is not None:
        assert fast.lines == slow.lines and fast.rejected == slow.rejected
        assert_frame_equal(fast.rows, slow.rows)


_stamp_piece = st.sampled_from(["2025-03-31", "2025-02-30", "1989-12-31", "9999-12-31", "T", " ", "t", "09:15",
                                ":07", ".5", ".123456", ".1234567", "Z", "z", "+13:00", "-05:30", "+1300", "+13",
                                " ", "\t", "x", "", "24:00", "+00:00", "2025-3-1"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(_stamp_piece, max_size=6).map("".join),
                          st.text(max_size=12)), max_size=30))
def test_timestamps_parse_as_parse_timestamps_says(texts: list[str | None]):
    from accesswatch.ingest.events import parse_timestamps, utc_instants

    series = pl.Series("occurred_at", texts, dtype=pl.String)
    expected = pl.DataFrame({"t": series}).select(parse_timestamps(pl.col("t"))).to_series()
    assert utc_instants(series).to_list() == expected.to_list()
    well_formed = [f"2025-03-31{sep}09:{m:02d}:07{frac}{tz}" for sep in "T " for m in range(3)
                   for frac in ("", ".5") for tz in ("Z", "+13:00")]
    series = pl.Series("occurred_at", well_formed + texts, dtype=pl.String)
    expected = pl.DataFrame({"t": series}).select(parse_timestamps(pl.col("t"))).to_series()
    assert utc_instants(series).to_list() == expected.to_list()
