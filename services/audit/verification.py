"""Tamper detection: the first altered, deleted, inserted or reordered record of a chain.

Records are built by ``chain.py`` (whose docstring gives their fields and hash). The
verification model: an attacker with write access to the collection can edit, delete, insert
and renumber documents and recompute hashes, but records they leave untouched still carry the
*original* hash of their predecessor in ``prev_hash``. Definitions used below:

* a record *fits* seq ``s`` when its stored hash equals ``record_hash`` computed with seq
  ``s`` (and the verified chain key); plain *fits* means it fits its own stored seq;
* a record's *home* is the seq it fits: its own seq, else the first candidate that fits among
  seq-1, seq+1, (seq of a record linking to it)-1, (seq of the record it links to)+1;
* ``P`` is the last accepted record (the predecessor), ``p`` its stored hash (``GENESIS``
  before seq 0), and ``e`` the seq expected next.

``verify_chain`` sorts by seq, walks the records and reports the FIRST rule that fires:

1. malformed record (missing/ill-typed field, body not JSON) -> ``altered`` at its seq
   (at its input position if the seq itself is unusable), unless a lower seq breaks first;
2. ``chain`` field differs from the chain being verified: if the record is valid for the chain
   it names, it was copied in -> ``inserted``; otherwise -> ``altered`` (both at its seq);
3. seq gap (the record at hand has seq > e): if some record's home is ``e`` it was moved away
   -> ``reordered`` at e; otherwise -> ``deleted`` at e (the first missing seq);
4. several records share seq e: if one of them has a home elsewhere -> ``reordered`` at
   min(e, home); otherwise -> ``inserted`` at e (a forged duplicate);
5. the record does not fit e (content changed or renumbered):
   a. home is e+1 and its ``prev_hash`` is no stored hash: its predecessor was deleted and
      later records renumbered -> ``deleted`` at e;
   b. home is e-1 and ``P`` links to the same predecessor: ``P`` was wedged in and later records
      renumbered -> ``inserted`` at e-1;
   c. any other home -> ``reordered`` at min(e, home);
   d. no home, but the next record has seq e+1 and home e -> ``inserted`` at e;
   e. no home -> ``altered`` at e. If its ``prev_hash`` equals ``p``, an edit of seq e-1 hidden
      by recomputing that hash and rewriting this link also shows up here (at e, not e-1);
6. the record fits e but ``prev_hash`` != ``p`` (seq consistent, hash recomputed by someone):
   a. ``prev_hash`` is the stored hash of another record ``Q`` (or ``GENESIS`` while e > 0):
      it belongs after ``Q`` -> ``reordered`` at min(e, home(Q)+1);
   b. the next record links to ``P``: if that record does not fit its seq but has home e,
      this record was wedged in -> ``inserted`` at e; otherwise the two swapped places and were
      re-hashed -> ``reordered`` at e;
   c. the record is confirmed genuine (a record links to it, or it matches ``expected_tip``):
      ``P`` was replaced and re-hashed -> ``altered`` at e-1;
   d. otherwise it is a forgery nothing links to -> ``inserted`` at e.
7. with ``expected_tip`` (the writer's last known tip, kept outside the collection): fewer
   records -> ``deleted`` at last seq+1; more -> ``inserted`` at tip seq+1; the last hash
   differs -> ``altered`` at the tip seq.

Limits: without ``expected_tip``, truncating the tail, re-hashing the last record or appending
well-formed records is undetectable, as is re-hashing every record after a change.

Which tip to check a chain against when its records were read beside a live writer is
``chain.settled_tips``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from services.audit.chain import (
    GENESIS,
    VERSION,
    ChainTip,
    canonical,
    hashed_fields,
    legacy_hash,
    record_hash,
)

BreachKind = Literal["altered", "deleted", "inserted", "reordered", "legacy"]


@dataclass(frozen=True)
class Breach:
    """The first tampering found in a chain."""

    chain: str
    seq: int
    kind: BreachKind
    detail: str


@dataclass(frozen=True)
class _Rec:
    chain: str
    seq: int
    event_id: str
    body: Mapping[str, Any]
    prev_hash: str
    hash: str
    fields: Mapping[str, Any]

    def hash_at(self, chain: str, seq: int) -> str:
        """The hash this record would have with ``chain`` and ``seq``."""
        return record_hash({**self.fields, "chain": chain, "seq": seq})


def _parse(raw: object) -> _Rec | None:
    """Typed view of a stored record, or None when malformed."""
    if not isinstance(raw, Mapping):
        return None
    seq = raw.get("seq")
    fields = (raw.get("chain"), raw.get("event_id"), raw.get("prev_hash"), raw.get("hash"))
    body = raw.get("body")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return None
    if not all(isinstance(f, str) for f in fields) or not isinstance(body, Mapping):
        return None
    chain, event_id, prev_hash, digest = (str(f) for f in fields)
    try:
        canonical(hashed_fields(raw))
    except (TypeError, ValueError):
        return None
    return _Rec(chain, seq, event_id, body, prev_hash, digest, hashed_fields(raw))


class _Verifier:
    """One verification pass over a chain's parsed, seq-sorted records."""

    def __init__(self, chain: str, recs: list[_Rec], tip: ChainTip | None) -> None:
        self.chain = chain
        self.recs = recs
        self.tip = tip
        self.by_hash: dict[str, list[_Rec]] = {}
        self.by_prev: dict[str, list[_Rec]] = {}
        for r in recs:
            self.by_hash.setdefault(r.hash, []).append(r)
            self.by_prev.setdefault(r.prev_hash, []).append(r)
        self._homes: dict[int, int | None] = {}

    def fits(self, r: _Rec, seq: int) -> bool:
        return r.hash_at(self.chain, seq) == r.hash

    def home(self, r: _Rec) -> int | None:
        """The seq the record's stored hash is valid for, if any candidate fits."""
        key = id(r)
        if key not in self._homes:
            self._homes[key] = self._find_home(r)
        return self._homes[key]

    def _find_home(self, r: _Rec) -> int | None:
        if self.fits(r, r.seq):
            return r.seq
        candidates = [r.seq - 1, r.seq + 1]
        candidates += [q.seq - 1 for q in self.by_prev.get(r.hash, []) if q is not r]
        candidates += [q.seq + 1 for q in self.by_hash.get(r.prev_hash, []) if q is not r]
        if r.prev_hash == GENESIS:
            candidates.append(0)
        for seq in candidates:
            if seq >= 0 and seq != r.seq and self.fits(r, seq):
                return seq
        return None

    def breach(self, seq: int, kind: BreachKind, detail: str) -> Breach:
        return Breach(chain=self.chain, seq=seq, kind=kind, detail=detail)

    def run(self) -> Breach | None:
        expected, prev, i = 0, None, 0
        while i < len(self.recs):
            r = self.recs[i]
            group = [r]
            while i + len(group) < len(self.recs) and self.recs[i + len(group)].seq == r.seq:
                group.append(self.recs[i + len(group)])
            found = self._check(expected, prev, group, i)
            if found is not None:
                return found
            prev, expected, i = r, expected + 1, i + 1
        return self._check_tip(prev)

    def _check(self, e: int, prev: _Rec | None, group: list[_Rec], i: int) -> Breach | None:
        r = group[0]
        for g in group:
            if g.fields.get("v") != VERSION:
                if legacy_hash(g.fields) == g.hash:
                    detail = "written by an older version: its hash does not cover every field"
                    return self.breach(g.seq, "legacy", detail)
                return self.breach(g.seq, "altered", "record format changed")
        for g in group:
            if g.chain == self.chain:
                continue
            own = g.hash_at(g.chain, g.seq) == g.hash
            if own:
                return self.breach(g.seq, "inserted", "record copied from another chain")
            return self.breach(g.seq, "altered", "chain field changed")
        if r.seq > e:
            if any(self.home(q) == e for q in self.recs if q.seq != e):
                return self.breach(e, "reordered", "record moved away from this seq")
            return self.breach(e, "deleted", f"seq {e} missing (next present is {r.seq})")
        if len(group) > 1:
            for g in group:
                h = self.home(g)
                if h is not None and h != e:
                    return self.breach(min(e, h), "reordered", f"record of seq {h} moved to {e}")
            return self.breach(e, "inserted", f"{len(group)} records share seq {e}")
        nxt = self.recs[i + 1] if i + 1 < len(self.recs) else None
        p = GENESIS if prev is None else prev.hash
        if not self.fits(r, e):
            return self._misfit(e, prev, p, r, nxt)
        if r.prev_hash != p:
            return self._broken_link(e, prev, p, r, nxt)
        return None

    def _misfit(self, e: int, prev: _Rec | None, p: str, r: _Rec, nxt: _Rec | None) -> Breach:
        h = self.home(r)
        if h is not None:
            known = r.prev_hash == GENESIS or r.prev_hash in self.by_hash
            if h == e + 1 and not known:
                return self.breach(e, "deleted", "record deleted and later ones renumbered")
            if h == e - 1 and prev is not None and prev.prev_hash == r.prev_hash:
                return self.breach(e - 1, "inserted", "record wedged in, later ones renumbered")
            return self.breach(min(e, h), "reordered", f"record of seq {h} stored at seq {e}")
        if nxt is not None and nxt.seq == e + 1 and self.home(nxt) == e:
            return self.breach(e, "inserted", "forged record wedged in, later ones renumbered")
        if r.prev_hash == p and prev is not None:
            detail = f"hash mismatch (or seq {e - 1} edited and this link rewritten)"
        else:
            detail = "hash mismatch"
        return self.breach(e, "altered", detail)

    def _broken_link(self, e: int, prev: _Rec | None, p: str, r: _Rec, nxt: _Rec | None) -> Breach:
        targets = [q for q in self.by_hash.get(r.prev_hash, []) if q is not prev]
        if r.prev_hash == GENESIS and e > 0:
            return self.breach(0, "reordered", f"record of seq 0 stored at seq {e}")
        if targets:
            th = self.home(targets[0])
            at = e if th is None else min(e, th + 1)
            return self.breach(at, "reordered", "record links to a record at another seq")
        if nxt is not None and nxt.prev_hash == p:
            if not self.fits(nxt, nxt.seq) and self.home(nxt) == e:
                return self.breach(e, "inserted", "record wedged in, later ones renumbered")
            return self.breach(e, "reordered", "records swapped and re-hashed")
        confirmed = r.hash in self.by_prev or (
            self.tip is not None and self.tip.seq == r.seq and self.tip.hash == r.hash
        )
        if confirmed and prev is not None:
            return self.breach(e - 1, "altered", "record replaced and its hash recomputed")
        return self.breach(e, "inserted", "record does not link to its predecessor")

    def _check_tip(self, last: _Rec | None) -> Breach | None:
        tip = self.tip
        if tip is None:
            return None
        last_seq = -1 if last is None else last.seq
        if last_seq < tip.seq:
            return self.breach(last_seq + 1, "deleted", f"chain ends before tip seq {tip.seq}")
        if last_seq > tip.seq:
            return self.breach(tip.seq + 1, "inserted", f"records beyond tip seq {tip.seq}")
        if last is not None and last.hash != tip.hash:
            return self.breach(tip.seq, "altered", "last record differs from the tip")
        return None


def verify_chain(
    chain: str, records: Iterable[Mapping[str, Any]], expected_tip: ChainTip | None = None
) -> Breach | None:
    """First tampering in one chain (records sorted by seq), or None when intact."""
    parsed: list[_Rec] = []
    malformed: Breach | None = None
    given = list(records)
    for position, raw in enumerate(given):
        rec = _parse(raw)
        if rec is not None:
            parsed.append(rec)
            continue
        seq = raw.get("seq") if isinstance(raw, Mapping) else None
        usable = isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0
        at = seq if usable and isinstance(seq, int) else position
        if malformed is None or at < malformed.seq:
            malformed = Breach(chain, at, "altered", "malformed record")
    parsed.sort(key=lambda r: r.seq)
    found = _Verifier(chain, parsed, expected_tip).run()
    if malformed is not None and (found is None or malformed.seq <= found.seq):
        return malformed
    # ``_id`` is not hashed (it is ``chain:seq``, the unique key): one that differs is an
    # edit, reported when nothing earlier explains it (a reorder moves seqs, not ids).
    for raw in given:
        seq = raw.get("seq") if isinstance(raw, Mapping) else None
        if not isinstance(raw, Mapping) or "_id" not in raw or not isinstance(seq, int):
            continue
        moved = raw["_id"] != f"{raw.get('chain')}:{seq:012d}"
        if moved and (found is None or seq < found.seq):
            return Breach(chain, seq, "altered", "id does not match chain and seq")
    return found


def verify_all(
    records_by_chain: Mapping[str, Iterable[Mapping[str, Any]]],
    tips: Mapping[str, ChainTip] | None = None,
) -> list[Breach]:
    """First breach of every chain (sorted by chain key); empty when all are intact."""
    tips = tips or {}
    breaches: list[Breach] = []
    for chain in sorted(set(records_by_chain) | set(tips)):
        found = verify_chain(chain, records_by_chain.get(chain, ()), tips.get(chain))
        if found is not None:
            breaches.append(found)
    return breaches
