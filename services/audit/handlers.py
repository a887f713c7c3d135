"""Audit use cases: record every consumed message once; verify; the patient's view; search."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from joserfc.jwk import OKPKey

from services.audit import fhir, sources
from services.audit.errors import BadTime
from services.audit.headcheck import check_against_heads
from services.audit.heads import (
    MAX_LEAVES,
    HeadClaims,
    SignedHead,
    latest_heads,
    sign_head,
    verified_heads,
)
from services.audit.merkle import Frontier, Tree, leaf_hash
from services.audit.proofs import build_proof
from services.audit.repository import AuditLog
from services.audit.verification import Breach, verify_chain
from shared.broker import EventPublisher
from shared.deadletter import SourceMessage
from shared.events import AuditHeadSigned, Envelope, utcnow
from shared.logging import get_logger
from shared.projections import ConsentProjection
from shared.topics import AUDIT_HEADS

log = get_logger(__name__)
CRITERIA = ("physician", "patient", "hospital", "decision", "kind")  # exact fields of a Search


@dataclass
class Signer:
    """The head signer's memory: each chain's tree as far as it signed it."""

    loaded: bool = False
    frontiers: dict[str, Frontier] = field(default_factory=dict)
    halted: set[str] = field(default_factory=set)
    latest: dict[str, SignedHead] = field(default_factory=dict)  # what it signed last


@dataclass
class Deps:
    log: AuditLog
    clock: Callable[[], datetime] = utcnow
    key: OKPKey | None = None  # signs the heads (private) and checks them
    publisher: EventPublisher | None = None  # where signed heads are published
    signer: Signer = field(default_factory=Signer)
    # hospitals' states (admin key hashes) from the hospital events audit records
    hospitals: ConsentProjection = field(default_factory=ConsentProjection.in_memory)


@dataclass(frozen=True)
class Search:
    """An auditor's query: exact fields, a time window (ISO-8601 text), a page."""

    physician: str | None = None
    patient: str | None = None
    hospital: str | None = None
    decision: str | None = None
    kind: str | None = None
    since: str | None = None
    until: str | None = None
    offset: int = 0
    count: int = 50


@dataclass(frozen=True)
class Verification:
    """How many records were checked, and the first breach of each broken chain."""

    checked: int
    breaches: list[Breach] = field(default_factory=list)
    heads: dict[str, int] = field(default_factory=dict)  # chain -> latest signed tree size
    refused_heads: int = 0  # heads whose signature did not verify (ignored)
    unsigned: int = 0  # records after their chain's latest head: chain-protected only

    @property
    def ok(self) -> bool:
        return not self.breaches


async def record_event(deps: Deps, kind: str, partition: int, event: Envelope) -> bool:
    """An access, consent, hospital or security event into its partition's chain, once."""
    entry = sources.from_envelope(kind, partition, event)
    stored = await deps.log.append(entry)
    if not stored:
        log.info("duplicate event ignored", event_id=entry.event_id, chain=entry.chain)
    return stored


async def record_dead_letter(deps: Deps, source: SourceMessage) -> bool:
    """A message some service set aside: its metadata and a digest, once."""
    entry = sources.from_dead_letter(source, deps.clock())
    stored = await deps.log.append(entry)
    if not stored:
        log.info("duplicate dead letter ignored", event_id=entry.event_id)
    return stored


async def verify_log(
    deps: Deps, published: Iterable[Mapping[str, Any]] = (), key: OKPKey | None = None
) -> Verification:
    """Every chain against its signed heads (stored, plus ``published`` ones read from the
    heads topic), verified with ``key`` (default: the service's), then against its tip:
    the first breach of each chain. Heads are read before the records, so records
    written meanwhile are never taken for missing."""
    key = key or deps.key
    docs = [*await deps.log.heads(), *published]
    records, tips = await deps.log.snapshot()
    heads, refused = verified_heads(docs, key) if key is not None else ([], 0)
    by_chain: dict[str, list[SignedHead]] = {}
    for head in heads:
        by_chain.setdefault(head.chain, []).append(head)
    breaches: list[Breach] = []
    for chain in sorted(set(records) | set(tips) | set(by_chain)):
        found = records.get(chain, [])
        breach = check_against_heads(chain, found, by_chain.get(chain, []))
        if breach is None:
            breach = verify_chain(chain, found, tips.get(chain))
        if breach is not None:
            breaches.append(breach)
    latest = {chain: head.size for chain, head in latest_heads(heads).items()}
    unsigned = sum(max(0, len(recs) - latest.get(chain, 0)) for chain, recs in records.items())
    checked = sum(len(chain) for chain in records.values())
    return Verification(checked, breaches, latest, refused, unsigned)


async def sign_heads(deps: Deps) -> int:
    """Sign the head of every chain that grew since its last head (stored, published);
    returns how many heads were signed. A chain whose records no longer match its last
    signed head is not signed again (logged): that needs ``healthlink audit verify``."""
    if deps.key is None:
        return 0
    if not deps.signer.loaded:
        await _resume_signer(deps, deps.key)
    signed = 0
    for chain, tip in sorted((await deps.log.tips()).items()):
        if chain in deps.signer.halted:
            continue
        frontier = deps.signer.frontiers.setdefault(chain, Frontier())
        if frontier.size >= tip.seq + 1:
            continue
        pending = await deps.log.hashes(chain, frontier.size, tip.seq + 1)  # one read
        if len(pending) < tip.seq + 1 - frontier.size:
            log.error(
                "chain has a gap below its tip", chain=chain, seq=frontier.size + len(pending)
            )
        for part in range(0, len(pending), MAX_LEAVES):
            hashes = pending[part : part + MAX_LEAVES]
            start = frontier.size
            trial = _copied(frontier)
            for digest in hashes:
                trial.append(leaf_hash(bytes.fromhex(digest)))
            stamp = deps.clock().isoformat()
            claims = HeadClaims(chain, trial.size, trial.root().hex(), stamp)
            head = SignedHead(claims, sign_head(deps.key, claims), start, tuple(hashes))
            await deps.log.add_head(head.document())
            if deps.publisher is not None:
                event = AuditHeadSigned(**head.document())
                await deps.publisher.publish(
                    AUDIT_HEADS, event.envelope(source="audit", subject=chain)
                )
            deps.signer.frontiers[chain] = frontier = trial
            deps.signer.latest[chain] = head
            signed += 1
    return signed


def _copied(frontier: Frontier) -> Frontier:
    copied = Frontier()
    copied.size, copied._stack = frontier.size, list(frontier._stack)
    return copied


async def _resume_signer(deps: Deps, key: OKPKey) -> None:
    """Each chain's tree rebuilt from the stored hashes up to its last signed head, which
    it must match."""
    heads, _ = verified_heads(await deps.log.heads(), key)
    for chain, head in latest_heads(heads).items():
        hashes = await deps.log.hashes(chain, 0, head.size)
        frontier = Frontier()
        for digest in hashes:
            frontier.append(leaf_hash(bytes.fromhex(digest)))
        if frontier.size != head.size or frontier.root().hex() != head.claims.root_hash:
            log.error("audit records differ from the chain's last signed head; not signing it",
                      chain=chain, tree_size=head.size)  # fmt: skip
            deps.signer.halted.add(chain)
        deps.signer.frontiers[chain] = frontier
        deps.signer.latest[chain] = head
    deps.signer.loaded = True


async def access_proof(deps: Deps, cid: str, limit: int = 5000) -> dict[str, Any]:
    """The patient's access records with inclusion proofs to their chains' latest heads."""
    if deps.key is None:
        raise RuntimeError("no audit key")
    heads, _ = verified_heads(await deps.log.heads(), deps.key)
    latest = latest_heads([*heads, *deps.signer.latest.values()])  # stored ones may be gone
    records = await deps.log.records_of({"kind": "access", "patient": cid}, limit)
    trees: dict[str, Tree] = {}
    for chain in {str(r["chain"]) for r in records} & set(latest):
        hashes = await deps.log.hashes(chain, 0, latest[chain].size)
        trees[chain] = Tree(bytes.fromhex(h) for h in hashes)  # short if records are missing
    return build_proof(cid, deps.key, records, latest, trees)


async def read_accesses(deps: Deps, cid: str, offset: int, count: int) -> list[dict[str, Any]]:
    """Who looked at the patient's record (allowed and denied), newest first."""
    criteria = {"kind": "access", "patient": cid}
    return [access_entry(d) for d in await deps.log.search(criteria, None, None, offset, count)]


async def search_records(deps: Deps, query: Search) -> list[dict[str, Any]]:
    """The records an auditor asked for, each with its place in its chain."""
    return [search_entry(doc) for doc in await _found(deps, query)]


async def export_audit_events(deps: Deps, query: Search) -> dict[str, Any]:
    """The same search as a FHIR R4 searchset Bundle of AuditEvents (IHE BALP)."""
    return fhir.bundle(await _found(deps, query))


async def _found(deps: Deps, query: Search) -> list[dict[str, Any]]:
    criteria = {name: getattr(query, name) for name in CRITERIA}
    since, until = _bound(query.since, "since"), _bound(query.until, "until")
    return await deps.log.search(criteria, since, until, query.offset, query.count)


def _bound(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    parsed = sources.parse_time(value)
    if parsed is None:
        raise BadTime(name)
    return parsed


def access_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """One line of "who looked at my record"."""
    data = doc["body"].get("data", {})
    return {
        "id": doc["event_id"],
        "time": data.get("time") or doc["body"].get("time"),
        "physician": data.get("physician"),
        "physician_name": data.get("physician_name"),
        "hospital": data.get("hospital"),
        "purpose": data.get("purpose"),
        "categories": data.get("categories", []),
        "sources": data.get("sources", []),
        "decision": data.get("decision"),
        "reason": data.get("reason"),
        "break_glass": bool(data.get("break_glass", False)),
        "break_glass_reason": data.get("break_glass_reason"),
        "count": data.get("count", 0),
    }


def search_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A record as auditors see it: where it sits in which chain, and what it says."""
    time = doc.get("time")
    return {
        "id": doc["event_id"],
        "chain": doc["chain"],
        "seq": doc["seq"],
        "hash": doc["hash"],
        "kind": doc.get("kind"),
        "type": doc.get("type"),
        "time": time.isoformat() if isinstance(time, datetime) else time,
        "patient": doc.get("patient"),
        "physician": doc.get("physician"),
        "hospital": doc.get("hospital"),
        "decision": doc.get("decision"),
        "body": doc["body"],
    }
