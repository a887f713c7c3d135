"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, inclusion and consistency.

Leaves are byte strings (audit uses each record's 32-byte hash); the tree over ``n``
leaves is RFC 9162 section 2.1.1's ``MTH``::

    MTH({})      = SHA-256()
    leaf hash    = SHA-256(0x00 || leaf)
    node hash    = SHA-256(0x01 || left || right)
    MTH(D[n])    = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

``Tree`` keeps every level (a level's odd last node is carried up unchanged, which gives
the same root and paths as splitting at ``k``), so a root at any size up to ``len`` and
each inclusion path cost O(log n) once built. ``Frontier`` is the compact form (the
perfect subtrees' roots) for appending leaf by leaf and reading the root at each size.
``verify_inclusion`` and ``verify_consistency`` are RFC 9162 sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """The tree over ``leaves`` (their leaf hashes are computed here)."""

    def __init__(self, leaves: Iterable[bytes] = (), *, hashed: bool = False) -> None:
        level = [bytes(x) if hashed else leaf_hash(x) for x in leaves]
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                up.append(level[-1])
            self.levels.append(up)
            level = up

    def __len__(self) -> int:
        return len(self.levels[0])

    def _subtree(self, start: int, size: int) -> bytes:
        """MTH of leaves [start, start+size): decomposed into aligned perfect subtrees."""
        if size == 0:
            return EMPTY_ROOT
        parts: list[bytes] = []
        end = start + size
        while start < end:
            height = 0
            while start % (2 << height) == 0 and start + (2 << height) <= end:
                height += 1
            parts.append(self.levels[height][start >> height])
            start += 1 << height
        node = parts[-1]
        for left in reversed(parts[:-1]):
            node = node_hash(left, node)
        return node

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all by default)."""
        n = len(self) if size is None else size
        if not 0 <= n <= len(self):
            raise ValueError(f"tree size {n} out of range")
        return self._subtree(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 PATH(index, D[size]): the sibling hashes from the leaf up."""
        n = len(self) if size is None else size
        if not 0 <= index < n <= len(self):
            raise ValueError(f"leaf {index} not in a tree of size {n}")
        return self._path(index, 0, n)

    def _path(self, m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, k), self._subtree(start + k, n - k)]
        return [*self._path(m - k, start + k, n - k), self._subtree(start, k)]

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """RFC 9162 PROOF(old, D[new])."""
        n = len(self) if new is None else new
        if not 0 < old <= n <= len(self):
            raise ValueError(f"no consistency proof from {old} to {n}")
        return self._subproof(old, 0, n, True)

    def _subproof(self, m: int, start: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [self._subtree(start, n)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, k, complete), self._subtree(start + k, n - k)]
        return [*self._subproof(m - k, start + k, n - k, False), self._subtree(start, k)]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """A tree kept as its perfect subtrees' roots: append leaf hashes, read the root."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, hashed_leaf: bytes) -> None:
        node, size = hashed_leaf, self.size
        while size & 1:
            node = node_hash(self._stack.pop(), node)
            size >>= 1
        self._stack.append(node)
        self.size += 1

    def copy(self) -> Frontier:
        """Another frontier at the same size, appended to on its own."""
        copied = Frontier()
        copied.size = self.size
        copied._stack = list(self._stack)
        return copied

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def root_of(leaves: Iterable[bytes]) -> bytes:
    """MTH of ``leaves`` (raw leaf data)."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf_hash(leaf))
    return frontier.root()


def verify_inclusion(
    hashed_leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: ``proof`` takes the leaf at ``index`` to ``root`` of ``size``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, hashed_leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: the tree of size ``old`` is a prefix of the one of size ``new``."""
    if old == new:
        return not proof and old_root == new_root
    if not 0 < old < new or not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
