"""The stored records of a chain checked against its signed heads (``heads.py``).

A head's ``leaves`` are not signed one by one: ``authenticated_leaves`` accepts them
only when the Merkle root they make equals a signed root, and then every record up to
that size is compared hash by hash, so the **first** bad record is named. A head that
came without usable leaves is checked by the root over the stored hashes instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.audit.chain import legacy_hash, record_hash
from services.audit.heads import SignedHead
from services.audit.merkle import Frontier, Tree, leaf_hash
from services.audit.verification import Breach


@dataclass
class Authenticated:
    """A chain's record hashes proven by signed heads, and the heads left to check by root."""

    leaves: list[str] = field(default_factory=list)
    unproven: list[SignedHead] = field(default_factory=list)
    forks: list[SignedHead] = field(default_factory=list)


def authenticated_leaves(heads: Sequence[SignedHead]) -> Authenticated:
    """Concatenate the heads' leaves (ascending size), keeping each step only when the
    Merkle root of the leaves so far equals that head's signed root."""
    out = Authenticated()
    frontier = Frontier()
    roots: dict[int, str] = {}
    for head in sorted(heads, key=lambda h: h.size):
        if head.size in roots:
            if roots[head.size] != head.claims.root_hash:
                out.forks.append(head)
            continue
        have = len(out.leaves)
        end = head.start + len(head.leaves)
        if head.start > have or end != head.size or head.size < have:
            if head.size > have:
                out.unproven.append(head)
            continue
        added = list(head.leaves[have - head.start :])
        trial = frontier.copy()
        try:
            for leaf in added:
                trial.append(leaf_hash(bytes.fromhex(leaf)))
        except ValueError:
            out.unproven.append(head)
            continue
        if trial.root().hex() != head.claims.root_hash:
            out.unproven.append(head)
            continue
        frontier = trial
        out.leaves.extend(added)
        roots[head.size] = head.claims.root_hash
    out.unproven = [h for h in out.unproven if h.size > len(out.leaves)]
    return out


def check_against_heads(
    chain: str, records: Sequence[Mapping[str, Any]], heads: Sequence[SignedHead]
) -> Breach | None:
    """The first record of ``chain`` that differs from what its signed heads prove."""
    proven = authenticated_leaves(heads)
    if proven.forks:
        fork = proven.forks[0]
        return Breach(chain, fork.size - 1, "altered", "two signed heads disagree at this size")
    by_seq: dict[int, list[Mapping[str, Any]]] = {}
    for rec in records:
        seq = rec.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            by_seq.setdefault(seq, []).append(rec)
    leaves = proven.leaves
    position = {leaf: i for i, leaf in enumerate(leaves)}
    held = {str(rec.get("hash")) for rec in records}
    for s, want in enumerate(leaves):
        found = _compare(chain, s, want, by_seq, position, held)
        if found is not None:
            return found
    for head in proven.unproven:  # no usable leaves: the root over the stored hashes
        found = _root_check(chain, by_seq, head, len(leaves))
        if found is not None:
            return found
    return None


def _compare(
    chain: str,
    s: int,
    want: str,
    by_seq: Mapping[int, list[Mapping[str, Any]]],
    position: Mapping[str, int],
    held: set[str],
) -> Breach | None:
    """Seq ``s`` against its signed leaf ``want``; ``position``: signed leaf -> seq;
    ``held``: every stored hash."""
    here = by_seq.get(s, [])
    signed = f"signed head covers seq {s}"
    if not here:
        return Breach(chain, s, "deleted", f"record missing; {signed}")
    if len(here) > 1:
        return Breach(chain, s, "inserted", f"{len(here)} records share seq {s}; {signed}")
    rec = here[0]
    stored = rec.get("hash")
    if stored != want:
        elsewhere = position.get(stored) if isinstance(stored, str) else None
        if elsewhere is not None:
            if elsewhere == s + 1 and want not in held:
                return Breach(chain, s, "deleted", "record deleted and later ones renumbered")
            return Breach(chain, s, "reordered", f"record of seq {elsewhere} stored here")
        after = by_seq.get(s + 1, [])
        if after and after[0].get("hash") == want:
            return Breach(chain, s, "inserted", "record wedged in before the signed one")
        return Breach(chain, s, "altered", "hash differs from the signed head's leaf")
    if rec.get("chain") != chain or ("_id" in rec and rec["_id"] != f"{chain}:{s:012d}"):
        return Breach(chain, s, "altered", "chain or id changed")
    try:
        if record_hash(rec) == want:
            return None
        if "v" not in rec and legacy_hash(rec) == want:
            return Breach(chain, s, "legacy", "written by an older version: fields not all hashed")
    except (TypeError, ValueError):
        pass
    return Breach(chain, s, "altered", "a field was edited (hash no longer matches)")


def _root_check(
    chain: str, by_seq: Mapping[int, list[Mapping[str, Any]]], head: SignedHead, proven: int
) -> Breach | None:
    hashes = []
    for s in range(head.size):
        here = by_seq.get(s, [])
        if not here:
            return Breach(chain, s, "deleted", f"seq {s} is under signed head {head.size}")
        if len(here) > 1:
            return Breach(chain, s, "inserted", f"seq {s} is under signed head {head.size}")
        hashes.append(str(here[0].get("hash", "")))
    try:
        root = Tree(bytes.fromhex(h) for h in hashes).root().hex()
    except ValueError:
        root = ""
    if root != head.claims.root_hash:
        span = f"{proven}..{head.size - 1}"
        detail = f"root differs from signed head {head.size}: a record in seq {span}"
        return Breach(chain, proven, "altered", detail)
    return None
