"""What a database administrator can do to one audit chain (records sorted by seq):
each operation returns the chain as it would then be stored, tip moved to its end."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from services.audit.chain import GENESIS, VERSION, record_hash

Rec = dict[str, Any]
Tamper = Callable[[list[Rec], int], list[Rec]]


def renumber(rs: list[Rec], start: int = 0) -> None:
    for seq, rec in enumerate(rs[start:], start=start):
        rec["seq"] = seq
        if "_id" in rec:
            rec["_id"] = f"{rec['chain']}:{seq:012d}"


def relink(rs: list[Rec], start: int) -> list[Rec]:
    """Re-hash from ``start`` on: each record linked to the one before (a careful forger)."""
    for i in range(start, len(rs)):
        rs[i]["prev_hash"] = GENESIS if i == 0 else rs[i - 1]["hash"]
        rs[i]["hash"] = record_hash(rs[i])
    return rs


def edit_field(rs: list[Rec], k: int) -> list[Rec]:
    """Turn a permitted access into a denied one, nothing else."""
    rs[k]["body"]["data"]["decision"] = "deny"
    return rs


def edit_index(rs: list[Rec], k: int) -> list[Rec]:
    """Hide an access from the patient's log by changing only the indexed field."""
    rs[k]["patient"] = "9999999999994"
    return rs


def delete_tail(rs: list[Rec], k: int) -> list[Rec]:
    return rs[:k]


def delete_one(rs: list[Rec], k: int) -> list[Rec]:
    """Delete one record, renumber the later ones and re-hash them."""
    rs = rs[:k] + rs[k + 1 :]
    renumber(rs, k)
    return relink(rs, k)


def reorder(rs: list[Rec], k: int) -> list[Rec]:
    """Swap two records' places (seq and id), hashes untouched."""
    rs[k], rs[k + 1] = rs[k + 1], rs[k]
    renumber(rs, k)
    return rs


def reorder_rehashed(rs: list[Rec], k: int) -> list[Rec]:
    return relink(reorder(rs, k), k)


def insert(rs: list[Rec], k: int) -> list[Rec]:
    """Wedge a forged, well-formed record in at seq k; later ones renumbered, re-hashed."""
    forged = copy.deepcopy(rs[k])
    forged["event_id"] = "forged-" + str(forged["event_id"])
    forged["body"]["id"] = forged["event_id"]
    forged["v"] = VERSION
    rs = [*rs[:k], forged, *rs[k:]]
    renumber(rs, k)
    return relink(rs, k)


def rehash_suffix(rs: list[Rec], k: int) -> list[Rec]:
    """Edit a record, then re-hash it and every later one (and move the tip)."""
    return relink(edit_field(rs, k), k)


TAMPERS: dict[str, Tamper] = {
    "edit-field": edit_field,
    "edit-index": edit_index,
    "delete-tail": delete_tail,
    "delete-one": delete_one,
    "reorder": reorder,
    "reorder-rehashed": reorder_rehashed,
    "insert": insert,
    "rehash-suffix": rehash_suffix,
}
