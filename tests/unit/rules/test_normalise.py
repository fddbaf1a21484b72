"""Property and example tests of name and address normalisation."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accesswatch.normalise import (
    STREET_TYPES,
    normalise_address,
    normalise_addresses,
    normalise_name,
    normalise_names,
)

MACRONS = str.maketrans("aeiouAEIOU", "āēīōūĀĒĪŌŪ")
names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
name_words = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzAEIOU", min_size=1, max_size=8), min_size=1, max_size=3
)
street_words = st.lists(
    st.sampled_from(["rata", "kowhai", "tui", "kauri", "te", "ara", "main", "north", "queen"]),
    min_size=1,
    max_size=2,
)
street_type = st.sampled_from(sorted(STREET_TYPES))
numbers = st.integers(min_value=1, max_value=999)
units = st.integers(min_value=1, max_value=99)


# --- names ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hēmi", "HEMI"),
        ("O'Brien", "obrien"),
        ("O’Brien", "O Brien"),
        ("Smith-Jones", "Smith Jones"),
        ("  mary   ann ", "Mary-Ann"),
        ("Te Whāiti", "te whaiti"),
        ("Zoë", "zoe"),
        ("Ngāti Pōrou", "NGATI POROU"),
    ],
)
def test_name_examples_equal(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


def test_name_examples_distinct() -> None:
    assert normalise_name("Smith") != normalise_name("Smyth")
    assert normalise_name(None) == normalise_name("") == normalise_name("  ") == ""


@given(names)
def test_name_idempotent(s: str) -> None:
    assert normalise_name(normalise_name(s)) == normalise_name(s)


@given(name_words, st.sampled_from([" ", "  ", "-", "'", " - ", ". "]))
def test_name_invariances(words: list[str], sep: str) -> None:
    base = " ".join(words)
    key = normalise_name(base)
    assert normalise_name(base.upper()) == key
    assert normalise_name(base.lower()) == key
    assert normalise_name(f"  {sep.join(words)}  ") == key
    assert normalise_name(base.translate(MACRONS)) == key


# --- addresses ------------------------------------------------------------------------------
def test_address_contract_examples() -> None:
    key = normalise_address("2/12 Rata St")
    for form in (
        "Flat 2, 12 Rata Street",
        "Unit 2 12 Rata Street",
        "Apartment 2, 12 Rata St",
        "2 / 12 RATA ST.",
        "12 Rata St, Flat 2",
        "Apt 2, 12 Rata Street",
    ):
        assert normalise_address(form) == key, form
    assert normalise_address("3/12 Rata St") != key
    assert normalise_address("12 Rata St") != key
    assert normalise_address("12 Rata Street") == normalise_address("12 rata st")
    assert normalise_address("7 Kōwhai Rd, Kelburn, Wellington") == normalise_address(
        "7 Kowhai Road Kelburn Wellington"
    )
    assert normalise_address("") == normalise_address(None) == ""


@given(numbers, street_words, street_type, st.sampled_from(["", ", Kelburn", " Kelburn, Wellington 6012"]))
def test_address_street_type_and_case(num: int, words: list[str], abbr: str, tail: str) -> None:
    short = f"{num} {' '.join(words)} {abbr}{tail}"
    long = f"{num}  {' '.join(w.title() for w in words)} {STREET_TYPES[abbr].upper()}{tail.upper()}"
    assert normalise_address(short) == normalise_address(long)
    assert normalise_address(short.translate(MACRONS)) == normalise_address(short)


@given(units, numbers, street_words, street_type)
def test_address_unit_forms(unit: int, num: int, words: list[str], abbr: str) -> None:
    street = f"{' '.join(words)} {abbr}"
    key = normalise_address(f"{unit}/{num} {street}")
    for form in (
        f"Flat {unit}, {num} {street}",
        f"Unit {unit} {num} {street}",
        f"Apartment {unit}, {num} {street}",
        f"{unit} / {num} {street}",
    ):
        assert normalise_address(form) == key
    assert normalise_address(f"{num} {street}") != key


@given(units, units, numbers, street_words)
def test_address_distinct_units_stay_distinct(u1: int, u2: int, num: int, words: list[str]) -> None:
    street = " ".join(words) + " St"
    if u1 != u2:
        assert normalise_address(f"{u1}/{num} {street}") != normalise_address(f"Flat {u2}, {num} {street}")


@settings(max_examples=300)
@given(names)
def test_address_idempotent(s: str) -> None:
    assert normalise_address(normalise_address(s)) == normalise_address(s)


@given(
    st.lists(
        st.sampled_from(["Flat", "Unit", "2/12", "12", "Rata", "St", "Rd", ",", "/", "B", "apt", "3"]),
        max_size=8,
    )
)
def test_address_idempotent_structured(tokens: list[str]) -> None:
    s = " ".join(tokens)
    assert normalise_address(normalise_address(s)) == normalise_address(s)


def test_vectorised_matches_scalar() -> None:
    s = pl.Series("a", ["Hēmi", None, "O'Brien", "Hēmi", ""])
    assert normalise_names(s).to_list() == ["hemi", "", "obrien", "hemi", ""]
    a = pl.Series("a", ["Flat 2, 12 Rata Street", None, "2/12 Rata St"])
    assert normalise_addresses(a).to_list() == ["2/12 rata street", "", "2/12 rata street"]
    assert normalise_names(pl.Series("a", [None, None], dtype=pl.String)).to_list() == ["", ""]


# --- the fold's fast paths ------------------------------------------------------------------
def _fold_per_character(value: str) -> str:
    """The fold as first written: a Python test of every character (the specification of ``_fold``)."""
    import unicodedata

    from accesswatch.normalise import _EXTRA_FOLD

    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold().translate(_EXTRA_FOLD)
    if not folded.isascii():
        folded = "".join(ch for ch in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(ch))
    return folded


@settings(max_examples=500)
@given(st.one_of(names, st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=40),
                 st.text(alphabet=st.characters(categories=("Mn", "Mc", "Me", "Ll", "Lu")), max_size=20)))
def test_fold_equals_its_per_character_specification(value: str) -> None:
    from accesswatch.normalise import _fold

    assert _fold(value) == _fold_per_character(value)


def test_fold_examples_through_both_paths() -> None:
    from accesswatch.normalise import _fold

    for value in ("1/277 TE ATATU RD., PORIRUA", "Wilson Tāwhai", "Ōtāhuhu", "ǅ", "ﬁ", "Straße", "İstanbul",
                  "e\u0301", "\u0345", "Ø"):
        assert _fold(value) == _fold_per_character(value), value
