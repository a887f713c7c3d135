"""Tamper detection of the audit hash chain."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.chain import (
    GENESIS,
    VERSION,
    ChainTip,
    canonical,
    legacy_hash,
    next_record,
    record_hash,
    settled_tips,
    tip_of,
)
from services.audit.verification import Breach, verify_all, verify_chain

pytestmark = pytest.mark.unit

Rec = dict[str, Any]
CHAIN = "p3"


def build(n: int, chain: str = CHAIN) -> tuple[list[Rec], ChainTip | None]:
    recs: list[Rec] = []
    tip: ChainTip | None = None
    for i in range(n):
        rec = next_record(chain, tip, f"ev-{chain}-{i}", {"action": "read", "n": i, "who": "ทดสอบ"})
        recs.append(rec)
        tip = tip_of(rec)
    return recs, tip


def rehash(rec: Rec) -> None:
    rec["hash"] = record_hash(rec)


def by_seq(recs: list[Rec]) -> list[Rec]:
    return sorted(recs, key=lambda r: r["seq"])


def forged(recs: list[Rec], k: int) -> Rec:
    """A well-formed record for seq k that links to the record at seq k-1."""
    prev = GENESIS if k == 0 else recs[k - 1]["hash"]
    body = {"action": "read", "forged": True}
    rec = {"chain": CHAIN, "seq": k, "event_id": "forged", "body": body, "prev_hash": prev,
           "v": VERSION}  # fmt: skip
    rec["hash"] = record_hash(rec)
    return rec


# --- tampering operations: (records, k, j) -> tampered records, sorted by seq ---------------


def alter(rs: list[Rec], k: int, j: int) -> list[Rec]:
    rs[k]["body"]["action"] = "tampered"
    return rs


def alter_rehash(rs: list[Rec], k: int, j: int) -> list[Rec]:
    alter(rs, k, j)
    rehash(rs[k])
    return rs


def alter_hide(rs: list[Rec], k: int, j: int) -> list[Rec]:
    """Alter k, recompute its hash and rewrite the successor's prev_hash to match."""
    alter_rehash(rs, k, j)
    if k + 1 < len(rs):
        rs[k + 1]["prev_hash"] = rs[k]["hash"]
    return rs


def delete(rs: list[Rec], k: int, j: int) -> list[Rec]:
    del rs[k]
    return rs


def delete_renumber(rs: list[Rec], k: int, j: int) -> list[Rec]:
    del rs[k]
    for r in rs[k:]:
        r["seq"] -= 1
    return rs


def insert_duplicate(rs: list[Rec], k: int, j: int) -> list[Rec]:
    rs.insert(k, forged(rs, k))
    return rs


def insert_renumber(rs: list[Rec], k: int, j: int) -> list[Rec]:
    fake = forged(rs, k)
    for r in rs[k:]:
        r["seq"] += 1
    rs.insert(k, fake)
    return rs


def insert_bad_link(rs: list[Rec], k: int, j: int) -> list[Rec]:
    fake = forged(rs, k)
    fake["prev_hash"] = "f" * 64
    rehash(fake)
    for r in rs[k:]:
        r["seq"] += 1
    rs.insert(k, fake)
    return rs


def swap(rs: list[Rec], k: int, j: int) -> list[Rec]:
    rs[k]["seq"], rs[j]["seq"] = rs[j]["seq"], rs[k]["seq"]
    return by_seq(rs)


def swap_rehash(rs: list[Rec], k: int, j: int) -> list[Rec]:
    rs[k]["seq"], rs[j]["seq"] = rs[j]["seq"], rs[k]["seq"]
    rehash(rs[k])
    rehash(rs[j])
    return by_seq(rs)


Tamper = Callable[[list[Rec], int, int], list[Rec]]

# tamper -> (expected kind, offset of the reported seq from k)
EXPECTED: dict[Tamper, tuple[str, int]] = {
    alter: ("altered", 0),
    alter_rehash: ("altered", 0),
    alter_hide: ("altered", 1),
    delete: ("deleted", 0),
    delete_renumber: ("deleted", 0),
    insert_duplicate: ("inserted", 0),
    insert_renumber: ("inserted", 0),
    insert_bad_link: ("inserted", 0),
    swap: ("reordered", 0),
    swap_rehash: ("reordered", 0),
}


def tampered(n: int, tamper: Tamper, k: int, j: int) -> tuple[list[Rec], ChainTip | None]:
    recs, tip = build(n)
    return tamper(copy.deepcopy(recs), k, j), tip


# --- basics ---------------------------------------------------------------------------------


def test_canonical_is_sorted_compact_utf8() -> None:
    assert canonical({"b": 1, "a": "ก"}) == '{"a":"ก","b":1}'.encode()


def test_next_record_links_to_tip() -> None:
    first = next_record(CHAIN, None, "e0", {"x": 1})
    second = next_record(CHAIN, tip_of(first), "e1", {"x": 2})
    assert (first["seq"], first["prev_hash"]) == (0, GENESIS)
    assert (second["seq"], second["prev_hash"]) == (1, first["hash"])
    assert second["hash"] == record_hash(second)
    assert len(second["hash"]) == 64


def test_hash_covers_every_field() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    extra = {"patient": "1234567890123", "kind": "access", "time": when, "stored_at": when}
    rec = next_record(CHAIN, None, "e", {"x": 1}, extra)
    assert rec["time"] == when.replace(microsecond=678_000)  # stored as BSON keeps it
    assert record_hash(rec) == rec["hash"]
    assert record_hash({**rec, "_id": "anything"}) == rec["hash"]  # _id: checked, not hashed
    for name, value in [("chain", "p4"), ("seq", 2), ("event_id", "f"), ("body", {"x": 2}),
                        ("prev_hash", "1" * 64), ("patient", "1234567890124"), ("kind", "x"),
                        ("time", when.replace(second=6)), ("stored_at", None), ("v", 1),
                        ("extra", 1)]:  # fmt: skip
        assert record_hash({**rec, name: value}) != rec["hash"], name
    without = {k: v for k, v in rec.items() if k != "patient"}
    assert record_hash(without) != rec["hash"]


def test_an_edited_index_field_is_altered_and_an_old_record_is_named_legacy() -> None:
    recs, tip = build(5)
    recs[2]["patient"] = "1234567890123"
    found = verify_chain(CHAIN, recs, tip)
    assert found is not None and (found.seq, found.kind) == (2, "altered")
    old, tip = build(3)
    for rec in old:
        del rec["v"]
        rec["hash"] = legacy_hash(rec)
    found = verify_chain(CHAIN, old)
    assert found is not None and (found.seq, found.kind) == (0, "legacy")


def test_intact_chain_verifies() -> None:
    recs, tip = build(50)
    assert verify_chain(CHAIN, recs) is None
    assert verify_chain(CHAIN, recs, expected_tip=tip) is None
    assert verify_chain(CHAIN, []) is None


def test_unsorted_input_is_sorted_by_seq() -> None:
    recs, _ = build(10)
    assert verify_chain(CHAIN, list(reversed(recs))) is None


# --- each tampering on a 50-record chain ----------------------------------------------------


def test_modified_body_is_altered() -> None:
    recs, _ = tampered(50, alter, 17, 0)
    breach = verify_chain(CHAIN, recs)
    assert breach is not None and (breach.chain, breach.kind, breach.seq) == (CHAIN, "altered", 17)


def test_modified_body_with_recomputed_hash_blames_that_record() -> None:
    recs, _ = tampered(50, alter_rehash, 17, 0)
    breach = verify_chain(CHAIN, recs)
    assert breach is not None
    assert (breach.kind, breach.seq) == ("altered", 17)


def test_hidden_alteration_is_caught_at_the_rewritten_link() -> None:
    # Body of 17 changed, its hash recomputed and 18.prev_hash rewritten: 18 no longer hashes.
    recs, _ = tampered(50, alter_hide, 17, 0)
    breach = verify_chain(CHAIN, recs)
    assert breach is not None
    assert (breach.kind, breach.seq) == ("altered", 18)
    assert "seq 17" in breach.detail


def test_hidden_alteration_rewriting_the_whole_tail_needs_the_tip() -> None:
    recs, tip = build(50)
    recs = copy.deepcopy(recs)
    recs[17]["body"]["action"] = "tampered"
    for i in range(17, 50):
        if i > 17:
            recs[i]["prev_hash"] = recs[i - 1]["hash"]
        rehash(recs[i])
    assert verify_chain(CHAIN, recs) is None  # documented limit
    assert verify_chain(CHAIN, recs, expected_tip=tip) == Breach(
        CHAIN, 49, "altered", "last record differs from the tip"
    )


def test_deleted_record() -> None:
    recs, _ = tampered(50, delete, 17, 0)
    breach = verify_chain(CHAIN, recs)
    assert breach is not None
    assert (breach.kind, breach.seq) == ("deleted", 17)


def test_deleted_record_with_renumbering() -> None:
    recs, _ = tampered(50, delete_renumber, 17, 0)
    breach = verify_chain(CHAIN, recs)
    assert breach is not None
    assert (breach.kind, breach.seq) == ("deleted", 17)


def test_deleted_first_and_several_records() -> None:
    recs, _ = build(50)
    first = verify_chain(CHAIN, recs[1:])
    several = verify_chain(CHAIN, recs[:10] + recs[14:])
    assert first is not None and (first.kind, first.seq) == ("deleted", 0)
    assert several is not None and (several.kind, several.seq) == ("deleted", 10)


def test_truncated_tail_needs_the_tip() -> None:
    recs, tip = build(50)
    assert verify_chain(CHAIN, recs[:45]) is None  # documented limit
    breach = verify_chain(CHAIN, recs[:45], expected_tip=tip)
    assert breach is not None and (breach.kind, breach.seq) == ("deleted", 45)
    gone = verify_chain(CHAIN, [], expected_tip=tip)
    assert gone is not None and (gone.kind, gone.seq) == ("deleted", 0)


@pytest.mark.parametrize("tamper", [insert_duplicate, insert_renumber, insert_bad_link])
def test_inserted_forged_record(tamper: Tamper) -> None:
    recs, _ = tampered(50, tamper, 17, 0)
    breach = verify_chain(CHAIN, recs)
    assert breach is not None
    assert (breach.kind, breach.seq) == ("inserted", 17)


def test_appended_record_needs_the_tip() -> None:
    recs, tip = build(50)
    extra = [*recs, forged(recs, 50)]
    assert verify_chain(CHAIN, extra) is None
    breach = verify_chain(CHAIN, extra, expected_tip=tip)
    assert breach is not None and (breach.kind, breach.seq) == ("inserted", 50)


def test_record_copied_from_another_chain() -> None:
    recs, _ = build(50)
    other, _ = build(50, chain="p4")
    breach = verify_chain(CHAIN, [*recs[:17], other[17], *recs[18:]])
    assert breach is not None and (breach.kind, breach.seq) == ("inserted", 17)


@pytest.mark.parametrize(("k", "j"), [(17, 18), (17, 30), (0, 49), (48, 49)])
@pytest.mark.parametrize("tamper", [swap, swap_rehash])
def test_swapped_records_are_reordered(tamper: Tamper, k: int, j: int) -> None:
    recs, _ = tampered(50, tamper, k, j)
    breach = verify_chain(CHAIN, recs)
    assert breach is not None
    assert (breach.kind, breach.seq) == ("reordered", k)


def test_record_moved_beyond_the_end_is_reordered() -> None:
    recs, _ = build(50)
    recs = copy.deepcopy(recs)
    recs[17]["seq"] = 80
    breach = verify_chain(CHAIN, by_seq(recs))
    assert breach is not None and (breach.kind, breach.seq) == ("reordered", 17)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda r: r.pop("hash"),
        lambda r: r.update(seq="17"),
        lambda r: r.update(body=["not", "a", "dict"]),
        lambda r: r.update(body={"x": float("nan")}),
    ],
)
def test_malformed_record_is_altered(mangle: Callable[[Rec], object]) -> None:
    recs, _ = build(50)
    recs = copy.deepcopy(recs)
    mangle(recs[17])
    breach = verify_chain(CHAIN, recs)
    assert breach is not None and (breach.kind, breach.seq) == ("altered", 17)


def test_first_breach_wins() -> None:
    recs, _ = build(50)
    recs = copy.deepcopy(recs)
    recs[30]["body"]["action"] = "tampered"
    del recs[10]
    breach = verify_chain(CHAIN, recs)
    assert breach is not None and (breach.kind, breach.seq) == ("deleted", 10)


def test_verify_all_reports_each_broken_chain() -> None:
    good, _ = build(20, chain="p0")
    bad, _ = build(20, chain="p1")
    bad = copy.deepcopy(bad)
    bad[5]["body"]["action"] = "tampered"
    _, lost_tip = build(3, chain="p2")
    assert lost_tip is not None
    breaches = verify_all({"p1": bad, "p0": good}, tips={"p2": lost_tip})
    assert [(b.chain, b.kind, b.seq) for b in breaches] == [
        ("p1", "altered", 5),
        ("p2", "deleted", 0),
    ]
    assert verify_all({"p0": good}) == []


def test_a_live_writer_moving_the_tip_during_the_read_is_no_breach() -> None:
    recs, _ = build(6)
    at = [tip_of(r) for r in recs]
    read = {CHAIN: recs[:4]}  # records 0-3 read; the writer went on to 5 meanwhile
    assert settled_tips(read, {CHAIN: at[3]}, {CHAIN: at[5]}) == {CHAIN: at[3]}
    assert settled_tips(read, {CHAIN: at[2]}, {CHAIN: at[3]}) == {CHAIN: at[3]}
    assert settled_tips(read, {CHAIN: at[2]}, {CHAIN: at[5]}) == {}  # tail unchecked this pass
    assert verify_all(read, tips=settled_tips(read, {CHAIN: at[2]}, {CHAIN: at[5]})) == []
    truncated = {CHAIN: recs[:2]}  # fewer records than either tip: checked, and found
    tips = settled_tips(truncated, {CHAIN: at[3]}, {CHAIN: at[3]})
    assert [(b.kind, b.seq) for b in verify_all(truncated, tips=tips)] == [("deleted", 2)]


TAMPERS = sorted(EXPECTED, key=lambda t: t.__name__)

# --- property ---------------------------------------------------------------------------------


@st.composite
def tampering(draw: st.DrawFn) -> tuple[int, Tamper, int, int]:
    n = draw(st.integers(min_value=2, max_value=25))
    tamper = draw(st.sampled_from(TAMPERS))
    k = draw(st.integers(min_value=0, max_value=n - 2))
    j = draw(st.integers(min_value=k + 1, max_value=n - 1))
    return n, tamper, k, j


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=30))
def test_property_untampered_chain_is_clean(n: int) -> None:
    recs, tip = build(n)
    assert verify_chain(CHAIN, recs) is None
    assert verify_chain(CHAIN, recs, expected_tip=tip) is None


@settings(max_examples=500, deadline=None)
@given(tampering(), st.booleans())
def test_property_single_tampering_is_found_by_k_plus_one(
    case: tuple[int, Tamper, int, int], with_tip: bool
) -> None:
    n, tamper, k, j = case
    recs, tip = tampered(n, tamper, k, j)
    breach = verify_chain(CHAIN, recs, expected_tip=tip if with_tip else None)
    assert breach is not None
    assert breach.seq <= k + 1
    kind, offset = EXPECTED[tamper]
    if tamper is alter_rehash and k == n - 2 and not with_tip:
        # The re-hashed record's successor is the tip; nothing confirms it is genuine.
        assert (breach.kind, breach.seq) == ("inserted", k + 1)
    else:
        assert (breach.kind, breach.seq) == (kind, k + offset)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=25), st.sampled_from(TAMPERS))
def test_property_tampering_the_last_record_is_found_with_the_tip(n: int, tamper: Tamper) -> None:
    if tamper in (swap, swap_rehash):
        return
    recs, tip = tampered(n, tamper, n - 1, n - 1)
    breach = verify_chain(CHAIN, recs, expected_tip=tip)
    assert breach is not None
    assert breach.seq <= n
