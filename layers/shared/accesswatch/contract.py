"""The data contract (version 2, binding; kept by the Ministry beside this repository) as constants and types.

Everything that names a field, an action, a screen, a rule id or a reference snapshot
comes from here, so that parsing, detection, synthesis and export agree.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import polars as pl

# --- access logs -------------------------------------------------------------------------
REQUIRED_EVENT_FIELDS: Final = ("event_id", "occurred_at", "user_id", "client_id", "action")
OPTIONAL_EVENT_FIELDS: Final = ("screen", "site", "session_id")
EVENT_FIELDS: Final = REQUIRED_EVENT_FIELDS + OPTIONAL_EVENT_FIELDS
ACTIONS: Final = frozenset({"view", "search", "update", "print", "export"})
SENSITIVE_SCREENS: Final = frozenset({"address", "contact", "date_of_birth", "ird_number"})

# A parsed, accepted access event as it sits in a curated partition (one polars row).
# - occurred_at: the timestamp exactly as the source wrote it
# - occurred_at_utc: the same instant, UTC, microseconds
# - nz_date: the New Zealand calendar date of the instant (days, quarters, validity windows)
# - action, screen: lower-cased and stripped; screen null when absent
# - line: the record's line number in its source file (the header is line 1)
# - extra: unknown columns of the source line as a JSON object text ("{}" when none)
EVENT_SCHEMA: Final = pl.Schema(
    {  # type: ignore[arg-type]  # polars' stubs do not accept a mix of dtype classes and instances
        "system": pl.String,
        "event_id": pl.String,
        "occurred_at": pl.String,
        "occurred_at_utc": pl.Datetime("us", "UTC"),
        "nz_date": pl.Date,
        "user_id": pl.String,
        "client_id": pl.String,
        "action": pl.String,
        "screen": pl.String,
        "site": pl.String,
        "session_id": pl.String,
        "source_key": pl.String,
        "line": pl.Int64,
        "extra": pl.String,
    }
)


# --- reference data -----------------------------------------------------------------------
class ReferenceKind(StrEnum):
    STAFF = "staff"
    CLIENTS = "clients"
    RELATIONSHIPS = "relationships"
    DECLARATIONS = "declarations"
    ASSIGNMENTS = "assignments"
    WATCHLIST = "watchlist"


REFERENCE_FIELDS: Final[dict[ReferenceKind, tuple[str, ...]]] = {
    ReferenceKind.STAFF: (
        "user_id", "family_name", "given_names", "date_of_birth", "address", "role", "team", "site",
        "manager_user_id", "client_id", "status", "start_date", "end_date", "account_type",
    ),
    ReferenceKind.CLIENTS: ("client_id", "family_name", "given_names", "date_of_birth", "address", "flags"),
    ReferenceKind.RELATIONSHIPS: ("client_id", "related_client_id", "relationship"),
    ReferenceKind.DECLARATIONS: ("user_id", "client_id", "nature", "declared_at"),
    ReferenceKind.ASSIGNMENTS: ("user_id", "client_id", "reason", "valid_from", "valid_to"),
    ReferenceKind.WATCHLIST: ("client_id", "reason", "added_at", "removed_at"),
}
# Fields a snapshot row cannot do without (the rest may be blank).
REFERENCE_KEY_FIELDS: Final[dict[ReferenceKind, tuple[str, ...]]] = {
    ReferenceKind.STAFF: ("user_id",),
    ReferenceKind.CLIENTS: ("client_id",),
    ReferenceKind.RELATIONSHIPS: ("client_id", "related_client_id"),
    ReferenceKind.DECLARATIONS: ("user_id", "client_id"),
    ReferenceKind.ASSIGNMENTS: ("user_id", "client_id"),
    ReferenceKind.WATCHLIST: ("client_id",),
}
RELATIONSHIP_TYPES: Final = frozenset(
    {"partner", "parent", "child", "sibling", "grandparent", "grandchild", "other_whanau", "household"}
)
DECLARATION_NATURES: Final = frozenset({"family", "friend", "acquaintance", "business", "club", "social_media"})
ASSIGNMENT_REASONS: Final = frozenset({"caseload", "appointment", "task", "referral"})
STAFF_STATUSES: Final = frozenset({"active", "leave", "terminated"})
ACCOUNT_TYPES: Final = frozenset({"person", "service"})


# --- rules ----------------------------------------------------------------------------------
class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# The data contract's rules, in its order: the binding interface, so a literal on purpose. The catalog
# itself is derived from the rule modules (``accesswatch.rules``), whose live rules must be exactly
# these (tests/unit/rules/test_rules.py); this module stays the light one the short functions load, without
# importing the rules or polars.
CONTRACT_RULES: Final = (
    "SELF_RECORD",
    "RELATIVE_RECORD",
    "HOUSEHOLD_RECORD",
    "COLLEAGUE_RECORD",
    "DECLARED_ASSOCIATE",
    "PUBLIC_FIGURE",
    "SENSITIVE_LOOKUP",
)

# --- findings export ----------------------------------------------------------------------
FINDING_EXPORT_FIELDS: Final = (
    "finding_id", "event_id", "rule", "severity", "user_id", "client_id", "occurred_at",
    "explanation", "evidence",
)
