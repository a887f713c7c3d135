"""RFC 9162 Merkle hashing against the Certificate Transparency test vectors
(transparency-dev/merkle ``testonly/constants.go``, from google/certificate-transparency)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    Tree,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.unit
h = bytes.fromhex

LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
NODES = {
    "l0.1": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "l0.4": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "l1.1": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "l1.2": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "l1.3": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "l2.0": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "l2.1": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
}
# (leaf index, tree size, path) and (old size, new size, proof): RFC 6962/9162 CT vectors.
INCLUSION = [
    (0, 1, []),
    (0, 8, ["l0.1", "l1.1", "l2.1"]),
    (5, 8, ["l0.4", "l1.3", "l2.0"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "l1.1", "l0.4"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["l0.1", "l1.1", "l2.1"]),
    (6, 8, ["l1.2", "l1.3", "l2.0"]),
    (2, 5, ["l1.1", "l0.4"]),
]


def node(name: str) -> bytes:
    return h(NODES.get(name, name))


def test_roots_match_the_vectors() -> None:
    tree = Tree(LEAVES)
    for size, want in enumerate(ROOTS):
        assert tree.root(size).hex() == want
        assert root_of(LEAVES[:size]).hex() == want
    assert EMPTY_ROOT.hex() == ROOTS[0]


def test_frontier_root_at_every_size() -> None:
    frontier = Frontier()
    for size, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf_hash(leaf))
        assert frontier.root().hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, path: list[str]) -> None:
    tree = Tree(LEAVES)
    proof = tree.inclusion_proof(index, size)
    assert proof == [node(p) for p in path]
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, h(ROOTS[size]))
    assert not verify_inclusion(leaf_hash(b"x"), index, size, proof, h(ROOTS[size]))
    if size > 1:
        other = (index + 1) % size
        assert not verify_inclusion(leaf_hash(LEAVES[index]), other, size, proof, h(ROOTS[size]))
    if proof:
        assert not verify_inclusion(
            leaf_hash(LEAVES[index]), index, size, proof[:-1], h(ROOTS[size])
        )


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, path: list[str]) -> None:
    tree = Tree(LEAVES)
    proof = tree.consistency_proof(old, new)
    assert proof == [node(p) for p in path]
    assert verify_consistency(old, new, h(ROOTS[old]), h(ROOTS[new]), proof)
    if old != new:
        assert not verify_consistency(old, new, h(ROOTS[old - 1]), h(ROOTS[new]), proof)
        assert not verify_consistency(old, new, h(ROOTS[old]), h(ROOTS[new - 1]), proof)


@given(st.integers(1, 70), st.data())
def test_every_proof_verifies_and_a_changed_leaf_does_not(n: int, data: st.DataObject) -> None:
    leaves = [i.to_bytes(4, "big") for i in range(n)]
    tree = Tree(leaves)
    index = data.draw(st.integers(0, n - 1))
    size = data.draw(st.integers(index + 1, n))
    proof = tree.inclusion_proof(index, size)
    assert verify_inclusion(leaf_hash(leaves[index]), index, size, proof, tree.root(size))
    assert not verify_inclusion(leaf_hash(b"other"), index, size, proof, tree.root(size))
    old = data.draw(st.integers(1, n))
    cproof = tree.consistency_proof(old, n)
    assert verify_consistency(old, n, tree.root(old), tree.root(), cproof)
    changed = Tree([*leaves[: old - 1], b"changed", *leaves[old:]])
    if old < n:
        assert not verify_consistency(old, n, changed.root(old), tree.root(), cproof)
