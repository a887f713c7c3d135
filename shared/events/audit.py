"""``audit.head.signed`` on ``AUDIT_HEADS`` (key: the chain): the audit service's signed
tree head of one chain (RFC 9162 style; ``services/audit/heads.py``, docs/audit.md).

``jws`` is the compact JWS (EdDSA) over ``{chain, tree_size, root_hash, timestamp}``;
those four fields are repeated in the clear for readers, but only the JWS is trusted.
``start`` and ``leaves`` are the record hashes of seq ``start`` .. ``tree_size - 1`` (those
added since the chain's previous head), authenticated by the signed root."""

from __future__ import annotations

from pydantic import Field

from shared.events.base import Event
from shared.topics import AUDIT_HEADS


class AuditHeadSigned(Event):
    """One chain's signed head and the record hashes it added."""

    NAME = "audit.head.signed"
    TOPIC = AUDIT_HEADS

    chain: str
    tree_size: int = Field(ge=0)
    root_hash: str
    timestamp: str
    jws: str
    start: int = Field(default=0, ge=0)
    leaves: list[str] = Field(default_factory=list)
