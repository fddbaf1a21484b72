"""Validation of reference snapshots, one at a time and across kinds.

Reports carry identifiers, column names, enum values and row numbers only: never a name,
address, date of birth or other personal value. ``row`` numbers are 1-based positions of the
data row in the snapshot (the first data row is 1, whatever the file format).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final, Literal

import polars as pl
from pydantic import BaseModel, Field

from accesswatch.contract import (
    ACCOUNT_TYPES,
    ASSIGNMENT_REASONS,
    DECLARATION_NATURES,
    REFERENCE_FIELDS,
    REFERENCE_KEY_FIELDS,
    RELATIONSHIP_TYPES,
    STAFF_STATUSES,
    ReferenceKind,
)
from accesswatch.reference._parse import blank_to_null, enum_value, is_unparseable_when_present

MAX_LISTED: Final = 20  # rows / ids listed per issue; ``count`` always has the full number

ENUM_FIELDS: Final[dict[ReferenceKind, dict[str, frozenset[str]]]] = {
    ReferenceKind.STAFF: {"status": STAFF_STATUSES, "account_type": ACCOUNT_TYPES},
    ReferenceKind.RELATIONSHIPS: {"relationship": RELATIONSHIP_TYPES},
    ReferenceKind.DECLARATIONS: {"nature": DECLARATION_NATURES},
    ReferenceKind.ASSIGNMENTS: {"reason": ASSIGNMENT_REASONS},
}
# (column, may it be a timestamp as well as a date?)
DATE_FIELDS: Final[dict[ReferenceKind, tuple[tuple[str, bool], ...]]] = {
    ReferenceKind.STAFF: (("date_of_birth", False), ("start_date", False), ("end_date", False)),
    ReferenceKind.CLIENTS: (("date_of_birth", False),),
    ReferenceKind.DECLARATIONS: (("declared_at", True),),
    ReferenceKind.ASSIGNMENTS: (("valid_from", True), ("valid_to", True)),
    ReferenceKind.WATCHLIST: (("added_at", True), ("removed_at", True)),
}
# Columns whose values are personal: their bad values are never echoed, only row numbers.
UNIQUE_KEYS: Final[dict[ReferenceKind, str]] = {
    ReferenceKind.STAFF: "user_id",
    ReferenceKind.CLIENTS: "client_id",
}

Level = Literal["error", "warning"]


class ValidationIssue(BaseModel):
    """One kind of problem in one column of one snapshot."""

    kind: str
    code: str  # missing_column | blank_key | duplicate_key | bad_enum | bad_date | dangling_client | dangling_user
    level: Level
    column: str | None = None
    count: int = 0
    message: str = ""
    rows: list[int] = Field(default_factory=list)  # 1-based data rows (first MAX_LISTED)
    ids: list[str] = Field(default_factory=list)  # offending identifiers (first MAX_LISTED)
    values: list[str] = Field(default_factory=list)  # offending enum values (never personal data)


class ValidationReport(BaseModel):
    """Outcome of validating one snapshot (``kind`` set) or a set of snapshots (``kind`` None)."""

    kind: str | None = None
    usable: bool = True  # False: a required column is missing; the snapshot must not be used
    counts: dict[str, int] = Field(default_factory=dict)
    unknown_columns: list[str] = Field(default_factory=list)
    issues: list[ValidationIssue] = Field(default_factory=list)

    @property
    def errors(self) -> list[ValidationIssue]:
        return [i for i in self.issues if i.level == "error"]

    @property
    def warnings(self) -> list[ValidationIssue]:
        return [i for i in self.issues if i.level == "warning"]

    def codes(self) -> set[str]:
        return {i.code for i in self.issues}


def _warn(report: ValidationReport, kind: ReferenceKind, code: str, column: str, count: int, rows: list[int],
          message: str, **extra: Any) -> None:
    """A warning about ``count`` rows (line numbers ``rows``) of one column of the snapshot."""
    report.issues.append(ValidationIssue(kind=kind.value, code=code, level="warning", column=column, count=count,
                                         rows=rows, message=message, **extra))


def _rows(df: pl.DataFrame, mask: pl.Expr) -> tuple[int, list[int]]:
    hit = df.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row"), mask.alias("m")).filter("m")
    return hit.height, hit["row"].head(MAX_LISTED).to_list()


def validate_snapshot(kind: ReferenceKind, df: pl.DataFrame, absent: Collection[str] = ()) -> ValidationReport:
    """Check one snapshot against the contract (see module docstring for what is reported). ``absent``: contract
    columns the file did not give at all (a reader may have added them as nulls): missing, like a column
    not in ``df``."""
    kind = ReferenceKind(kind)
    report = ValidationReport(kind=kind.value, counts={"rows": df.height})
    fields = REFERENCE_FIELDS[kind]
    report.unknown_columns = sorted(c for c in df.columns if c not in fields)
    key_fields = REFERENCE_KEY_FIELDS[kind]
    # A key column the file did not give (or left blank on every row) makes the snapshot unusable.
    missing = [c for c in fields if c not in df.columns or (c in absent and c in key_fields)]
    for col in missing:
        required = col in key_fields
        if required:
            report.usable = False
        report.issues.append(
            ValidationIssue(
                kind=kind.value,
                code="missing_column",
                level="error" if required else "warning",
                column=col,
                message=f"column {col!r} is missing"
                + (": the snapshot cannot be used" if required else ": treated as blank"),
            )
        )
    if not report.usable:
        return report
    df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)
    df = df.with_columns(pl.col(c).cast(pl.String) for c in fields)

    for col in key_fields:
        n, rows = _rows(df, blank_to_null(pl.col(col)).is_null())
        if n:
            _warn(report, kind, "blank_key", col, n, rows, f"{n} row(s) with blank {col}: ignored")

    key = UNIQUE_KEYS.get(kind)
    if key is not None:
        k = blank_to_null(pl.col(key))
        n, rows = _rows(df, k.is_not_null() & k.is_duplicated())
        if n:
            ids = (
                df.select(k.alias("k")).filter(pl.col("k").is_not_null() & pl.col("k").is_duplicated())["k"]
            ).unique(maintain_order=True)
            _warn(report, kind, "duplicate_key", key, n, rows, f"{ids.len()} {key} value(s) on more than one row: the first row is used", ids=ids.head(MAX_LISTED).to_list())
        report.counts[f"distinct_{key}"] = df.select(k.drop_nulls().n_unique()).item()

    for col, allowed in ENUM_FIELDS.get(kind, {}).items():
        v = enum_value(pl.col(col))
        bad = v.is_not_null() & ~v.is_in(sorted(allowed))
        n, rows = _rows(df, bad)
        if n:
            values = df.filter(bad).select(v.alias("v"))["v"].unique(maintain_order=True)
            _warn(report, kind, "bad_enum", col, n, rows, f"{n} row(s) with a {col} outside {sorted(allowed)}", values=[s[:40] for s in values.head(MAX_LISTED).to_list()])

    for col, timestamps in DATE_FIELDS.get(kind, ()):
        n, rows = _rows(df, is_unparseable_when_present(pl.col(col), timestamps=timestamps))
        if n:
            _warn(report, kind, "bad_date", col, n, rows, f"{n} row(s) with an unparseable {col}: treated as blank")
    return report


# --- across snapshots -----------------------------------------------------------------------
_CLIENT_REFS: Final[tuple[tuple[ReferenceKind, str], ...]] = (
    (ReferenceKind.STAFF, "client_id"),
    (ReferenceKind.RELATIONSHIPS, "client_id"),
    (ReferenceKind.RELATIONSHIPS, "related_client_id"),
    (ReferenceKind.DECLARATIONS, "client_id"),
    (ReferenceKind.ASSIGNMENTS, "client_id"),
    (ReferenceKind.WATCHLIST, "client_id"),
)
_USER_REFS: Final[tuple[tuple[ReferenceKind, str], ...]] = (
    (ReferenceKind.DECLARATIONS, "user_id"),
    (ReferenceKind.ASSIGNMENTS, "user_id"),
    (ReferenceKind.STAFF, "manager_user_id"),
)


def _ids(df: pl.DataFrame | None, col: str) -> pl.Series | None:
    if df is None or col not in df.columns:
        return None
    return df.select(blank_to_null(pl.col(col).cast(pl.String)).alias(col))[col]


def cross_validate(snapshots: dict[ReferenceKind, pl.DataFrame]) -> ValidationReport:
    """Dangling references between snapshots. All are warnings: a dangling id never stops a run."""
    snaps = {ReferenceKind(k): v for k, v in snapshots.items()}
    report = ValidationReport(kind=None, counts={k.value: v.height for k, v in snaps.items()})
    for target_kind, target_col, refs, code in (
        (ReferenceKind.CLIENTS, "client_id", _CLIENT_REFS, "dangling_client"),
        (ReferenceKind.STAFF, "user_id", _USER_REFS, "dangling_user"),
    ):
        known = _ids(snaps.get(target_kind), target_col)
        if known is None:
            continue
        known_df = pl.DataFrame({"id": known.drop_nulls().unique()})
        for kind, col in refs:
            s = _ids(snaps.get(kind), col)
            if s is None:
                continue
            frame = pl.DataFrame({"id": s}).with_row_index("row", offset=1)
            bad = frame.filter(pl.col("id").is_not_null()).join(known_df, on="id", how="anti").sort("row")
            if bad.height:
                ids = bad["id"].unique(maintain_order=True)
                report.issues.append(
                    ValidationIssue(
                        kind=kind.value,
                        code=code,
                        level="warning",
                        column=col,
                        count=bad.height,
                        rows=bad["row"].head(MAX_LISTED).cast(pl.Int64).to_list(),
                        ids=ids.head(MAX_LISTED).to_list(),
                        message=f"{bad.height} {kind.value}.{col} value(s) not in {target_kind.value}.{target_col}",
                    )
                )
    return report
