"""The reference index: the six snapshots reduced to the small tables detection joins against.

Built once per set of snapshots (``build_index``), serialised (``to_bytes``: a zip of Arrow IPC
tables plus a JSON header) and loaded by every detection run (``from_bytes``).

Tables (all identifiers ``pl.String``):

- ``persons``: one row per staff ``user_id`` (first row wins on duplicates): ``is_service``,
  ``is_sau`` (team is the Staff Assistance Unit), ``status``, ``start_date``, ``end_date``, ``team`` and
  ``manager_user_id`` (the weekly digest goes to each team's manager; ids and team names, no personal data).
- ``conflicts``: the static (user_id, client_id) conflict pairs of the pair rules (SELF_RECORD,
  RELATIVE_RECORD, HOUSEHOLD_RECORD, DECLARED_ASSOCIATE), one row per (user_id, client_id, rule), with
  the explanation and the evidence (JSON text) already written. Each pair rule builds its own pairs
  (``Rule.links``, in its rule module) from the prepared frames of a ``LinkContext``; this module
  prepares the frames and calls the hook of every rule in the catalog that has one.
- ``owners``: client_id -> owner_user_id for every person account's own record(s), with ``match``;
  COLLEAGUE_RECORD joins events on client_id, then drops the rows where the owner is the user.
- ``assignments``: user_id, client_id, valid_from, valid_to (``pl.Date``; null = open).
- ``watchlist``: client_id, added/removed as a date or an instant, the raw strings and row number.

Own records of a person account: ``staff.client_id`` (match ``staff.client_id``), and every
client with the same normalised family name, normalised given names and date of birth
(match ``name_dob``; all three must be present).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, Protocol

import polars as pl

from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind
from accesswatch.normalise import normalise_name, normalise_series
from accesswatch.reference._parse import blank_to_null, enum_value, to_date, to_instant, to_nz_date


class LinkingRule(Protocol):
    """What the index builder needs of a rule: its id and its ``links`` hook (the rules import this module;
    this module imports no rule)."""

    id: ClassVar[str]

    def links(self, context: LinkContext) -> pl.DataFrame | None: ...

FORMAT_VERSION: Final = 1
# Teams whose members may open colleagues' records (compared after normalise_name).
SAU_TEAMS: Final = frozenset({"staff assistance unit", "sau"})
_SAU_KEYS: Final = frozenset(normalise_name(t) for t in SAU_TEAMS)

TABLES: Final = ("persons", "conflicts", "owners", "assignments", "watchlist")

_S = pl.String
CONFLICT_SCHEMA: Final = pl.Schema(
    {"user_id": _S, "client_id": _S, "rule": _S, "explanation": _S, "evidence": _S}
)
OWNER_SCHEMA: Final = pl.Schema({"client_id": _S, "owner_user_id": _S, "match": _S})
# What a rule's ``links`` hook returns; the index adds the rule id.
LINK_COLUMNS: Final = ("user_id", "client_id", "explanation", "evidence")


@dataclass(frozen=True)
class LinkContext:
    """The prepared reference frames a pair rule's ``links`` hook builds its pairs from.

    - ``staff``: every staff column (String, blank keys null, first row per user_id) plus ``row``,
      ``is_service``, ``is_sau`` and ``dob`` (ISO date text or null).
    - ``clients``: every client column (first row per client_id) plus ``row`` and ``dob``.
    - ``own``: (user_id, own_client_id, match) for person accounts; match ``staff.client_id`` or
      ``name_dob`` (the linked match first when both hold).
    - ``relationships``: the snapshot (blank ids null) plus ``row`` (1-based).
    - ``declarations``: the rows with both ids present (blank ids null) plus ``row`` (1-based).
    """

    staff: pl.DataFrame
    clients: pl.DataFrame
    own: pl.DataFrame
    relationships: pl.DataFrame
    declarations: pl.DataFrame


@dataclass(frozen=True)
class ReferenceIndex:
    """Immutable, prepared reference data (see module docstring)."""

    snapshot_id: str
    persons: pl.DataFrame
    conflicts: pl.DataFrame
    owners: pl.DataFrame
    assignments: pl.DataFrame
    watchlist: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    # ---- derived, small ---------------------------------------------------------------------
    @property
    def service_users(self) -> pl.DataFrame:
        """user_id of every service account (one column)."""
        return self.persons.filter(pl.col("is_service")).select("user_id")

    @property
    def sau_users(self) -> pl.DataFrame:
        """user_id of every member of the Staff Assistance Unit (one column)."""
        return self.persons.filter(pl.col("is_sau")).select("user_id")

    def conflicts_for(self, rule: str) -> pl.DataFrame:
        return self.conflicts.filter(pl.col("rule") == rule).drop("rule")

    # ---- serialisation ----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        header = {
            "format": FORMAT_VERSION,
            "snapshot_id": self.snapshot_id,
            "counts": self.counts,
            "tables": list(TABLES),
        }
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("header.json", json.dumps(header, sort_keys=True))
            for name in TABLES:
                tbuf = io.BytesIO()
                getattr(self, name).write_ipc(tbuf, compression="zstd")
                zf.writestr(f"{name}.arrow", tbuf.getvalue())
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceIndex:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            header = json.loads(zf.read("header.json"))
            if header.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported reference index format {header.get('format')!r}")
            tables = {name: pl.read_ipc(io.BytesIO(zf.read(f"{name}.arrow"))) for name in TABLES}
        return cls(snapshot_id=header["snapshot_id"], counts=dict(header.get("counts", {})), **tables)


# --- building -------------------------------------------------------------------------------
def _frame(snapshots: dict[ReferenceKind, pl.DataFrame], kind: ReferenceKind) -> pl.DataFrame:
    """The snapshot with every contract column present as String (missing -> empty frame/null)."""
    fields = REFERENCE_FIELDS[kind]
    df = snapshots.get(kind)
    if df is None:
        return pl.DataFrame(schema=dict.fromkeys(fields, pl.String)).with_row_index("row", offset=1)
    df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in fields if c not in df.columns)
    return df.select(pl.col(c).cast(pl.String) for c in fields).with_row_index("row", offset=1)


def _own_records(staff: pl.DataFrame, clients: pl.DataFrame) -> pl.DataFrame:
    """(user_id, own_client_id, match) for person accounts."""
    persons = staff.filter(~pl.col("is_service"))
    linked = persons.filter(pl.col("client_id").is_not_null()).select(
        "user_id", pl.col("client_id").alias("own_client_id"), pl.lit("staff.client_id").alias("match")
    )
    keyed = persons.filter(pl.col("dob").is_not_null())
    keyed = keyed.with_columns(
        normalise_series(keyed["family_name"], normalise_name).alias("fam"),
        normalise_series(keyed["given_names"], normalise_name).alias("giv"),
    ).filter((pl.col("fam") != "") & (pl.col("giv") != ""))
    # block on date of birth first: only clients sharing a staff DOB need their names normalised
    cand = clients.filter(pl.col("client_id").is_not_null()).join(
        keyed.select("dob").unique(), on="dob", how="semi"
    )
    cand = cand.with_columns(
        normalise_series(cand["family_name"], normalise_name).alias("fam"),
        normalise_series(cand["given_names"], normalise_name).alias("giv"),
    )
    by_name = keyed.join(cand, on=["fam", "giv", "dob"], how="inner").select(
        "user_id", pl.col("client_id_right").alias("own_client_id"), pl.lit("name_dob").alias("match")
    )
    return (
        pl.concat([linked, by_name])
        .sort("user_id", "own_client_id", pl.col("match") != "staff.client_id")
        .unique(["user_id", "own_client_id"], keep="first", maintain_order=True)
    )


def _links(context: LinkContext, rules: Sequence[LinkingRule]) -> list[tuple[str, pl.DataFrame]]:
    """(rule id, pairs) for every rule with a ``links`` hook, in catalog order."""
    out = []
    for rule in rules:
        pairs = rule.links(context)
        if pairs is not None:
            out.append((rule.id, pairs.select(LINK_COLUMNS)))
    return out


def build_index(
    snapshots: dict[ReferenceKind, pl.DataFrame], snapshot_id: str, *, rules: Sequence[LinkingRule]
) -> ReferenceIndex:
    """Build the index. ``staff`` and ``clients`` are required; other kinds may be missing.

    Blank keys are ignored, on duplicate ``staff.user_id`` / ``clients.client_id`` the first row wins.
    ``rules`` (the catalog, passed by the caller: the rule modules import this module, not the other way
    round) whose ``links`` hook returns pairs fill the ``conflicts`` table.
    """
    snaps = {ReferenceKind(k): v for k, v in snapshots.items()}
    for required in (ReferenceKind.STAFF, ReferenceKind.CLIENTS):
        if required not in snaps:
            raise ValueError(f"the {required.value} snapshot is required")
    ids = [blank_to_null(pl.col(c)).alias(c) for c in ("user_id", "client_id")]

    staff = (
        _frame(snaps, ReferenceKind.STAFF)
        .with_columns(
            blank_to_null(pl.col("user_id")).alias("user_id"),
            blank_to_null(pl.col("client_id")).alias("client_id"),
        )
        .filter(pl.col("user_id").is_not_null())
        .unique("user_id", keep="first", maintain_order=True)
        .with_columns(
            (enum_value(pl.col("account_type")) == "service").fill_null(False).alias("is_service"),
            to_date(pl.col("date_of_birth")).cast(pl.String).alias("dob"),
        )
    )
    teams = normalise_series(staff["team"], normalise_name)
    staff = staff.with_columns(teams.is_in(sorted(_SAU_KEYS)).alias("is_sau"))
    persons = staff.select(
        "user_id",
        "is_service",
        "is_sau",
        enum_value(pl.col("status")).alias("status"),
        to_date(pl.col("start_date")).alias("start_date"),
        to_date(pl.col("end_date")).alias("end_date"),
        blank_to_null(pl.col("team")).alias("team"),
        blank_to_null(pl.col("manager_user_id")).alias("manager_user_id"),
    )

    clients = (
        _frame(snaps, ReferenceKind.CLIENTS)
        .with_columns(blank_to_null(pl.col("client_id")).alias("client_id"))
        .filter(pl.col("client_id").is_not_null())
        .unique("client_id", keep="first", maintain_order=True)
        .with_columns(to_date(pl.col("date_of_birth")).cast(pl.String).alias("dob"))
    )

    own = _own_records(staff, clients)

    relationships = _frame(snaps, ReferenceKind.RELATIONSHIPS).with_columns(
        blank_to_null(pl.col("client_id")).alias("client_id"),
        blank_to_null(pl.col("related_client_id")).alias("related_client_id"),
    )
    declarations = (
        _frame(snaps, ReferenceKind.DECLARATIONS)
        .with_columns(ids)
        .filter(pl.col("user_id").is_not_null() & pl.col("client_id").is_not_null())
    )
    context = LinkContext(
        staff=staff, clients=clients, own=own, relationships=relationships, declarations=declarations
    )
    linked = _links(context, rules)
    conflicts = pl.concat(
        [pl.DataFrame(schema=CONFLICT_SCHEMA)]
        + [
            df.with_columns(pl.lit(rule_id).alias("rule")).select(CONFLICT_SCHEMA.names()).cast(CONFLICT_SCHEMA)
            for rule_id, df in linked
        ]
    ).sort("user_id", "client_id", "rule")

    owners = own.select(
        pl.col("own_client_id").alias("client_id"), pl.col("user_id").alias("owner_user_id"), "match"
    ).sort("client_id", "owner_user_id")

    assignments = (
        _frame(snaps, ReferenceKind.ASSIGNMENTS)
        .with_columns(ids)
        .filter(pl.col("user_id").is_not_null() & pl.col("client_id").is_not_null())
        .select(
            "user_id",
            "client_id",
            to_nz_date(pl.col("valid_from")).alias("valid_from"),
            to_nz_date(pl.col("valid_to")).alias("valid_to"),
        )
        .unique(maintain_order=True)
    )

    watchlist = (
        _frame(snaps, ReferenceKind.WATCHLIST)
        .with_columns(blank_to_null(pl.col("client_id")).alias("client_id"))
        .filter(pl.col("client_id").is_not_null())
        .select(
            "client_id",
            pl.col("row").cast(pl.Int64).alias("watchlist_row"),
            blank_to_null(pl.col("added_at")).alias("added_at"),
            blank_to_null(pl.col("removed_at")).alias("removed_at"),
            to_date(pl.col("added_at")).alias("added_date"),
            to_instant(pl.col("added_at")).alias("added_instant"),
            to_date(pl.col("removed_at")).alias("removed_date"),
            to_instant(pl.col("removed_at")).alias("removed_instant"),
        )
    )

    counts = {
        "staff": staff.height,
        "clients": clients.height,
        "own_records": own.height,
        "conflicts": conflicts.height,
        "owners": owners.height,
        "assignments": assignments.height,
        "watchlist": watchlist.height,
    }
    for rule_id, df in linked:
        counts[f"conflicts.{rule_id}"] = df.height
    return ReferenceIndex(
        snapshot_id=snapshot_id,
        persons=persons,
        conflicts=conflicts,
        owners=owners,
        assignments=assignments,
        watchlist=watchlist,
        counts=counts,
    )
