"""Typing variants of names and addresses, and a strict identity key used only for hygiene.

The generator decides who is whom and who lives where from its own ground truth; these
helpers only *render* that truth the way different people would type it. ``fold_key`` is
used solely to make sure that two *different* people never collide under even the most
forgiving normalisation (so that the truth can never disagree with a correct matcher).
"""

from __future__ import annotations

import random
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from .pools import STREET_ABBREV

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=65536)
def strip_macrons(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


@lru_cache(maxsize=65536)
def fold_key(text: str) -> str:
    """The most forgiving normalisation imaginable: letters and digits only, no marks, lower case."""
    return _NON_ALNUM.sub("", strip_macrons(text).casefold())


def _case(text: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.15:
        return text.upper()
    if r < 0.25:
        return text.lower()
    return text


def name_variant(name: str, rng: random.Random, *, strength: float = 0.6) -> str:
    """Render a name the way another person might type it. Same identity under a contract matcher:
    case, extra spaces, macrons, hyphen <-> space, apostrophes dropped."""
    out = name
    if rng.random() < strength and any(ch in out for ch in "āēīōūĀĒĪŌŪ"):
        out = strip_macrons(out)
    if rng.random() < strength and "'" in out:
        out = out.replace("'", "")
    if rng.random() < strength * 0.7:
        if "-" in out:
            out = out.replace("-", " ")
        elif " " in out.strip():
            out = out.replace(" ", "-", 1)
    if rng.random() < strength * 0.5:
        out = _case(out, rng)
    if rng.random() < strength * 0.3:
        out = out.replace(" ", "  ") if " " in out else out
        if rng.random() < 0.5:
            out = out + " "
        else:
            out = " " + out
    return out


def surely_different(a: str, b: str) -> bool:
    return fold_key(a) != fold_key(b)


class Dwelling(NamedTuple):
    unit: int | None
    number: int
    street: str
    street_type: str
    suburb: str
    city: str

    def key(self) -> tuple[object, ...]:
        return (
            self.unit,
            self.number,
            fold_key(self.street),
            self.street_type,
            fold_key(self.suburb),
            fold_key(self.city),
        )


def render_address(d: Dwelling, rng: random.Random, *, plain: bool = False) -> str:
    """One way of typing a dwelling. ``plain`` gives the tidy canonical form."""
    stype = d.street_type
    street = d.street
    suburb = d.suburb
    city = d.city
    if plain:
        line = f"{d.number} {street} {stype}"
        if d.unit is not None:
            line = f"{d.unit}/{line}"
        return f"{line}, {suburb}, {city}"
    if rng.random() < 0.5:
        stype = STREET_ABBREV[stype]
        if rng.random() < 0.08:
            stype += "."
    if rng.random() < 0.3:
        street, suburb, city = strip_macrons(street), strip_macrons(suburb), strip_macrons(city)
    line = f"{d.number} {street} {stype}"
    if d.unit is not None:
        r = rng.random()
        if r < 0.4:
            line = f"{d.unit}/{line}"
        elif r < 0.7:
            line = f"Flat {d.unit}, {line}"
        else:
            line = f"Unit {d.unit} {line}"
    sep = ", " if rng.random() < 0.75 else " "
    out = f"{line}{sep}{suburb}{sep}{city}"
    r = rng.random()
    if r < 0.12:
        out = out.upper()
    elif r < 0.2:
        out = out.lower()
    if rng.random() < 0.08:
        out = out.replace(" ", "  ", 2)
    if rng.random() < 0.05:
        out = " " + out + " "
    return out
