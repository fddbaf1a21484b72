"""Text cells that a spreadsheet will show as text, never run as a formula (CSV/formula injection)."""

from __future__ import annotations

from typing import Any, Final

# A cell beginning with one of these may be taken for a formula by Excel, LibreOffice or Sheets.
FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_text(value: str) -> str:
    """Prefix a text that could start a formula with an apostrophe (OWASP's advice)."""
    stripped = value.lstrip(" ")
    if stripped.startswith(FORMULA_TRIGGERS) or value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_cell(value: Any) -> Any:
    """Numbers, booleans and None unchanged; anything else as safe text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return safe_text(str(value))
