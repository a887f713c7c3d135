"""A patient's access log with RFC 9162 inclusion proofs to signed heads, and its offline
check (``healthlink audit check-proof``).

The proof document::

    {"cid": ..., "key_id": ..., "heads": {chain: jws},
     "entries": [{"record": {...every stored field but _id, times as {"$date": ...}},
                  "leaf_index": seq, "tree_size": n, "proof": [hex, ...]}],
     "pending": [{"chain", "seq", "id"}]}   # written after the chain's latest head

``check_proof`` needs only the document and the audit public key: each head's JWS must
verify; each record's hash is recomputed from its fields (so what is shown is what was
hashed), must name the patient, and must be included at ``leaf_index`` in its head's tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import OKPKey

from services.audit.chain import plain, record_hash
from services.audit.heads import SignedHead, key_id, read_head
from services.audit.merkle import Tree, leaf_hash, verify_inclusion


def build_proof(
    cid: str,
    key: OKPKey,
    records: Sequence[Mapping[str, Any]],
    heads: Mapping[str, SignedHead],
    trees: Mapping[str, Tree],
) -> dict[str, Any]:
    """The document for ``records`` (the patient's), each proven against its chain's head
    when ``trees[chain]`` holds the stored hashes up to that head's size."""
    entries: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    used: dict[str, str] = {}
    for rec in records:
        chain, seq = str(rec["chain"]), int(rec["seq"])
        head, tree = heads.get(chain), trees.get(chain)
        if head is None or tree is None or seq >= head.size:
            pending.append({"chain": chain, "seq": seq, "id": rec.get("event_id")})
            continue
        used[chain] = head.jws
        shown = plain({k: v for k, v in rec.items() if k != "_id"})
        assert isinstance(shown, dict)
        # Records missing under the head: no path can be built, and the check fails.
        path = tree.inclusion_proof(seq, head.size) if len(tree) >= head.size else []
        entries.append({"record": shown, "leaf_index": seq, "tree_size": head.size,
                        "proof": [p.hex() for p in path]})  # fmt: skip
    return {"cid": cid, "key_id": key_id(key), "heads": used, "entries": entries,
            "pending": pending}  # fmt: skip


@dataclass
class ProofCheck:
    """What ``check_proof`` found: entries proven, and each problem (empty when sound)."""

    proven: int = 0
    pending: int = 0
    problems: list[str] = field(default_factory=list)
    accesses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_proof(doc: Mapping[str, Any], key: OKPKey) -> ProofCheck:
    """Check a proof document offline with the audit public key."""
    found = ProofCheck(pending=len(doc.get("pending") or []))
    cid = doc.get("cid")
    roots: dict[str, tuple[int, bytes]] = {}
    for chain, token in (doc.get("heads") or {}).items():
        claims = read_head(str(token), key)
        if claims is None or claims.chain != chain:
            found.problems.append(f"head of {chain}: signature does not verify")
            continue
        roots[chain] = (claims.tree_size, bytes.fromhex(claims.root_hash))
    for n, entry in enumerate(doc.get("entries") or []):
        problem = _check_entry(entry, cid, roots)
        if problem:
            found.problems.append(f"entry {n}: {problem}")
        else:
            found.proven += 1
            rec = entry["record"]
            found.accesses.append({"chain": rec["chain"], "seq": rec["seq"],
                                   "id": rec.get("event_id"),
                                   "data": (rec.get("body") or {}).get("data")})  # fmt: skip
    return found


def _check_entry(
    entry: Mapping[str, Any], cid: object, roots: Mapping[str, tuple[int, bytes]]
) -> str | None:
    try:
        rec = entry["record"]
        chain, seq = str(rec["chain"]), int(rec["seq"])
        if rec.get("patient") != cid or rec.get("kind") != "access":
            return f"{chain}#{seq} is not an access to patient {cid}"
        if record_hash(rec) != rec["hash"]:
            return f"{chain}#{seq}: fields do not match the record hash"
        if chain not in roots:
            return f"{chain}#{seq}: no verified head for its chain"
        size, root = roots[chain]
        if int(entry["tree_size"]) != size or int(entry["leaf_index"]) != seq:
            return f"{chain}#{seq}: tree size or leaf index differs from the head"
        proof = [bytes.fromhex(p) for p in entry["proof"]]
        leaf = leaf_hash(bytes.fromhex(rec["hash"]))
        if not verify_inclusion(leaf, seq, size, proof, root):
            return f"{chain}#{seq}: inclusion proof does not lead to the signed root"
    except (KeyError, TypeError, ValueError) as exc:
        return f"malformed entry ({exc.__class__.__name__})"
    return None
