"""After a run, the curated bucket holds no name, address, date of birth or IRD number (issue #20, item 2).

A synthesised world runs through the embedded runtime with its reference files made as personal as the
contract lets them be: every staff member and client gets an IRD number (a column outside the contract), a
public figure's watchlist notes name them, a staff line and an access-log line too badly formed to read
carry a name, an address and a date of birth. Then EVERY object in the curated bucket is read (Parquet and
the reference index: every text cell; anything else: its text) and searched for the world's personal values,
built from its own reference files:

- whole values: a cell that is, once case, accents and spacing are folded, exactly a person's family name,
  given names, "given family", address, date of birth or IRD number. A value that is also a value of a
  column that is not personal (a team, a site, an assignment's date...) is not searched alone: finding it
  would prove nothing;
- inside any text: ``test_pii.Catalogue`` (names of four letters or more as whole words, "given family"
  pairs, addresses, dates of birth not inside a timestamp, IRD numbers with or without dashes).

The same run then shows that the personal values are still where they belong (the raw snapshots) and that
``footprint --with-staff-names`` reads the names from the raw staff snapshot, not from the curated copy.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from test_pii import Catalogue, add_ird_numbers, fold, read_records, reference_file, write_records

from accesswatch.reference.index import TABLES, ReferenceIndex
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.world_run import run_world

pytestmark = pytest.mark.e2e

PERSONAL_COLUMNS = ("family_name", "given_names", "date_of_birth", "address", "ird_number")


# ------------------------------------------------------------------ a world as personal as the contract allows
def personal_world(source: Path, tmp_path: Path) -> Path:
    """A copy of ``source`` (the session's small world, left as it is) with IRD numbers, personal notes and
    two unreadable lines that carry personal values."""
    world = tmp_path / "world"
    shutil.copytree(source, world)
    reference = world / "reference"
    add_ird_numbers(reference, random.Random(20))
    clients = {r["client_id"]: r for r in read_records(reference_file(reference, "clients"))}
    # Free-text notes (outside the contract) naming the public figure.
    path = reference_file(reference, "watchlist")
    watchlist = read_records(path)
    for record in watchlist[:3]:
        person = clients[record["client_id"]]
        record["notes"] = f"{person['given_names']} {person['family_name']}, {person['address']}"
    write_records(path, watchlist)
    # A staff line with a field too many: a member's whole row and a note naming them.
    path = reference_file(reference, "staff")
    assert path.suffix == ".csv", path
    staff = read_records(path)
    member = next(r for r in staff if r["address"] and r["date_of_birth"])
    row = io.StringIO()
    csv.writer(row, lineterminator="\n").writerow(
        [*member.values(), f"{member['given_names']} {member['family_name']} {member['date_of_birth']}"])
    with path.open("a", encoding="utf-8") as handle:
        handle.write(row.getvalue())
    # An access-log line with two fields too many: a client's name and date of birth.
    log = next(p for p in sorted((world / "logs").iterdir()) if p.name.endswith(".csv"))
    person = next(iter(clients.values()))
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"cms-bad-1,2025-03-31T10:00:00+13:00,u1,{person['client_id']},view,summary,Wellington,"
                     f"sess-1,{person['given_names']} {person['family_name']},{person['date_of_birth']}\n")
    return world


# ------------------------------------------------------------------ what is personal, as whole values
def non_personal_values(reference: Path) -> set[str]:
    """Every value (folded) of a column that is not personal, in any reference file, and the date of each
    date or timestamp among them: an assignment starting on a day that is also someone's birthday is no leak."""
    harmless: set[str] = set()
    for path in reference.iterdir():
        for record in read_records(path):
            harmless |= {fold(str(v)).strip() for k, v in record.items()
                         if k is not None and k not in PERSONAL_COLUMNS and isinstance(v, str) and v}
    return harmless | {v[:10] for v in harmless if re.match(r"\d{4}-\d{2}-\d{2}", v)}


def searchable(catalogue: Catalogue, harmless: set[str]) -> Catalogue:
    """``catalogue`` without the dates of birth that are also dates of a non-personal column."""
    def iso(value: str) -> str:
        if "/" in value:
            d, m, y = value.split("/")
            return f"{y}-{int(m):02d}-{int(d):02d}"
        return value

    catalogue.dates_of_birth = {d for d in catalogue.dates_of_birth if iso(d) not in harmless}
    return catalogue


def forbidden_values(reference: Path, harmless: set[str]) -> dict[str, str]:
    """Folded personal value -> what it is, from every staff and client record; values that are also values
    of a non-personal column of any reference file are left out (see the module docstring)."""
    found: dict[str, str] = {}
    for kind in ("staff", "clients"):
        for record in read_records(reference_file(reference, kind)):
            family, given = (record.get("family_name") or "").strip(), (record.get("given_names") or "").strip()
            ird = record.get("ird_number") or ""
            values = [("family name", family), ("given names", given), ("date of birth", record.get("date_of_birth")),
                      ("address", record.get("address")), ("full name", f"{given} {family}" if given and family else ""),
                      ("IRD number", ird), ("IRD number", re.sub(r"\D", "", ird))]
            for what, value in values:
                folded = fold(value or "").strip()
                if folded and folded not in harmless:
                    found[folded] = what
    return found


# ------------------------------------------------------------------ every text the curated bucket holds
def object_texts(key: str, body: bytes) -> list[tuple[str, bool]]:
    """(text, is_a_whole_cell) for every piece of text in one object."""
    if key.endswith(".parquet"):
        frames = [pl.read_parquet(io.BytesIO(body))]
    elif key.startswith("reference/index/"):
        index = ReferenceIndex.from_bytes(body)
        frames = [getattr(index, name) for name in TABLES]
    else:
        return [(body.decode("utf-8"), False)]
    cells: list[tuple[str, bool]] = []
    for frame in frames:
        for name, dtype in frame.schema.items():
            if dtype == pl.String:
                cells += [(v, True) for v in frame[name].drop_nulls().unique().to_list()]
            elif dtype == pl.List(pl.String):
                cells += [(v, True) for v in frame[name].explode().drop_nulls().unique().to_list()]
    return cells


def curated_leaks(aws: EmbeddedAws, catalogue: Catalogue, forbidden: dict[str, str]) -> tuple[list, Counter]:
    s3 = aws.client("s3")
    bucket = aws.resource_name("CuratedBucket")
    leaks: list[tuple[str, str, str]] = []
    scanned: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            scanned[key.split("/", 1)[0]] += 1
            for text, whole in object_texts(key, s3.get_object(Bucket=bucket, Key=key)["Body"].read()):
                if whole and (what := forbidden.get(fold(text).strip())) is not None:
                    leaks.append((key, what, text))
                leaks += [(key, kind, value) for kind, value in catalogue.leaks(text)]
    return leaks, scanned


def test_after_a_run_the_curated_bucket_holds_no_name_address_date_of_birth_or_ird_number(
        small_world: Path, tmp_path: Path):
    from accesswatch_tools.operate.footprint import footprint

    world = personal_world(small_world, tmp_path)
    reference = world / "reference"
    harmless = non_personal_values(reference)
    catalogue = searchable(Catalogue.from_reference(reference), harmless)
    forbidden = forbidden_values(reference, harmless)
    with EmbeddedAws() as aws:
        outcome = run_world(aws, reference, world / "logs", tmp_path / "out")
        assert outcome.ok, outcome.problems

        leaks, scanned = curated_leaks(aws, catalogue, forbidden)
        # The scan is not vacuous: partitions, every snapshot, the index, both kinds of quarantine.
        assert scanned["events"] and scanned["manifests"] and scanned["quarantine"] >= 2, scanned
        keys = [i["Key"] for p in aws.client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=aws.resource_name("CuratedBucket")) for i in p.get("Contents", [])]
        assert {k.split("/")[2] for k in keys if k.startswith("reference/snapshots/")} == {
            "staff", "clients", "relationships", "declarations", "assignments", "watchlist"}
        assert any(k.startswith("reference/index/") for k in keys)
        assert not any(k.startswith("quarantine-raw/") for k in keys), "raw quarantine text is off by default"
        assert len(forbidden) > 1000 and len(catalogue.ird_numbers) > 1000
        assert not leaks, f"{len(leaks)} personal value(s) in the curated bucket, first: {leaks[:10]}"

        # The personal values are where they belong: the raw bucket still holds the whole snapshots.
        raw = aws.client("s3").get_object(Bucket=aws.resource_name("RawBucket"), Key="reference/staff.csv")
        assert "ird_number" in raw["Body"].read().decode("utf-8").splitlines()[0]

        # The unreadable lines are quarantined with what a person needs to fix them, and counted.
        quarantine = [json.loads(line) for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
        assert any(q["reason"] == "10 fields where the header has 8" for q in quarantine), quarantine
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        for f in summary["files"]:
            assert f["lines_read"] == f["accepted"] + f["quarantined"], f["key"]
        s3 = aws.client("s3")
        bucket = aws.resource_name("CuratedBucket")
        (staff_quarantine,) = [k for k in keys if k.startswith("quarantine/system=reference/")]
        record = json.loads(s3.get_object(Bucket=bucket, Key=staff_quarantine)["Body"].read())
        assert set(record) == {"key", "line", "reason", "field", "fields"}
        width = len((reference / "staff.csv").read_text(encoding="utf-8").splitlines()[0].split(","))
        assert record["key"] == "reference/staff.csv"
        assert record["reason"] == f"{width + 1} fields where the header has {width}"
        assert record["field"] is None and record["fields"] == []
        # The snapshot's report lists the columns the curated copy left out (names, never values).
        (report_key,) = [k for k in keys if k.startswith("reference/reports/staff/")]
        curated = json.loads(s3.get_object(Bucket=bucket, Key=report_key)["Body"].read())["curated"]
        assert curated["dropped_unknown_columns"] == ["cost_centre", "ird_number"]
        assert set(curated["dropped_contract_columns"]) >= {"family_name", "given_names", "date_of_birth", "address"}

        # --with-staff-names reads the names from the current raw staff snapshot.
        findings = [json.loads(line) for line in (tmp_path / "out" / "findings.jsonl").read_text().splitlines()]
        client = Counter(f["client_id"] for f in findings).most_common(1)[0][0]
        named = footprint(aws, client, date(2024, 1, 1), date(2026, 1, 1), with_names=True)
        assert named.height
        staff = {r["user_id"]: r for r in read_records(reference_file(reference, "staff"))}
        for row in named.iter_rows(named=True):
            member = staff.get(row["user_id"])
            if member is not None:
                assert (row["staff_family_name"], row["staff_given_names"]) == (
                    member["family_name"] or None, member["given_names"] or None), row["user_id"]
        assert any(row["staff_family_name"] for row in named.iter_rows(named=True))


def test_with_quarantine_raw_text_on_the_raw_lines_go_under_quarantine_raw_only(small_world: Path, tmp_path: Path):
    """The deployment turns QUARANTINE_RAW_TEXT on for both functions (as the template's parameter would):
    the unreadable lines' text is kept under ``quarantine-raw/``, and nowhere else."""
    world = personal_world(small_world, tmp_path)
    reference = world / "reference"
    harmless = non_personal_values(reference)
    catalogue = searchable(Catalogue.from_reference(reference), harmless)
    forbidden = forbidden_values(reference, harmless)
    with EmbeddedAws() as aws:
        functions = aws.client("lambda")
        for logical_id in ("IngestFunction", "ReferenceFunction"):
            name = aws.resource_name(logical_id)
            variables = functions.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
            functions.update_function_configuration(
                FunctionName=name, Environment={"Variables": {**{k: str(v) for k, v in variables.items()},
                                                      "QUARANTINE_RAW_TEXT": "true"}})
        outcome = run_world(aws, reference, world / "logs", tmp_path / "out")
        assert outcome.ok, outcome.problems

        s3 = aws.client("s3")
        bucket = aws.resource_name("CuratedBucket")
        raw_keys = [i["Key"] for i in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine-raw/").get("Contents", [])]
        assert {k.split("/")[1] for k in raw_keys} == {"system=cms", "system=reference"}, raw_keys
        kept = [json.loads(line) for k in raw_keys
                for line in s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode().splitlines()]
        assert all(set(r) == {"key", "line", "raw"} for r in kept)
        assert any(catalogue.leaks(r["raw"]) for r in kept if r["key"] == "reference/staff.csv")
        assert any("cms-bad-1" in r["raw"] for r in kept)

        leaks, _ = curated_leaks(aws, catalogue, forbidden)
        outside = [leak for leak in leaks if not leak[0].startswith("quarantine-raw/")]
        assert not outside, f"{len(outside)} personal value(s) outside quarantine-raw/, first: {outside[:10]}"
