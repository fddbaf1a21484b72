"""Reference snapshot validation and the reference index (build, serialise, load)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from support.rule_samples import WORLD, snapshot_frames, world_index

from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind
from accesswatch.reference import ReferenceIndex, build_index, cross_validate, validate_snapshot
from accesswatch.rules import CATALOG

K = ReferenceKind


def _frame(
    kind: ReferenceKind, rows: list[dict[str, str | None]], extra: tuple[str, ...] = ()
) -> pl.DataFrame:
    cols = (*REFERENCE_FIELDS[kind], *extra)
    return pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema=dict.fromkeys(cols, pl.String))


def test_world_snapshots_validate_clean() -> None:
    frames = snapshot_frames()
    for kind, df in frames.items():
        report = validate_snapshot(kind, df)
        assert report.usable and not report.errors, (kind, report)
        assert report.counts["rows"] == df.height
    assert not cross_validate(frames).issues


def test_missing_required_column_is_unusable() -> None:
    df = _frame(K.STAFF, [{"user_id": "a"}]).drop("user_id")
    report = validate_snapshot(K.STAFF, df)
    assert not report.usable
    assert [(i.code, i.column, i.level) for i in report.errors] == [("missing_column", "user_id", "error")]
    opt = validate_snapshot(K.STAFF, _frame(K.STAFF, [{"user_id": "a"}]).drop("team"))
    assert opt.usable and "missing_column" in opt.codes()


def test_validation_findings_carry_no_personal_values() -> None:
    rows = [
        {
            "user_id": "u1",
            "family_name": "Secretname",
            "date_of_birth": "31/12/1980",
            "status": "Retired",
            "account_type": "person",
            "start_date": "2020-01-01",
        },
        {"user_id": "u1", "family_name": "Othersecret", "status": "active", "account_type": "robot"},
        {"user_id": "  ", "family_name": "Third", "status": "ACTIVE "},
    ]
    report = validate_snapshot(K.STAFF, _frame(K.STAFF, rows, extra=("shoe_size",)))
    codes = {(i.code, i.column): i for i in report.issues}
    assert codes[("blank_key", "user_id")].rows == [3]
    dup = codes[("duplicate_key", "user_id")]
    assert dup.ids == ["u1"] and dup.rows == [1, 2]
    assert codes[("bad_enum", "status")].values == ["retired"]
    assert codes[("bad_enum", "account_type")].values == ["robot"]
    bad_date = codes[("bad_date", "date_of_birth")]
    assert bad_date.rows == [1] and not bad_date.values
    assert report.unknown_columns == ["shoe_size"]
    text = report.model_dump_json()
    json.loads(text)
    for secret in ("Secretname", "Othersecret", "Third", "31/12/1980"):
        assert secret not in text


def test_dates_and_timestamps_accepted_where_allowed() -> None:
    rows = [
        {"client_id": "1", "added_at": "2025-03-01T09:00:00+13:00", "removed_at": "2025-04-01"},
        {"client_id": "2", "added_at": "2025-03-01T09:00Z", "removed_at": "soon"},
    ]
    report = validate_snapshot(K.WATCHLIST, _frame(K.WATCHLIST, rows))
    assert [(i.code, i.column, i.rows) for i in report.issues] == [("bad_date", "removed_at", [2])]


def test_duplicate_assignment_rows_are_fine() -> None:
    row = {"user_id": "u", "client_id": "c", "reason": "caseload", "valid_from": "2025-01-01", "valid_to": ""}
    assert not validate_snapshot(K.ASSIGNMENTS, _frame(K.ASSIGNMENTS, [row, row])).issues


def test_cross_validate_dangling_ids() -> None:
    frames = snapshot_frames(
        {
            K.DECLARATIONS: ({"user_id": "u.nobody", "client_id": "999999", "nature": "friend"},),
            K.RELATIONSHIPS: (
                {"client_id": "000100", "related_client_id": "888888", "relationship": "sibling"},
            ),
        }
    )
    report = cross_validate(frames)
    got = {(i.kind, i.column, i.code): i.ids for i in report.issues}
    assert got[("declarations", "client_id", "dangling_client")] == ["999999"]
    assert got[("declarations", "user_id", "dangling_user")] == ["u.nobody"]
    assert got[("relationships", "related_client_id", "dangling_client")] == ["888888"]
    assert all(i.level == "warning" for i in report.issues)
    json.loads(report.model_dump_json())


def test_index_round_trip() -> None:
    idx = world_index()
    data = idx.to_bytes()
    back = ReferenceIndex.from_bytes(data)
    assert back.snapshot_id == idx.snapshot_id
    assert back.counts == idx.counts
    for name in ("persons", "conflicts", "owners", "assignments", "watchlist"):
        assert getattr(back, name).equals(getattr(idx, name)), name
    assert ReferenceIndex.from_bytes(back.to_bytes()).conflicts.equals(idx.conflicts)


def test_index_rejects_unknown_format() -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("header.json", json.dumps({"format": 99, "snapshot_id": "x"}))
    with pytest.raises(ValueError):
        ReferenceIndex.from_bytes(buf.getvalue())


def test_index_requires_staff_and_clients_only() -> None:
    frames = snapshot_frames()
    with pytest.raises(ValueError):
        build_index({K.STAFF: frames[K.STAFF]}, "x", rules=CATALOG)
    idx = build_index({K.STAFF: frames[K.STAFF], K.CLIENTS: frames[K.CLIENTS]}, "x", rules=CATALOG)
    assert idx.assignments.height == 0 and idx.watchlist.height == 0
    assert set(idx.conflicts["rule"]) == {"SELF_RECORD", "HOUSEHOLD_RECORD"}


def test_index_tolerates_unknown_and_missing_optional_columns() -> None:
    frames = snapshot_frames()
    frames[K.CLIENTS] = frames[K.CLIENTS].with_columns(pl.lit("x").alias("favourite_colour")).drop("flags")
    frames[K.STAFF] = frames[K.STAFF].drop("site")
    idx = build_index(frames, "x", rules=CATALOG)
    assert idx.counts["clients"] == len(WORLD[K.CLIENTS])


def test_index_identifiers_stay_strings_and_duplicates_first_wins() -> None:
    staff = WORLD[K.STAFF] + ({**WORLD[K.STAFF][0], "client_id": "000300", "team": "sau"},)
    idx = world_index({K.STAFF: staff})
    alice = idx.persons.filter(pl.col("user_id") == "u.alice")
    assert alice.height == 1 and not alice["is_sau"].item()
    own = set(idx.owners.filter(pl.col("owner_user_id") == "u.alice")["client_id"])
    assert own == {"000100", "000101"}


def test_index_contents() -> None:
    idx = world_index()
    self_pairs = idx.conflicts_for("SELF_RECORD")
    assert set(zip(self_pairs["user_id"], self_pairs["client_id"], strict=True)) == {
        ("u.alice", "000100"),
        ("u.alice", "000101"),
        ("u.bob", "000200"),
        ("u.cara", "000400"),
    }
    hh = idx.conflicts_for("HOUSEHOLD_RECORD")
    assert set(zip(hh["user_id"], hh["client_id"], strict=True)) == {("u.alice", "000120")}
    assert set(idx.service_users["user_id"]) == {"svc.batch"}
    assert set(idx.sau_users["user_id"]) == {"u.bob"}
    # evidence never carries personal values
    text = idx.conflicts.write_csv()
    for secret in ("Rata", "1980-01-02", "Smith", "Kōwhai"):
        assert secret not in text
