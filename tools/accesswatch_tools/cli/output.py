"""What every command shares for its output and its filters: tables for people, ``--json`` as one JSON
object per line for scripts, times in New Zealand time with the zone named, and filter values checked at
parse time (an unknown value exits 2 naming the valid ones; nothing is ever answered with an empty list)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from accesswatch.quarters import nz_time  # noqa: F401 - the CLI's one way to show an instant

JSON_HELP = "JSON for scripts, one object per line (default: a table for people)"


def json_help(per: str, note: str = "") -> str:
    """The help of a ``--json`` option: one object per ``per``, one per line."""
    return f"JSON for scripts: one object per {per}, one per line{f' ({note})' if note else ''}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    """Left-aligned columns two spaces apart, the header first."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


def json_line(record: Any) -> str:
    """One JSON object on one line (``--json``: a script reads one per line)."""
    return json.dumps(record, ensure_ascii=False, default=str, separators=(", ", ": "))


def print_json_lines(records: Iterable[Any]) -> None:
    for record in records:
        print(json_line(record))


def one_of(what: str, valid: Sequence[str], *, groups: Mapping[str, Sequence[str]] | None = None,
           upper: bool = False) -> Callable[[str], str]:
    """An argparse ``type``: the value in the canonical case, or an error naming the valid values."""
    words = (*valid, *(groups or {}))

    def check(text: str) -> str:
        word = text.strip().upper() if upper else text.strip().lower()
        if word not in words:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; one of {', '.join(words)}")
        return word

    check.__name__ = what  # argparse names the type in some messages
    return check


def rule_id(text: str) -> str:
    """An argparse ``type`` for a rule id in any case (self_record -> SELF_RECORD)."""
    from accesswatch.rules import RULES_BY_ID

    rule = text.strip().upper()
    if rule not in RULES_BY_ID:
        raise argparse.ArgumentTypeError(f"unknown rule {text!r}; rules: {', '.join(sorted(RULES_BY_ID))}")
    return rule


def nz_day(text: str) -> date:
    """An argparse ``type`` for a New Zealand date, YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD, a New Zealand date)") from None


def identifier(what: str) -> Callable[[str], str]:
    """An argparse ``type`` for an id compared as text (never as a number): no blanks, no surrounding space."""

    def check(text: str) -> str:
        value = text.strip()
        if not value or any(c.isspace() for c in value):
            raise argparse.ArgumentTypeError(f"{what} {text!r}: an id is one word, e.g. u112017 or 010693250")
        return value

    check.__name__ = what
    return check


def seconds(text: str) -> float:
    """An argparse ``type`` for a positive duration in seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a timeout is more than 0 seconds")
    return value
