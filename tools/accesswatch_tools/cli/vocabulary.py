"""The case vocabulary the CLI's parsers check values against and name in their help, as plain tuples.

The layer's modules that define them (``accesswatch.cases.workflow``, ``.service``, ``.sources``,
``.vocabulary``) import boto3, pydantic and, through the rule catalog, polars: about a second of CPU that
``accesswatch cases list --help`` and the parse of every ``cases`` command would pay for a few words.
tests/unit/tools/test_cli_imports.py proves each of these equal to the layer's own.
"""

from __future__ import annotations

# accesswatch.cases.workflow.STATUSES, in its order
STATUSES: tuple[str, ...] = ("opened", "triaged", "notified", "investigating", "decided", "closed_unfounded",
                             "er_case", "awaiting_outcome", "outcome_recorded", "closed_founded", "reopened")
# accesswatch.cases.service.STATUS_GROUPS
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "open": tuple(s for s in STATUSES if s not in ("closed_unfounded", "closed_founded")),
    "closed": tuple(s for s in STATUSES if s in ("closed_unfounded", "closed_founded")),
}
PRIORITIES: tuple[str, ...] = ("critical", "high", "medium", "low")  # accesswatch.cases.service.PRIORITY_RANK
TIERS: tuple[str, ...] = ("immediate", "accumulate")  # accesswatch.cases.service.TIERS
# accesswatch.cases.sources.PERSON_SOURCES, SOURCES and MAX_CLIENTS
PERSON_SOURCES: tuple[str, ...] = ("complaint", "manager_concern", "privacy_request")
SOURCES: tuple[str, ...] = ("detection", "random_review", *PERSON_SOURCES)
MAX_CLIENTS = 50
# accesswatch.cases.vocabulary.UNFOUNDED_REASONS
UNFOUNDED_REASONS: tuple[str, ...] = ("legitimate_work", "rule_too_broad", "duplicate")
