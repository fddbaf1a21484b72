"""The sample world: a small reference world the rules' sample cases run against (fictional people only).

Test support, not runtime code: the rule modules keep their samples as plain data (``Sample``, ``ev``)
and this module builds the frames and the index they run on. ``run_sample`` is what
``tests/unit/rules/test_rules.py`` runs for every rule's POSITIVE and NEGATIVE samples.

Staff
- ``u.alice``: linked own record 000100 and a name/DOB duplicate 000101; lives at
  ``Flat 2, 12 Rata Street``; team Income Support; declared a friendship with 000600;
  assigned 000700 for March 2025, 000500 open-ended, and (pointlessly) her own 000100.
- ``u.bob``: Staff Assistance Unit; own record 000200 found by name + DOB only.
- ``u.cara``: terminated 2024-12-31; own record 000400 (linked); team Payments.
- ``svc.batch``: a service account.

Clients: 000110 is the sibling of 000100, 000111 the parent of 000100 (row given the other way
round), 000120 lives at ``Unit 2 12 Rata St`` (Alice's housemate), 000121 at ``3/12 Rata St``
(a neighbour), 000500-000502 on the watchlist, 000300 and 000700 ordinary clients.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Final

import polars as pl

from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind
from accesswatch.reference.index import ReferenceIndex, build_index
from accesswatch.rules import Rule, Sample, events_frame

_K = ReferenceKind

WORLD: Final[dict[ReferenceKind, tuple[dict[str, str | None], ...]]] = {
    _K.STAFF: (
        {
            "user_id": "u.alice",
            "family_name": "Smith-Jones",
            "given_names": "Alice Mere",
            "date_of_birth": "1980-01-02",
            "address": "Flat 2, 12 Rata Street, Kelburn",
            "role": "case manager",
            "team": "Income Support",
            "site": "WLG",
            "manager_user_id": "u.cara",
            "client_id": "000100",
            "status": "active",
            "start_date": "2010-01-01",
            "end_date": None,
            "account_type": "person",
        },
        {
            "user_id": "u.bob",
            "family_name": "O'Brien",
            "given_names": "Bob",
            "date_of_birth": "1975-05-06",
            "address": "7 Kōwhai Rd",
            "role": "investigator",
            "team": "Staff Assistance Unit",
            "site": "WLG",
            "manager_user_id": None,
            "client_id": "",
            "status": "active",
            "start_date": "2015-01-01",
            "end_date": "",
            "account_type": "person",
        },
        {
            "user_id": "u.cara",
            "family_name": "Hēmi",
            "given_names": "Cara",
            "date_of_birth": "1970-07-07",
            "address": "1 Tui Tce",
            "role": "manager",
            "team": "Payments",
            "site": "AKL",
            "manager_user_id": None,
            "client_id": "000400",
            "status": "terminated",
            "start_date": "2000-01-01",
            "end_date": "2024-12-31",
            "account_type": "person",
        },
        {
            "user_id": "svc.batch",
            "family_name": None,
            "given_names": None,
            "date_of_birth": None,
            "address": None,
            "role": "batch",
            "team": "Platform",
            "site": None,
            "manager_user_id": None,
            "client_id": "000300",
            "status": "active",
            "start_date": None,
            "end_date": None,
            "account_type": "service",
        },
    ),
    _K.CLIENTS: (
        {
            "client_id": "000100",
            "family_name": "Smith Jones",
            "given_names": "Alice Mere",
            "date_of_birth": "1980-01-02",
            "address": "2/12 Rata St, Kelburn",
            "flags": "",
        },
        {
            "client_id": "000101",
            "family_name": "SMITHJONES",
            "given_names": "alice  mere",
            "date_of_birth": "1980-01-02",
            "address": "99 Elsewhere Road",
            "flags": "",
        },
        {
            "client_id": "000110",
            "family_name": "Smith-Jones",
            "given_names": "Tom",
            "date_of_birth": "1982-03-04",
            "address": "5 Other St",
            "flags": "",
        },
        {
            "client_id": "000111",
            "family_name": "Smith-Jones",
            "given_names": "Mary",
            "date_of_birth": "1950-03-04",
            "address": "6 Other St",
            "flags": "",
        },
        {
            "client_id": "000120",
            "family_name": "Ngata",
            "given_names": "Rawiri",
            "date_of_birth": "1985-01-01",
            "address": "Unit 2 12 Rata St Kelburn",
            "flags": "",
        },
        {
            "client_id": "000121",
            "family_name": "Ngata",
            "given_names": "Aroha",
            "date_of_birth": "1986-01-01",
            "address": "3/12 Rata St, Kelburn",
            "flags": "",
        },
        {
            "client_id": "000200",
            "family_name": "OBRIEN",
            "given_names": "bob",
            "date_of_birth": "1975-05-06",
            "address": "7 Kowhai Road",
            "flags": "",
        },
        {
            "client_id": "000300",
            "family_name": "Brown",
            "given_names": "Jo",
            "date_of_birth": "1990-01-01",
            "address": "8 Kauri Pl",
            "flags": "",
        },
        {
            "client_id": "000400",
            "family_name": "Hemi",
            "given_names": "Cara",
            "date_of_birth": "1970-07-07",
            "address": "1 Tui Terrace",
            "flags": "",
        },
        {
            "client_id": "000500",
            "family_name": "Famous",
            "given_names": "Pat",
            "date_of_birth": "1960-01-01",
            "address": "1 Parliament Dr",
            "flags": "media",
        },
        {
            "client_id": "000501",
            "family_name": "Former",
            "given_names": "Lee",
            "date_of_birth": "1961-01-01",
            "address": "2 Parliament Dr",
            "flags": "",
        },
        {
            "client_id": "000502",
            "family_name": "Recent",
            "given_names": "Sam",
            "date_of_birth": "1962-01-01",
            "address": "3 Parliament Dr",
            "flags": "",
        },
        {
            "client_id": "000600",
            "family_name": "Friend",
            "given_names": "Kim",
            "date_of_birth": "1981-01-01",
            "address": "4 Kauri Pl",
            "flags": "",
        },
        {
            "client_id": "000700",
            "family_name": "Ordinary",
            "given_names": "Max",
            "date_of_birth": "1991-01-01",
            "address": "9 Kauri Pl",
            "flags": "",
        },
    ),
    _K.RELATIONSHIPS: (
        {"client_id": "000100", "related_client_id": "000110", "relationship": "sibling"},
        {"client_id": "000111", "related_client_id": "000100", "relationship": "child"},
    ),
    _K.DECLARATIONS: (
        {"user_id": "u.alice", "client_id": "000600", "nature": "friend", "declared_at": "2030-01-01"},
    ),
    _K.ASSIGNMENTS: (
        {
            "user_id": "u.alice",
            "client_id": "000700",
            "reason": "caseload",
            "valid_from": "2025-03-01",
            "valid_to": "2025-03-31",
        },
        {
            "user_id": "u.alice",
            "client_id": "000500",
            "reason": "task",
            "valid_from": "2025-03-01",
            "valid_to": "",
        },
        {
            "user_id": "u.alice",
            "client_id": "000100",
            "reason": "caseload",
            "valid_from": None,
            "valid_to": None,
        },
        {
            "user_id": "u.alice",
            "client_id": "000110",
            "reason": "caseload",
            "valid_from": None,
            "valid_to": None,
        },
        {
            "user_id": "u.alice",
            "client_id": "000120",
            "reason": "caseload",
            "valid_from": None,
            "valid_to": None,
        },
        {
            "user_id": "u.alice",
            "client_id": "000600",
            "reason": "caseload",
            "valid_from": None,
            "valid_to": None,
        },
        {
            "user_id": "u.alice",
            "client_id": "000200",
            "reason": "caseload",
            "valid_from": None,
            "valid_to": None,
        },
    ),
    _K.WATCHLIST: (
        {"client_id": "000500", "reason": "public figure", "added_at": "2025-01-01", "removed_at": ""},
        {
            "client_id": "000501",
            "reason": "public figure",
            "added_at": "2024-01-01",
            "removed_at": "2025-02-01",
        },
        {
            "client_id": "000502",
            "reason": "in the news",
            "added_at": "2025-03-10T12:00:00+13:00",
            "removed_at": None,
        },
    ),
}


def snapshot_frames(
    overrides: dict[ReferenceKind, tuple[dict[str, str | None], ...]] | None = None,
) -> dict[ReferenceKind, pl.DataFrame]:
    """WORLD (with whole kinds replaced by ``overrides``) as all-String frames."""
    data = {**WORLD, **(overrides or {})}
    frames: dict[ReferenceKind, pl.DataFrame] = {}
    for kind, rows in data.items():
        cols = REFERENCE_FIELDS[kind]
        frames[kind] = pl.DataFrame(
            [{c: r.get(c) for c in cols} for r in rows], schema=dict.fromkeys(cols, pl.String)
        )
    return frames


def world_index(
    overrides: dict[ReferenceKind, tuple[dict[str, str | None], ...]] | None = None,
    rules: Sequence[Rule] | None = None,
) -> ReferenceIndex:
    """The index of WORLD with whole kinds replaced by ``overrides`` (pair links of ``rules``, default the catalog)."""
    from accesswatch.rules import CATALOG

    return build_index(snapshot_frames(overrides), snapshot_id="samples", rules=CATALOG if rules is None else rules)


def with_rows(
    extra: dict[ReferenceKind, tuple[dict[str, str | None], ...]],
) -> dict[ReferenceKind, tuple[dict[str, str | None], ...]]:
    """Overrides that add ``extra``'s rows to WORLD's (a sample's ``reference``)."""
    return {kind: WORLD.get(kind, ()) + rows for kind, rows in extra.items()}


def samples_of(rule: Rule) -> dict[str, tuple[Sample, ...]]:
    """The rule module's POSITIVE and NEGATIVE samples."""
    module = sys.modules[type(rule).__module__]
    return {group: tuple(getattr(module, group, ())) for group in ("POSITIVE", "NEGATIVE")}


PERSONAL_VALUES: Final = sorted(
    {
        str(v)
        for kind in (_K.STAFF, _K.CLIENTS)
        for row in WORLD[kind]
        for f, v in row.items()
        if f in ("family_name", "given_names", "date_of_birth", "address") and v and len(str(v).strip()) > 3
    }
)


def run_sample(rule: Rule, sample: Sample, rules: Sequence[Rule] | None = None) -> None:
    """Assert that ``rule`` reports exactly ``sample.expect`` on the sample world plus the sample's rows,
    with JSON-object evidence and no personal data in evidence or explanation."""
    index = world_index(with_rows(sample.reference), rules=rules)
    got = rule.evaluate(events_frame(sample.events), index)
    assert got.columns == ["event_id", "system", "explanation", "evidence"]
    assert set(got["event_id"]) == set(sample.expect), sample.name
    assert got.height == len(sample.expect), sample.name
    for evidence, explanation in zip(got["evidence"], got["explanation"], strict=True):
        assert isinstance(json.loads(evidence), dict)
        for value in PERSONAL_VALUES:
            assert value not in evidence and value not in explanation
