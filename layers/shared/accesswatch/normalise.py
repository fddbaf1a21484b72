"""Normalisation of people's names and postal addresses for matching.

Names and addresses come from different systems and are typed by people (data contract,
"Reference data"). Both functions return a *matching key*, not a display form: two values
that a careful operator would call the same give the same key.

- ``normalise_name``: Unicode NFKD with combining marks dropped (``Hēmi`` -> ``hemi``),
  case-folded, and every character that is not a letter or digit removed, so that
  ``O'Brien`` = ``OBrien`` = ``obrien`` and ``Smith-Jones`` = ``Smith Jones`` = ``smithjones``.
- ``normalise_address``: the same folding, punctuation to spaces, street types expanded to one
  word (``St`` -> ``street``, ``Rd`` -> ``road``, ...), and unit forms rewritten to
  ``unit/number`` (``Flat 2, 12 Rata St`` -> ``2/12 rata street``). Distinct units stay distinct.

Both are pure and idempotent. For large frames use :func:`normalise_series`, which normalises
each distinct value once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Final

import polars as pl

# Letters that NFKD does not decompose into a base letter + combining mark.
_EXTRA_FOLD: Final = str.maketrans(
    {
        "ø": "o",
        "Ø": "o",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
    }
)
_NON_ALNUM: Final = re.compile(r"[^0-9a-z]+")
_APOSTROPHES: Final = re.compile(r"['’‘`´ʻʼ]")


def _fold(value: str) -> str:
    """NFKD, drop combining marks, case-fold, fold a few non-decomposing letters."""
    if value.isascii():  # NFKD, the marks and the extra letters leave ASCII alone; casefold is lower there
        return value.lower()
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = decomposed.translate(_COMBINING_MARKS)
    folded = stripped.casefold().translate(_EXTRA_FOLD)
    # casefold may itself produce decomposable characters (rare); fold once more to be idempotent
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded).translate(_COMBINING_MARKS)
    return folded


class _CombiningMarks(dict[int, int | None]):
    """Code point -> None (a combining mark: ``str.translate`` deletes it) or the code point (kept): one C call per
    value instead of a Python test per character, each code point classified once, when a value first holds it
    (classifying all 1.1M up front took ~0.6 s of a cold start)."""

    def __missing__(self, code_point: int) -> int | None:
        mapped = None if unicodedata.combining(chr(code_point)) else code_point
        self[code_point] = mapped
        return mapped


_COMBINING_MARKS = _CombiningMarks()


@lru_cache(maxsize=65536)
def normalise_name(value: str | None) -> str:
    """Matching key of a personal name: letters and digits only, lower case, no diacritics."""
    if not value:
        return ""
    return _NON_ALNUM.sub("", _fold(value))


# --- addresses ------------------------------------------------------------------------------
STREET_TYPES: Final[dict[str, str]] = {
    "st": "street",
    "str": "street",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "avn": "avenue",
    "pl": "place",
    "cres": "crescent",
    "cr": "crescent",
    "crs": "crescent",
    "cresc": "crescent",
    "dr": "drive",
    "drv": "drive",
    "tce": "terrace",
    "terr": "terrace",
    "ter": "terrace",
    "ln": "lane",
    "ct": "court",
    "crt": "court",
    "hwy": "highway",
    "gr": "grove",
    "grv": "grove",
    "pde": "parade",
    "cl": "close",
    "sq": "square",
    "blvd": "boulevard",
    "esp": "esplanade",
    "hts": "heights",
    "gdns": "gardens",
    "gdn": "gardens",
    "grn": "green",
    "mt": "mount",
    "pt": "point",
    "rdg": "ridge",
    "wy": "way",
    "cct": "circuit",
    "cir": "circle",
    "pkwy": "parkway",
    "prom": "promenade",
    "qy": "quay",
    "vw": "view",
    "vly": "valley",
}
UNIT_WORDS: Final = frozenset({"flat", "unit", "apartment", "apt", "appt", "u", "f", "suite", "ste"})
_ADDR_PUNCT: Final = re.compile(r"[^0-9a-z/]+")
_SLASH: Final = re.compile(r"\s*/\s*")
_UNIT_NUMBER: Final = re.compile(r"^([0-9a-z]+)/([0-9a-z]+)$")
_HAS_DIGIT: Final = re.compile(r"\d")


def _is_unit_label(token: str) -> bool:
    """A unit label: contains a digit (``2``, ``2a``, ``12b``) or is a single letter (``B``)."""
    return bool(_HAS_DIGIT.search(token)) or (len(token) == 1 and token.isalpha())


@lru_cache(maxsize=65536)
def normalise_address(value: str | None) -> str:
    """Matching key of a postal address (see module docstring)."""
    if not value:
        return ""
    key = _address_key(value)
    for _ in range(3):  # a fixpoint, so that the key is idempotent even for garbled input
        again = _address_key(key)
        if again == key:
            break
        key = again
    return key


def _address_key(value: str) -> str:
    text = _APOSTROPHES.sub("", _fold(value))
    text = _ADDR_PUNCT.sub(" ", text)
    text = _SLASH.sub("/", text).strip()
    tokens = [t for t in text.split(" ") if t]
    unit: str | None = None
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in UNIT_WORDS:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if unit is None and "/" not in nxt and _is_unit_label(nxt):
                unit = nxt
                i += 2
                continue
            if len(tok) > 1:  # a unit word without its own label is noise ("Flat 2/12 ...")
                i += 1
                continue
        if "/" in tok:
            m = _UNIT_NUMBER.match(tok)
            if m and unit is None:
                unit = m.group(1)
                out.append(m.group(2))
                # the number is now in place: mark it as the street number
                out[-1] = "\x00" + out[-1]
                i += 1
                continue
            # not a unit/number pair: process its parts as ordinary tokens
            tokens[i : i + 1] = [p for p in tok.split("/") if p]
            continue
        out.append(STREET_TYPES.get(tok, tok))
        i += 1
    if unit is not None:
        # attach the unit to the street number: the slash-form number, else the first numeric token
        for j, tok in enumerate(out):
            if tok.startswith("\x00"):
                out[j] = f"{unit}/{tok[1:]}"
                break
        else:
            for j, tok in enumerate(out):
                if tok[:1].isdigit():
                    out[j] = f"{unit}/{tok}"
                    break
            else:
                out.insert(0, f"unit {unit}")
    return " ".join(t.lstrip("\x00") for t in out)


# --- vectorised use -------------------------------------------------------------------------
def normalise_series(series: pl.Series, fn: Callable[[str | None], str]) -> pl.Series:
    """Apply ``fn`` to each distinct value of a string series once; nulls become ``""``."""
    uniques = series.drop_nulls().unique()
    mapping = {v: fn(v) for v in uniques.to_list()}
    if not mapping:
        return pl.Series(series.name, [""] * len(series), dtype=pl.String)
    return series.replace_strict(mapping, default="", return_dtype=pl.String).fill_null("")


def normalise_names(series: pl.Series) -> pl.Series:
    return normalise_series(series, normalise_name)


def normalise_addresses(series: pl.Series) -> pl.Series:
    return normalise_series(series, normalise_address)
