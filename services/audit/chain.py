"""The audit hash chain: how a record is built, hashed and linked to the one before it.

One chain per chain key (``access.p3`` for partition 3 of the access topic, which has a
single writer). Each stored record is a dict with ``chain``, ``seq`` (0, 1, 2, ...),
``event_id``, ``body``, ``prev_hash`` (the previous record's ``hash``, or ``GENESIS`` for
seq 0), ``v`` (the record format, ``VERSION``), the index fields (``kind``, ``patient``,
``time``, ...) and ``hash``. The hash covers **every stored field** but itself and
``_id`` (which must equal ``chain:seq``, checked by verification)::

    hash = sha256(canonical(record without hash and _id)).hexdigest()

Times are hashed as ``{"$date": "YYYY-MM-DDTHH:MM:SS.mmmZ"}`` (UTC, milliseconds: what
BSON stores), so a record read back from the database hashes as it was written.

Records written before format 2 (no ``v``) hashed only ``{chain, seq, event_id, body,
prev_hash}``: ``legacy_hash`` recognises them so verification can name them.

A chain's *tip* is its last record's seq and hash, kept apart from the records so that
truncating or re-hashing the tail is detectable; ``settled_tips`` picks the tip to check
a chain against when its records were read beside a live writer. Tamper detection is
``verification.py``; the signed heads over the record hashes are ``heads.py`` and
``merkle.py``, the check of records against them ``headcheck.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
VERSION = 2
UNHASHED = frozenset({"hash", "_id"})


@dataclass(frozen=True)
class ChainTip:
    """The last record of a chain: its seq and hash."""

    seq: int
    hash: str


def to_millis(moment: datetime) -> datetime:
    """``moment`` in UTC at BSON's precision (milliseconds); naive means UTC."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


def plain(obj: object) -> object:
    """JSON-able form of a stored value: datetimes as ``{"$date": ...}`` at ms precision."""
    if isinstance(obj, datetime):
        return {"$date": to_millis(obj).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def canonical(obj: object) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, UTF-8, no NaN."""
    text = json.dumps(
        plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def hashed_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a record's hash covers: all of them but ``hash`` and ``_id``."""
    return {k: v for k, v in record.items() if k not in UNHASHED}


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 hex digest over the canonical form of every hashed field of ``record``."""
    return hashlib.sha256(canonical(hashed_fields(record))).hexdigest()


def legacy_hash(record: Mapping[str, Any]) -> str:
    """The format-1 hash (before the index fields were covered)."""
    fields = {k: record.get(k) for k in ("body", "chain", "event_id", "prev_hash", "seq")}
    return hashlib.sha256(canonical(fields)).hexdigest()


def next_record(
    chain: str,
    tip: ChainTip | None,
    event_id: str,
    body: dict[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the record that follows ``tip`` (``None`` for an empty chain).

    ``extra`` (the index fields) is stored with the record and hashed with it;
    its times are cut to milliseconds first, so the stored value is the hashed one.
    """
    seq = 0 if tip is None else tip.seq + 1
    prev_hash = GENESIS if tip is None else tip.hash
    record: dict[str, Any] = {
        k: (to_millis(v) if isinstance(v, datetime) else v) for k, v in (extra or {}).items()
    }
    record.update(
        {"chain": chain, "seq": seq, "event_id": event_id, "body": body,
         "prev_hash": prev_hash, "v": VERSION}
    )  # fmt: skip
    record["hash"] = record_hash(record)
    return record


def tip_of(record: Mapping[str, Any]) -> ChainTip:
    """The chain tip a stored record represents."""
    return ChainTip(seq=int(record["seq"]), hash=str(record["hash"]))


def follows(record: Mapping[str, Any], tip: ChainTip | None) -> bool:
    """``record`` is the well-formed successor of ``tip`` (``None``: of an empty chain)."""
    seq, prev = (0, GENESIS) if tip is None else (tip.seq + 1, tip.hash)
    if record.get("seq") != seq or record.get("prev_hash") != prev:
        return False
    try:
        return bool(record_hash(record) == record.get("hash"))
    except (TypeError, ValueError):
        return False


def settled_tips(
    records_by_chain: Mapping[str, Sequence[Mapping[str, Any]]],
    before: Mapping[str, ChainTip],
    after: Mapping[str, ChainTip],
) -> dict[str, ChainTip]:
    """The tip to check each chain against, the records read while writers may run.

    ``before`` and ``after`` are the tips read just before and just after the records.
    A chain is checked against the tip that matches its last record read; if the writer
    moved the tip over records written during the read, the chain gets no tip this pass
    (its links and hashes are still checked). Otherwise the later tip is used.
    """
    chosen: dict[str, ChainTip] = {}
    for chain in set(before) | set(after):
        found = records_by_chain.get(chain, [])
        last = int(found[-1]["seq"]) if found else -1
        old, new = before.get(chain), after.get(chain)
        if new is not None and new.seq == last:
            chosen[chain] = new
        elif old is not None and old.seq == last:
            chosen[chain] = old
        elif old is not None and new is not None and old.seq < last < new.seq:
            continue
        else:
            tip = new or old
            assert tip is not None
            chosen[chain] = tip
    return chosen
