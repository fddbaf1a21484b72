"""The words a case is decided and closed with: ER case types, outcomes, Police referral types.

Configurable per deployment (template parameters -> the case-step function's environment), with
the defaults below. The CLI reads the same configuration from the deployed function, so what a
person may choose is exactly what the state machine accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Self

from pydantic import field_validator, model_validator

from accesswatch.config import _FromEnv

DEFAULT_ER_TYPES: tuple[str, ...] = (
    "inappropriate_access",
    "conflict_of_interest",
    "fraud_or_dishonesty",
    "privacy_breach",
    "other_misconduct",
)
DEFAULT_OUTCOMES: tuple[str, ...] = (
    "no_further_action",
    "letter_of_expectation",
    "written_warning",
    "final_written_warning",
    "dismissal",
    "resigned_before_outcome",
)
DEFAULT_POLICE_REFERRAL_TYPES: tuple[str, ...] = ("fraud_or_dishonesty",)
DECISIONS: tuple[str, ...] = ("founded", "unfounded")
# Why a rule's findings were not inappropriate: the data lacked the explanation; the rule catches too much
# (may create an exception); the findings were already dealt with in another case.
UNFOUNDED_REASONS: tuple[str, ...] = ("legitimate_work", "rule_too_broad", "duplicate")

_WORD = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip().lower() for part in value.split(",") if part.strip())
    return value


class CaseVocabulary(_FromEnv):
    """``CASE_ER_TYPES``, ``CASE_OUTCOMES``, ``CASE_POLICE_REFERRAL_TYPES``: comma-separated words."""

    case_er_types: tuple[str, ...] = DEFAULT_ER_TYPES
    case_outcomes: tuple[str, ...] = DEFAULT_OUTCOMES
    case_police_referral_types: tuple[str, ...] = DEFAULT_POLICE_REFERRAL_TYPES

    @field_validator("case_er_types", "case_outcomes", "case_police_referral_types", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        return _split(value)

    @field_validator("case_er_types", "case_outcomes")
    @classmethod
    def _valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one")
        bad = [v for v in value if not _WORD.match(v)]
        if bad:
            raise ValueError(f"not lower_snake_case words: {', '.join(bad)}")
        if len(set(value)) != len(value):
            raise ValueError("names a word twice")
        return value

    @model_validator(mode="after")
    def _referral_types_are_er_types(self) -> Self:
        unknown = sorted(set(self.case_police_referral_types) - set(self.case_er_types))
        if unknown:
            raise ValueError(f"CASE_POLICE_REFERRAL_TYPES names types that are not ER types: {', '.join(unknown)}")
        return self

    @property
    def er_types(self) -> tuple[str, ...]:
        return self.case_er_types

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.case_outcomes

    @property
    def police_referral_types(self) -> frozenset[str]:
        return frozenset(self.case_police_referral_types)

    @classmethod
    def from_mapping(cls, environ: Mapping[str, str]) -> CaseVocabulary:
        return cls.from_env(dict(environ))
