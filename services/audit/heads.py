"""Signed tree heads (RFC 9162 style): each chain's Merkle root, signed with a key that is
not in the audit database. The check of the stored records against them is
``headcheck.py``.

A head says "chain C had ``tree_size`` records whose RFC 9162 Merkle root over their
record hashes (32 bytes each, in seq order) is ``root_hash``, at ``timestamp``". It is a
compact JWS (EdDSA, Ed25519) over the canonical JSON of ``{chain, tree_size, root_hash,
timestamp}``. Next to the JWS, a published or stored head carries ``start`` and
``leaves``: the record hashes of seq ``start`` to ``tree_size - 1``, those added since
the chain's previous head. They are not signed one by one (``headcheck.py`` accepts them
only when the root they make equals a signed root).

``SigningKey`` holds the private key (the audit service) and ``public_jwk`` its public
half (``GET /audit/public-key``, ``healthlink audit public-key``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from services.audit.chain import canonical

ALG = "EdDSA"
TYP = "healthlink-audit-head+jws"
KEY_FILE = Path("audit") / "head-signing.jwk"
MAX_LEAVES = 2000  # record hashes per head message (~130 kB); a larger growth makes more heads


class NoSigningKey(RuntimeError):
    """Production without HEALTHLINK_AUDIT_SIGNING_KEY(_FILE)."""


@dataclass(frozen=True)
class HeadClaims:
    """What a head's signature covers."""

    chain: str
    tree_size: int
    root_hash: str
    timestamp: str

    def payload(self) -> dict[str, Any]:
        return {"chain": self.chain, "tree_size": self.tree_size,
                "root_hash": self.root_hash, "timestamp": self.timestamp}  # fmt: skip


@dataclass(frozen=True)
class SignedHead:
    """A head whose signature verified, with the leaves it came with (unverified yet)."""

    claims: HeadClaims
    jws: str
    start: int = 0
    leaves: tuple[str, ...] = ()

    @property
    def chain(self) -> str:
        return self.claims.chain

    @property
    def size(self) -> int:
        return self.claims.tree_size

    def document(self) -> dict[str, Any]:
        """As stored and published."""
        return {**self.claims.payload(), "jws": self.jws, "start": self.start,
                "leaves": list(self.leaves)}  # fmt: skip


# --- keys --------------------------------------------------------------------------------------


def import_key(jwk: Mapping[str, Any]) -> OKPKey:
    key = OKPKey.import_key(dict(jwk))
    if key.as_dict().get("crv") != "Ed25519":
        raise ValueError("the audit head key must be an Ed25519 (OKP) JWK")
    return key


def key_id(key: OKPKey) -> str:
    return str(key.thumbprint())


def public_jwk(key: OKPKey) -> dict[str, Any]:
    """The public half as a JWK (with ``kid`` = its RFC 7638 thumbprint)."""
    public = dict(key.as_dict(private=False))
    public.pop("d", None)
    return {**public, "kid": key_id(key), "alg": ALG, "use": "sig"}


def load_signing_key(
    environment: str, key: str | None, key_file: str | None, data_dir: str
) -> OKPKey:
    """The head-signing key: the JWK given, or the file named, or (development and test
    only) a key made once under ``<data_dir>/audit/head-signing.jwk`` (mode 0600)."""
    if key:
        return import_key(json.loads(key))
    if key_file:
        return import_key(json.loads(Path(key_file).read_text()))
    if environment == "production":
        raise NoSigningKey(
            "set HEALTHLINK_AUDIT_SIGNING_KEY or HEALTHLINK_AUDIT_SIGNING_KEY_FILE in production"
        )
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return import_key(json.loads(path.read_text()))
    made = OKPKey.generate_key("Ed25519", private=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(made.as_dict(private=True)))
    os.chmod(temp, 0o600)
    try:
        os.link(temp, path)  # only the first of several instances starting at once wins
    except FileExistsError:
        return import_key(json.loads(path.read_text()))
    finally:
        temp.unlink()
    return made


def read_public_key(text: str) -> OKPKey:
    """A public key from a JWK (or a JWK set holding one key)."""
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("keys"), list) and data["keys"]:
        data = data["keys"][0]
    return import_key(data)


# --- signing and reading heads --------------------------------------------------------------------


def sign_head(key: OKPKey, claims: HeadClaims) -> str:
    header = {"alg": ALG, "kid": key_id(key), "typ": TYP}
    with warnings.catch_warnings():  # RFC 9864 names it "Ed25519"; the signature is the same
        warnings.simplefilter("ignore", SecurityWarning)
        return jws.serialize_compact(header, canonical(claims.payload()), key, algorithms=[ALG])


def read_head(token: str, key: OKPKey) -> HeadClaims | None:
    """The claims of a head signed by ``key``; None when the signature or shape is bad."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            found = jws.deserialize_compact(token, key, algorithms=[ALG])
        data = json.loads(found.payload)
        claims = HeadClaims(
            chain=str(data["chain"]),
            tree_size=int(data["tree_size"]),
            root_hash=str(data["root_hash"]),
            timestamp=str(data["timestamp"]),
        )
    except (JoseError, ValueError, KeyError, TypeError):
        return None
    if claims.tree_size < 0 or len(claims.root_hash) != 64:
        return None
    return claims


def verified_heads(docs: Iterable[Mapping[str, Any]], key: OKPKey) -> tuple[list[SignedHead], int]:
    """The heads among ``docs`` (stored or published) whose JWS verifies with ``key``,
    each once; and how many were refused (bad signature or shape)."""
    found: dict[tuple[str, int, str], SignedHead] = {}
    refused = 0
    for doc in docs:
        claims = read_head(str(doc.get("jws", "")), key)
        if claims is None:
            refused += 1
            continue
        leaves = doc.get("leaves") or []
        start = doc.get("start", 0)
        ok = isinstance(start, int) and isinstance(leaves, list)
        head = SignedHead(
            claims,
            str(doc["jws"]),
            start if ok else 0,
            tuple(str(x) for x in leaves) if ok else (),
        )
        kept = found.get((claims.chain, claims.tree_size, claims.root_hash))
        if kept is None or (not kept.leaves and head.leaves):
            found[(claims.chain, claims.tree_size, claims.root_hash)] = head
    return sorted(found.values(), key=lambda h: (h.chain, h.size)), refused


def latest_heads(heads: Iterable[SignedHead]) -> dict[str, SignedHead]:
    latest: dict[str, SignedHead] = {}
    for head in heads:
        if head.chain not in latest or head.size > latest[head.chain].size:
            latest[head.chain] = head
    return latest
