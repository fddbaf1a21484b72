"""What the curated copy of a reference snapshot keeps: the columns something reads back from it, no more.

The raw bucket keeps every snapshot whole, as the ministry sent it. The curated bucket, which the ingest,
detect, reference and report roles all read, keeps only:

- ``staff``: ``user_id``, ``role``, ``team``, ``manager_user_id``, ``account_type``: what footprints (role and
  team of whoever looked), the quarterly report (automated accounts) and the weekly digest's fallback (team
  and manager) read. Not the names, date of birth, address, the member's own client id, site, status or
  dates: detection reads those from the reference index, which is compiled from the raw snapshot.
- ``clients``: ``client_id`` only (footprints check a client id against it). Not the names, date of birth,
  address or flags.
- ``relationships``, ``declarations``, ``assignments``, ``watchlist``: every contract column (identifiers,
  codes and dates of the relationship, declaration, assignment or listing; no personal values).

Columns outside the contract are dropped from every kind, whatever they hold (an IRD number, free-text
notes...); their names are listed in the snapshot's report (``reference/reports/<kind>/<digest>.json``:
``curated.dropped_unknown_columns``) and stay in the raw snapshot.

The pair rules need the personal values themselves (normalised family name, given names and date of birth
for SELF_RECORD and COLLEAGUE_RECORD, normalised address for HOUSEHOLD_RECORD): ``COMPILED_FROM_RAW`` kinds
are read from the raw bucket whenever the index is compiled, so no plain value, and no hash of one, is
ever written to the curated bucket (docs/privacy.md, "Minimisation", says why not a hash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind

# Contract columns whose values identify or locate a person: in the raw bucket only.
PERSONAL_FIELDS: Final[dict[ReferenceKind, tuple[str, ...]]] = {
    ReferenceKind.STAFF: ("family_name", "given_names", "date_of_birth", "address"),
    ReferenceKind.CLIENTS: ("family_name", "given_names", "date_of_birth", "address"),
}

# What the curated copy of each kind keeps (in this order).
CURATED_FIELDS: Final[dict[ReferenceKind, tuple[str, ...]]] = {
    ReferenceKind.STAFF: ("user_id", "role", "team", "manager_user_id", "account_type"),
    ReferenceKind.CLIENTS: ("client_id",),
    ReferenceKind.RELATIONSHIPS: REFERENCE_FIELDS[ReferenceKind.RELATIONSHIPS],
    ReferenceKind.DECLARATIONS: REFERENCE_FIELDS[ReferenceKind.DECLARATIONS],
    ReferenceKind.ASSIGNMENTS: REFERENCE_FIELDS[ReferenceKind.ASSIGNMENTS],
    ReferenceKind.WATCHLIST: REFERENCE_FIELDS[ReferenceKind.WATCHLIST],
}

# A JSON Lines snapshot's attributes outside the contract, as read (ingest.pipeline.read_table).
JSONL_EXTRA: Final = "extra"

# Kinds whose curated copy lacks contract columns the index needs: the index reads their raw snapshot.
COMPILED_FROM_RAW: Final = frozenset(k for k in ReferenceKind if set(REFERENCE_FIELDS[k]) - set(CURATED_FIELDS[k]))


@dataclass(frozen=True)
class CuratedCopy:
    """A snapshot minimised for the curated bucket, and what was left out of it (names only)."""

    frame: pl.DataFrame
    dropped_contract_columns: tuple[str, ...]  # contract columns kept in the raw snapshot only
    dropped_unknown_columns: tuple[str, ...]  # columns outside the contract, in the raw snapshot only

    def summary(self) -> dict[str, object]:
        """For the snapshot's report: column names and counts, never a value."""
        return {
            "columns": list(self.frame.columns),
            "dropped_contract_columns": list(self.dropped_contract_columns),
            "dropped_unknown_columns": list(self.dropped_unknown_columns),
            "dropped_unknown_count": len(self.dropped_unknown_columns),
        }


def curated_copy(kind: ReferenceKind, rows: pl.DataFrame) -> CuratedCopy:
    """The columns of ``rows`` (a snapshot as read: contract columns, perhaps others) the curated copy keeps;
    a kept column the snapshot lacks is there as null text, so every copy of a kind has the same schema."""
    kind = ReferenceKind(kind)
    keep = CURATED_FIELDS[kind]
    contract = REFERENCE_FIELDS[kind]
    frame = rows.select(
        (pl.col(c).cast(pl.String) if c in rows.columns else pl.lit(None, dtype=pl.String)).alias(c) for c in keep
    )
    unknown = {c for c in rows.columns if c not in contract}
    if JSONL_EXTRA in unknown:
        unknown = (unknown - {JSONL_EXTRA}) | _extra_names(rows[JSONL_EXTRA])
    return CuratedCopy(
        frame,
        tuple(c for c in contract if c not in keep and c in rows.columns),
        tuple(sorted(unknown)),
    )


def _extra_names(extra: pl.Series) -> set[str]:
    """The attribute names in a JSON Lines snapshot's ``extra`` column (JSON object text per row)."""
    present = extra.drop_nulls()
    if present.is_empty():
        return set()
    try:
        decoded = present.str.json_decode(infer_schema_length=None)
    except pl.exceptions.PolarsError:
        return {JSONL_EXTRA}
    return set(decoded.struct.fields) if isinstance(decoded.dtype, pl.Struct) else {JSONL_EXTRA}
