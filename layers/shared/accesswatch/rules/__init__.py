"""The rule catalog. Rule ids are stable; the seven contract rules are ``live``.

Each rule lives in its own module with ``POSITIVE`` and ``NEGATIVE`` sample cases beside it
(run by ``tests/test_rules.py``).
"""

from __future__ import annotations

from typing import Final

from accesswatch.rules.base import Rule, Sample, events_frame
from accesswatch.rules.colleague_record import ColleagueRecord
from accesswatch.rules.declared_associate import DeclaredAssociate
from accesswatch.rules.household_record import HouseholdRecord
from accesswatch.rules.inactive_account import InactiveAccount
from accesswatch.rules.out_of_hours_sensitive import OutOfHoursSensitive
from accesswatch.rules.public_figure import PublicFigure
from accesswatch.rules.relative_record import RelativeRecord
from accesswatch.rules.self_record import SelfRecord
from accesswatch.rules.sensitive_lookup import SensitiveLookup
from accesswatch.rules.unassigned_volume import UnassignedVolume

CATALOG: Final[tuple[Rule, ...]] = (
    SelfRecord(),
    RelativeRecord(),
    HouseholdRecord(),
    ColleagueRecord(),
    DeclaredAssociate(),
    PublicFigure(),
    SensitiveLookup(),
    InactiveAccount(),
    OutOfHoursSensitive(),
    UnassignedVolume(),
)
LIVE_RULES: Final[tuple[Rule, ...]] = tuple(r for r in CATALOG if r.status == "live")
RULES_BY_ID: Final[dict[str, Rule]] = {r.id: r for r in CATALOG}
TIER_OF: Final[dict[str, str]] = {r.id: r.tier() for r in CATALOG}


def tier_of(rule_id: str) -> str:
    """The routing tier of a rule id; an id the catalog does not know is only recorded."""
    return TIER_OF.get(rule_id, "record")

__all__ = ["CATALOG", "LIVE_RULES", "RULES_BY_ID", "TIER_OF", "Rule", "Sample", "events_frame", "tier_of"]
