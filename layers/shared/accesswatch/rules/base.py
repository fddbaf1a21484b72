"""What every rule shares: the ``Rule`` base class, sample cases and the assignment cover test.

A rule is a polars plan over a partition of events (``EVENT_SCHEMA`` plus a row index column
``_row``) and the reference index. ``Rule.plan`` returns the matching event rows (all event
columns) with ``explanation`` and ``evidence``; it may return an event more than once, the base
class keeps the first row per event and drops service accounts, which never raise findings.
A rule whose matches are static (user_id, client_id) pairs builds them in ``Rule.links``, which
the reference index builder calls once per set of snapshots (see ``rules._pairs``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal

import polars as pl

from accesswatch.contract import EVENT_SCHEMA, ReferenceKind, Severity
from accesswatch.quarters import NZ_TZ_NAME
from accesswatch.reference._parse import to_instant
from accesswatch.reference.index import LinkContext, ReferenceIndex

ROW: Final = "_row"
RuleStatus = Literal["live", "staging"]
# How a rule's findings reach people (data contract v2, "Cases"): a high-severity live rule opens or
# joins its user's case at once; other live rules add to the user's risk score; staging rules are
# recorded and counted, never in a case.
Tier = Literal["immediate", "accumulate", "record"]
RULE_OUTPUT: Final = ("event_id", "system", "explanation", "evidence")
EVENT_COLUMNS: Final = tuple(EVENT_SCHEMA.names())


def json_object(*pairs: tuple[str, pl.Expr]) -> pl.Expr:
    """A compact JSON object text built from named expressions."""
    return pl.struct([e.alias(k) for k, e in pairs]).struct.json_encode()


def prepare(events: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    lf = events.lazy()
    if ROW not in lf.collect_schema().names():
        lf = lf.with_row_index(ROW)
    return lf


def not_covered(cands: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
    """The candidate events for which no assignment covers the access.

    Covers: an assignment row for the same (user_id, client_id) with
    valid_from <= nz_date <= valid_to (inclusive, New Zealand date; null bounds are open).
    """
    d = pl.col("nz_date")
    covered = (
        cands.select(ROW, "user_id", "client_id", "nz_date")
        .join(index.assignments.lazy(), on=["user_id", "client_id"], how="inner")
        .filter(
            (pl.col("valid_from").is_null() | (pl.col("valid_from") <= d))
            & (pl.col("valid_to").is_null() | (d <= pl.col("valid_to")))
        )
        .select(ROW)
        .unique()
    )
    return cands.join(covered, on=ROW, how="anti")


class Rule(ABC):
    """One detection rule. Subclasses set the class attributes and implement ``plan``.

    Every concrete subclass defined in a module of ``accesswatch.rules`` is in the catalog: the live
    rules (the contract's) in the contract's order, then the staging rules by id.
    """

    id: ClassVar[str]
    severity: ClassVar[Severity]
    status: ClassVar[RuleStatus]
    description: ClassVar[str]

    def links(self, context: LinkContext) -> pl.DataFrame | None:
        """The static pairs this rule fires on, built once per set of snapshots, or None (the default).

        Columns ``user_id``, ``client_id``, ``explanation``, ``evidence`` (JSON text): the reference
        index stores them in its ``conflicts`` table under this rule's id.
        """
        return None

    @abstractmethod
    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        """Matching event rows (event columns incl. ``_row``) with ``explanation`` and ``evidence``."""

    def matches(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        """``plan`` without service accounts, one row per event row (the first)."""
        return (
            self.plan(events, index)
            .join(index.service_users.lazy(), on="user_id", how="anti")
            .sort(ROW)
            .unique(ROW, keep="first", maintain_order=True)
        )

    def evaluate(self, events: pl.DataFrame, index: ReferenceIndex) -> pl.DataFrame:
        """One row per matching event: event_id, system, explanation, evidence."""
        return (
            self.matches(prepare(events), index)
            .unique(["system", "event_id"], keep="first", maintain_order=True)
            .select(RULE_OUTPUT)
            .collect()
        )

    @classmethod
    def tier(cls) -> Tier:
        if cls.status != "live":
            return "record"
        return "immediate" if cls.severity is Severity.HIGH else "accumulate"

    def __repr__(self) -> str:
        return f"<Rule {self.id} {self.severity.value} {self.status} {self.tier()}>"


# --- sample cases ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """A small case for a rule: events, the event ids the rule must report, and reference rows.

    Plain data: the tests run a sample against the shared sample world (``tests/support``, the
    people and clients ``ev`` names), with ``reference``'s rows added to its snapshots.
    """

    name: str
    events: tuple[dict[str, Any], ...]
    expect: frozenset[str]
    reference: dict[ReferenceKind, tuple[dict[str, str | None], ...]] = field(default_factory=dict)


def ev(event_id: str, user_id: str, client_id: str, **kw: Any) -> dict[str, Any]:
    """A sample event, by default mid-March 2025 NZ time, a ``summary`` view."""
    return {
        "event_id": event_id,
        "user_id": user_id,
        "client_id": client_id,
        "occurred_at": kw.pop("occurred_at", "2025-03-15T10:00:00+13:00"),
        **kw,
    }


def events_frame(rows: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> pl.DataFrame:
    """An ``EVENT_SCHEMA`` frame from minimal dicts (event_id, occurred_at, user_id, client_id, ...).

    Defaults: system ``cms``, action ``view``, screen ``summary``; ``occurred_at_utc`` and ``nz_date``
    are derived from ``occurred_at`` as the parser does.
    """
    defaults: dict[str, Any] = {
        "system": "cms",
        "action": "view",
        "screen": "summary",
        "site": None,
        "session_id": None,
        "source_key": "samples",
        "extra": "{}",
    }
    recs = [{**defaults, "line": i + 2, **r} for i, r in enumerate(rows)]
    base = pl.DataFrame(
        [{k: r.get(k) for k in EVENT_COLUMNS if k not in ("occurred_at_utc", "nz_date")} for r in recs],
        schema={k: v for k, v in EVENT_SCHEMA.items() if k not in ("occurred_at_utc", "nz_date")},
    )
    utc = to_instant(pl.col("occurred_at"))
    return base.with_columns(
        utc.alias("occurred_at_utc"),
        utc.dt.convert_time_zone(NZ_TZ_NAME).dt.date().alias("nz_date"),
    ).select(EVENT_COLUMNS)
