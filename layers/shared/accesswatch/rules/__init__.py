"""The rule catalog, derived from the rule modules: a rule is one file in this package.

Every concrete ``Rule`` subclass defined in a module of this package is in ``CATALOG`` (one
instance each): the live rules in the data contract's order (``contract.CONTRACT_RULES``; the live
rules must be exactly the contract's, ``tests/unit/rules/test_rules.py`` checks it), then the staging rules by
id. Rule ids are stable. Each rule module keeps its ``POSITIVE`` and ``NEGATIVE`` sample cases
beside the rule, as plain data the tests run against the sample world (``tests/support``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Final

from accesswatch.contract import CONTRACT_RULES
from accesswatch.rules.base import Rule, Sample, events_frame


def discover() -> tuple[Rule, ...]:
    """One instance of every concrete ``Rule`` subclass defined in a module of this package, in catalog order."""
    found: dict[str, Rule] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, Rule) or inspect.isabstract(cls) or cls.__module__ != module.__name__:
                continue
            if cls.id in found:
                raise ValueError(f"rule id {cls.id} is defined twice ({module.__name__})")
            found[cls.id] = cls()
    return tuple(sorted(found.values(), key=_catalog_order))


def _catalog_order(rule: Rule) -> tuple[bool, int, str]:
    position = CONTRACT_RULES.index(rule.id) if rule.id in CONTRACT_RULES else len(CONTRACT_RULES)
    return (rule.status != "live", position, rule.id)


CATALOG: Final[tuple[Rule, ...]] = discover()
LIVE_RULES: Final[tuple[Rule, ...]] = tuple(r for r in CATALOG if r.status == "live")
RULES_BY_ID: Final[dict[str, Rule]] = {r.id: r for r in CATALOG}
TIER_OF: Final[dict[str, str]] = {r.id: r.tier() for r in CATALOG}


def tier_of(rule_id: str) -> str:
    """The routing tier of a rule id; an id the catalog does not know is only recorded."""
    return TIER_OF.get(rule_id, "record")


__all__ = [
    "CATALOG",
    "LIVE_RULES",
    "RULES_BY_ID",
    "TIER_OF",
    "Rule",
    "Sample",
    "discover",
    "events_frame",
    "tier_of",
]
