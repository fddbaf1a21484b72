"""The synthetic world generator: determinism, planted scenarios, conservation, formats, negatives.

The checks here read the written files independently (csv / json from the standard library),
so they test what the pipeline will see, not the generator's internals.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest

from accesswatch.contract import ACTIONS, CONTRACT_RULES, EVENT_FIELDS, REFERENCE_FIELDS, ReferenceKind
from accesswatch_tools.world import SynthSummary, generate
from accesswatch_tools.world.text import fold_key

SMALL = dict(staff=40, clients=1500, days=4, seed=11, events_per_user_day=12, start=date(2025, 4, 4))
CLIENT_ID = re.compile(r"^0\d{8}$")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary, list[tuple[int, int]]]:
    out = tmp_path_factory.mktemp("synth")
    calls: list[tuple[int, int]] = []
    summary = generate(out, progress=lambda d, t: calls.append((d, t)), **SMALL)  # type: ignore[arg-type]
    return out, summary, calls


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")  # type: ignore[return-value]
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115


def _rows(path: Path) -> list[dict[str, str | None] | None]:
    """Data rows of a file; None for a JSON Lines line that is not valid JSON."""
    with _open_text(path) as f:
        if ".csv" in path.name:
            return list(csv.DictReader(f))  # type: ignore[arg-type]
        out: list[dict[str, str | None] | None] = []
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append(None)
        return out


def _is_event(row: dict[str, str | None] | None) -> bool:
    if row is None:
        return False
    for field in ("event_id", "occurred_at", "user_id", "client_id", "action"):
        if not (row.get(field) or "").strip():
            return False
    try:
        ts = datetime.fromisoformat(row["occurred_at"])  # type: ignore[arg-type]
    except ValueError:
        return False
    if ts.tzinfo is None:
        return False
    return (row["action"] or "").strip().lower() in ACTIONS


def _log_files(out: Path) -> list[Path]:
    return sorted((out / "logs").iterdir())


def _truth(out: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (out / "truth.jsonl").read_text(encoding="utf-8").splitlines()]


def _events(out: Path) -> dict[str, dict[str, str | None]]:
    events: dict[str, dict[str, str | None]] = {}
    for path in _log_files(out):
        for row in _rows(path):
            if _is_event(row):
                assert row is not None
                events[row["event_id"]] = row  # type: ignore[index]
    return events


def test_determinism(tmp_path: Path) -> None:
    small = dict(staff=20, clients=400, days=2, events_per_user_day=5)
    a = generate(tmp_path / "a", seed=3, **small)  # type: ignore[arg-type]
    b = generate(tmp_path / "b", seed=3, **small)  # type: ignore[arg-type]
    generate(tmp_path / "c", seed=4, **small)  # type: ignore[arg-type]
    assert a.files == b.files
    for rel in a.files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "truth.jsonl").read_bytes() != (tmp_path / "c" / "truth.jsonl").read_bytes()


def test_summary_and_progress(world: tuple[Path, SynthSummary, list[tuple[int, int]]]) -> None:
    out, summary, calls = world
    assert summary.staff == 40
    assert summary.clients >= 1500
    assert summary.service_accounts >= 2
    assert summary.malformed > 0 and summary.duplicates > 0
    assert set(summary.truth) == set(CONTRACT_RULES)
    assert summary.truth_total == sum(summary.truth.values())
    for rel in summary.files:
        assert (out / rel).is_file()
    assert calls and calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_every_rule_has_planted_positives_and_truth_agrees(world) -> None:
    out, _, _ = world
    planted = [json.loads(line) for line in (out / "planted.jsonl").read_text().splitlines()]
    mismatched = [p["scenario"] for p in planted if p["expected"] != p["truth"]]
    assert not mismatched
    per_rule = Counter(rule for p in planted for rule in p["expected"])
    for rule in CONTRACT_RULES:
        assert per_rule[rule] >= 3, rule
    negatives = Counter(p["scenario"] for p in planted if not p["expected"])
    for scenario in (
        "neg_sau_colleague",
        "neg_common_surname",
        "neg_other_unit_same_number",
        "neg_public_figure_assigned",
        "neg_public_figure_removed_nz_midnight",
        "neg_sensitive_first_morning_of_window",
        "neg_service_sensitive",
        "neg_two_hop_relative",
    ):
        assert negatives[scenario] >= 1, scenario
    truth_keys = {(t["event_id"], t["rule"]) for t in _truth(out)}
    for p in planted:
        for rule in p["expected"]:
            assert (p["event_id"], rule) in truth_keys


def test_truth_meta_conservation(world) -> None:
    out, summary, _ = world
    meta = json.loads((out / "truth-meta.json").read_text())
    assert meta["seed"] == SMALL["seed"]
    files = _log_files(out)
    assert sorted(meta["files"]) == [p.name for p in files]
    ids: list[str] = []
    for path in files:
        rows = _rows(path)
        good = [r for r in rows if _is_event(r)]
        assert meta["files"][path.name]["lines_read"] == len(rows), path.name
        assert meta["files"][path.name]["quarantined"] == len(rows) - len(good), path.name
        assert len(rows) - len(good) >= 2, path.name
        ids += [r["event_id"] for r in good]  # type: ignore[index,misc]
    assert meta["events"] == len(set(ids)) == summary.events
    assert len(ids) > len(set(ids))  # duplicate deliveries exist
    truth = _truth(out)
    keys = [(t["event_id"], t["rule"]) for t in truth]
    assert len(keys) == len(set(keys))
    assert set(t["event_id"] for t in truth) <= set(ids)
    assert Counter(t["rule"] for t in truth) == Counter({k: v for k, v in meta["rules"].items() if v})
    assert all(t["system"] == "cms" for t in truth)


def test_duplicates_are_identical(world) -> None:
    out, _, _ = world
    seen: dict[str, dict[str, str | None]] = {}
    dups = 0
    fields = ("occurred_at", "user_id", "client_id", "action", "screen")
    for path in _log_files(out):
        for row in _rows(path):
            if not _is_event(row):
                continue
            assert row is not None
            eid = row["event_id"]
            assert eid is not None
            if eid in seen:
                dups += 1
                assert all((seen[eid].get(f) or "") == (row.get(f) or "") for f in fields)
            else:
                seen[eid] = row
    assert dups >= 1


def test_client_ids_keep_leading_zeros(world) -> None:
    out, _, _ = world
    events = _events(out)
    assert events and all(CLIENT_ID.match(e["client_id"] or "") for e in events.values())
    assert all(CLIENT_ID.match(t["client_id"]) for t in _truth(out))
    clients = _rows(out / "reference" / "clients.csv.gz")
    assert all(CLIENT_ID.match(r["client_id"] or "") for r in clients if r)  # type: ignore[union-attr]
    staff = _rows(out / "reference" / "staff.csv")
    linked = [r["client_id"] for r in staff if r and r["client_id"]]
    assert linked and all(CLIENT_ID.match(c or "") for c in linked)


def test_reference_snapshots(world) -> None:
    out, _, _ = world
    ref = out / "reference"
    names = sorted(p.name for p in ref.iterdir())
    assert any(n.endswith(".gz") for n in names)
    assert any(".csv" in n for n in names) and any(".jsonl" in n for n in names)
    for kind in ReferenceKind:
        (path,) = [ref / n for n in names if n.split(".")[0] == kind.value]
        rows = [r for r in _rows(path) if r is not None]
        assert rows, kind
        assert set(REFERENCE_FIELDS[kind]) <= set(rows[0]), kind
        for r in rows:
            for k, v in r.items():
                if v and (
                    k.endswith("_at") or k.startswith("valid_") or k.endswith("_date") or k == "date_of_birth"
                ):
                    date.fromisoformat(v)
    staff = _rows(ref / "staff.csv")
    assert any(r and r["team"] == "Staff Assistance Unit" for r in staff)  # type: ignore[index]
    assert {r["account_type"] for r in staff if r} == {"person", "service"}  # type: ignore[index]
    assert {r["status"] for r in staff if r} == {"active", "leave", "terminated"}  # type: ignore[index]


def test_log_formats(world) -> None:
    out, _, _ = world
    files = _log_files(out)
    kinds = set()
    headers: set[tuple[str, ...]] = set()
    extra = False
    text = ""
    for path in files:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        body = raw.decode("utf-8")
        text += body
        if path.name.endswith((".csv", ".csv.gz")):
            crlf = "\r\n" in body
            bom = body.startswith("\ufeff")
            kinds.add(("csv", path.name.endswith(".gz"), crlf, bom))
            header = tuple(body.lstrip("\ufeff").splitlines()[0].split(","))
            headers.add(header)
            extra |= bool(set(header) - set(EVENT_FIELDS))
        else:
            kinds.add(("jsonl", path.name.endswith(".gz"), False, False))
            extra |= any(r and set(r) - set(EVENT_FIELDS) for r in _rows(path))
    assert ("csv", False, False, False) in kinds
    assert ("csv", False, True, True) in kinds
    assert any(k[0] == "csv" and k[1] for k in kinds)
    assert ("jsonl", False, False, False) in kinds and ("jsonl", True, False, False) in kinds
    assert tuple(EVENT_FIELDS) in headers and len(headers) > 1  # canonical and shuffled column orders
    assert extra
    assert '"Wellington, Level 3"' in text and '""Town Centre""' in text  # RFC 4180 quoting
    stamps = [e["occurred_at"] or "" for e in _events(out).values()]
    assert any(s.endswith("Z") for s in stamps)
    assert any(s.endswith("+13:00") for s in stamps) and any(s.endswith("+12:00") for s in stamps)
    assert any(re.search(r":\d\d\.\d+", s) for s in stamps)
    events = _events(out)
    assert any(not e.get("screen") for e in events.values())
    assert any(not e.get("site") for e in events.values())


def test_offsets_are_correct_nz_offsets(world) -> None:
    from accesswatch.quarters import NZ

    out, _, _ = world
    for stamp in (e["occurred_at"] or "" for e in _events(out).values()):
        if stamp.endswith(("+13:00", "+12:00")):
            ts = datetime.fromisoformat(stamp)
            assert ts.utcoffset() == ts.astimezone(NZ).utcoffset(), stamp


def test_hard_negatives_sau_and_service_accounts(world) -> None:
    out, _, _ = world
    staff = [r for r in _rows(out / "reference" / "staff.csv") if r]
    sau = {r["user_id"] for r in staff if r["team"] == "Staff Assistance Unit"}
    service = {r["user_id"] for r in staff if r["account_type"] == "service"}
    own = {r["client_id"]: r["user_id"] for r in staff if r["client_id"]}
    truth = _truth(out)
    by_event: dict[str, set[str]] = defaultdict(set)
    for t in truth:
        by_event[t["event_id"]].add(t["rule"])
    events = _events(out)
    sau_colleague = [
        eid
        for eid, e in events.items()
        if e["user_id"] in sau and e["client_id"] in own and own[e["client_id"]] != e["user_id"]
    ]
    assert sau_colleague
    assert not any("COLLEAGUE_RECORD" in by_event[eid] for eid in sau_colleague)
    non_sau_colleague = [
        eid
        for eid, e in events.items()
        if e["user_id"] not in sau | service and e["client_id"] in own and own[e["client_id"]] != e["user_id"]
    ]
    assert non_sau_colleague and all("COLLEAGUE_RECORD" in by_event[eid] for eid in non_sau_colleague)
    service_events = [e for e in events.values() if e["user_id"] in service]
    assert service_events
    assert any((e.get("screen") or "").lower() in {"address", "ird_number"} for e in service_events)
    assert not any(t["user_id"] in service for t in truth)


def test_name_matched_self_records_differ_in_typing_only(world) -> None:
    out, _, _ = world
    staff = {r["user_id"]: r for r in _rows(out / "reference" / "staff.csv") if r}
    clients = {r["client_id"]: r for r in _rows(out / "reference" / "clients.csv.gz") if r}
    planted = [json.loads(line) for line in (out / "planted.jsonl").read_text().splitlines()]
    pairs = [(staff[p["user_id"]], clients[p["client_id"]]) for p in planted if p["scenario"] == "self_name"]
    assert pairs
    differ = 0
    for s, c in pairs:
        assert not s["client_id"]
        assert s["date_of_birth"] == c["date_of_birth"]
        assert fold_key(s["family_name"]) == fold_key(c["family_name"])
        assert fold_key(s["given_names"]) == fold_key(c["given_names"])
        differ += (s["family_name"], s["given_names"]) != (c["family_name"], c["given_names"])
    assert differ


def test_rejects_tiny_worlds(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, staff=5, clients=1000, days=1)


def test_worlds_of_different_seeds_share_no_event_id(tmp_path: Path) -> None:
    """A source system never reuses an event id: two synthesised worlds run on one system one after the
    other must not collide (their lines would be quarantined as conflicts)."""
    from accesswatch_tools.world.generate import DEFAULT_SEED, event_id_prefix

    ids = {}
    for seed in (DEFAULT_SEED, 12):
        generate(tmp_path / str(seed), staff=15, clients=400, days=1, seed=seed)
        truth = (tmp_path / str(seed) / "truth.jsonl").read_text(encoding="utf-8").splitlines()
        ids[seed] = {json.loads(line)["event_id"] for line in truth}
        assert ids[seed] and all(i.startswith(event_id_prefix(seed)) for i in ids[seed])
    assert not ids[DEFAULT_SEED] & ids[12]
    assert event_id_prefix(DEFAULT_SEED) == "cms-"  # the README's examples derive from these ids
