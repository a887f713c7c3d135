"""The audit hash chain: how a record is built, hashed and linked to the one before it.

One chain per chain key (``access.p3`` for partition 3 of the access topic, which has a
single writer). Each stored record is a dict with ``chain``, ``seq`` (0, 1, 2, ...),
``event_id``, ``body``, ``prev_hash`` (the previous record's ``hash``, or ``GENESIS`` for
seq 0) and ``hash``::

    hash = sha256(canonical({chain, seq, event_id, body, prev_hash})).hexdigest()

A chain's *tip* is its last record's seq and hash, kept apart from the records so that
truncating or re-hashing the tail is detectable. Tamper detection is ``verification.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainTip:
    """The last record of a chain: its seq and hash."""

    seq: int
    hash: str


def canonical(obj: object) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, UTF-8, no NaN."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def record_hash(
    chain: str, seq: int, event_id: str, body: Mapping[str, Any], prev_hash: str
) -> str:
    """SHA-256 hex digest over the canonical form of a record's fields."""
    fields = {
        "body": body,
        "chain": chain,
        "event_id": event_id,
        "prev_hash": prev_hash,
        "seq": seq,
    }
    return hashlib.sha256(canonical(fields)).hexdigest()


def next_record(
    chain: str, tip: ChainTip | None, event_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Build the record that follows ``tip`` (``None`` for an empty chain)."""
    seq = 0 if tip is None else tip.seq + 1
    prev_hash = GENESIS if tip is None else tip.hash
    return {
        "chain": chain,
        "seq": seq,
        "event_id": event_id,
        "body": body,
        "prev_hash": prev_hash,
        "hash": record_hash(chain, seq, event_id, body, prev_hash),
    }


def tip_of(record: Mapping[str, Any]) -> ChainTip:
    """The chain tip a stored record represents."""
    return ChainTip(seq=int(record["seq"]), hash=str(record["hash"]))


def follows(record: Mapping[str, Any], tip: ChainTip | None) -> bool:
    """``record`` is the well-formed successor of ``tip`` (``None``: of an empty chain)."""
    seq, prev = (0, GENESIS) if tip is None else (tip.seq + 1, tip.hash)
    if record.get("seq") != seq or record.get("prev_hash") != prev:
        return False
    digest = record_hash(
        record["chain"], seq, record["event_id"], record["body"], record["prev_hash"]
    )
    return bool(digest == record.get("hash"))
