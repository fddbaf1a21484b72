"""Reference data: validation of snapshots and the prepared index that detection joins against."""

from accesswatch.reference.index import ReferenceIndex, build_index
from accesswatch.reference.validate import (
    ValidationIssue,
    ValidationReport,
    cross_validate,
    validate_snapshot,
)

__all__ = [
    "ReferenceIndex",
    "ValidationIssue",
    "ValidationReport",
    "build_index",
    "cross_validate",
    "validate_snapshot",
]
