"""Search parameters: lenient by default (unknown ones ignored and named), strict on
request; malformed values always refused; matching."""

from __future__ import annotations

import pytest

from services.query.dates import instant_range
from services.query.matching import matches, select
from services.query.search import parse_everything, parse_search
from shared.errors import InvalidInput


@pytest.mark.parametrize(
    "pairs",
    [
        [("colour", "red")],
        [("date", "yesterday")],
        [("_count", "5000")],
        [("_count", "-1")],
        [("_sort", "name")],
        [("code", ",")],
        [("_offset", "x")],
    ],
)
def test_bad_search_parameters_are_refused(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput):
        parse_search("Condition", [("patient", "1101700230705"), *pairs], 100, strict=True)


@pytest.mark.parametrize("pairs", [[("_type", "Nope")], [("_since", "2024-13-01")], [("x", "1")]])
def test_bad_everything_parameters_are_refused(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput):
        parse_everything(pairs, 100, strict=True)


def test_unknown_parameters_are_ignored_and_named_unless_strict() -> None:
    pairs = [
        ("patient", "1101700230705"),
        ("colour", "red"),
        ("code:text", "x"),
        ("_format", "json"),
    ]
    assert parse_search("Condition", pairs, 100).ignored == ["colour", "code:text"]
    assert parse_everything([("x", "1"), ("_format", "json")], 100).ignored == ["x"]
    crit = parse_search("Observation", [("_include", "Observation:performer")], 100)
    assert crit.ignored == ["_include=Observation:performer"]
    with pytest.raises(InvalidInput):
        parse_search("Observation", [("_include", "Observation:performer")], 100, strict=True)
    with pytest.raises(InvalidInput):  # a malformed value of a known one: always refused
        parse_search("Condition", [("onset-date", "soon")], 100)


def entry(t: str, code: str = "http://loinc.org|4548-4", kind: str = "Observation") -> dict:
    return {"type": kind, "t": instant_range(t)[0], "updated": None, "codes": [code], "cats": []}


def test_date_prefixes_and_code_tokens() -> None:
    old, new = entry("2023-05-01"), entry("2025-02-03T10:00:00+07:00", "http://snomed.info/sct|1")
    crit = parse_search("Observation", [("date", "ge2024-01-01"), ("date", "lt2026")], 100)
    assert select([old, new], crit) == [new]
    crit = parse_search("Observation", [("code", "4548-4")], 100)
    assert [matches(e, crit) for e in (old, new)] == [True, False]
    crit = parse_search("Observation", [("code", "http://snomed.info/sct|")], 100)
    assert [matches(e, crit) for e in (old, new)] == [False, True]
    crit = parse_search("Observation", [("_sort", "date")], 100)
    assert select([new, old], crit) == [old, new]


def test_instant_ranges_follow_precision() -> None:
    low, high = instant_range("2024")
    assert high - low == 366 * 86400
    low, high = instant_range("2024-02")
    assert high - low == 29 * 86400
    assert instant_range("2024-02-01T00:00:00Z")[0] == instant_range("2024-02-01")[0]
