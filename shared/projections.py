"""Local read models of consent and hospital events (contracts, not rules).

Consent and hospital events carry the full resulting state and a version per
subject, so any service can keep its own copy and decide locally, with no call to
the consent service on a hot path. Applying is idempotent and order-safe: a state
is written only when its version is newer than the stored one, so a redelivered or
replayed event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.database import Document
from shared.errors import Rejected
from shared.events import Envelope


@dataclass(frozen=True)
class HospitalView:
    code: str
    name: str
    role: str  # "consumer" | "provider"
    consent_mode: str  # "standing" | "per-visit"
    active: bool = True
    joined_at: str | None = None  # ISO-8601 UTC
    provider_since: str | None = None  # ISO-8601 UTC; None for a consumer

    @property
    def is_provider(self) -> bool:
        return self.active and self.role == "provider"

    @property
    def per_visit_only(self) -> bool:
        """Its physicians may read only under a per-visit consent for the visit."""
        return self.consent_mode == "per-visit"

    @classmethod
    def from_state(cls, code: str, state: dict[str, Any]) -> HospitalView:
        return cls(
            code=code,
            name=state.get("name", code),
            role=state["role"],
            consent_mode=state.get("consent_mode", "standing"),
            active=state.get("active", True),
            joined_at=state.get("joined_at"),
            provider_since=state.get("provider_since"),
        )


@dataclass(frozen=True)
class ConsentView:
    """What a patient allows now: standing consent, per-visit consents, sensitive data."""

    cid: str
    version: int
    all_hospitals: bool
    hospitals: frozenset[str]
    allow_sensitive: bool
    per_visit: tuple[dict[str, Any], ...] = ()

    def covers_source(self, hospital: str) -> bool:
        """The standing consent lets ``hospital`` send and share this patient's data."""
        return self.all_hospitals or hospital in self.hospitals

    def live_per_visit(self, now: datetime) -> list[dict[str, Any]]:
        """Per-visit consents neither revoked nor past their end time at ``now``."""
        return [
            v
            for v in self.per_visit
            if not v.get("revoked") and datetime.fromisoformat(str(v["until"])) > now
        ]

    def per_visit_sources(self, requesting: str, now: datetime) -> frozenset[str]:
        """Sources a live per-visit consent lets ``requesting`` read at ``now``."""
        return frozenset(
            code
            for v in self.live_per_visit(now)
            if v.get("requesting_hospital") == requesting
            for code in v.get("sources", [])
        )

    def per_visit_allows(self, requesting: str, source: str, now: datetime) -> bool:
        """A live per-visit consent for ``requesting`` lists ``source``."""
        return source in self.per_visit_sources(requesting, now)

    def may_send(self, source: str, now: datetime) -> bool:
        """The ingest gate: standing consent covers ``source`` or a live per-visit lists it."""
        return self.covers_source(source) or any(
            source in v.get("sources", []) for v in self.live_per_visit(now)
        )

    @classmethod
    def from_doc(cls, doc: Document) -> ConsentView:
        state = doc["state"]
        return cls(
            cid=doc["_id"],
            version=int(doc["version"]),
            all_hospitals=bool(state.get("all_hospitals", False)),
            hospitals=frozenset(state.get("hospitals", [])),
            allow_sensitive=bool(state.get("allow_sensitive", False)),
            per_visit=tuple(state.get("per_visit", [])),
        )


def versioned(event: Envelope) -> tuple[int, dict[str, Any]]:
    """The ``(version, state)`` of a state event, or ``Rejected`` (it goes to dead letters)."""
    version, state = event.data.get("version"), event.data.get("state")
    if not isinstance(version, int) or version < 1 or not isinstance(state, dict):
        raise Rejected("state event without a positive version and a state", code="malformed-event")
    return version, state


async def apply_versioned(
    coll: AsyncCollection[Document], key: str, version: int, state: dict[str, Any]
) -> bool:
    """Store ``state`` under ``key`` if ``version`` is newer; True when it was written."""
    result = await coll.update_one(
        {"_id": key, "version": {"$lt": version}},
        {"$set": {"version": version, "state": state}},
    )
    if result.matched_count:
        return True
    try:
        await coll.insert_one({"_id": key, "version": version, "state": state})
    except DuplicateKeyError:
        return False  # a same or newer version is already there
    return True


class ConsentProjection:
    """Consent and hospital events -> two collections in the consuming service's database."""

    def __init__(
        self, consents: AsyncCollection[Document], hospitals: AsyncCollection[Document]
    ) -> None:
        self.consents = consents
        self.hospitals = hospitals

    async def on_consent_event(self, event: Envelope) -> bool:
        """Apply a consent state change; other events on the topic (patients) are skipped."""
        if "state" not in event.data:
            return False
        version, state = versioned(event)
        return await apply_versioned(self.consents, event.subject, version, state)

    async def on_hospital_event(self, event: Envelope) -> bool:
        if "state" not in event.data:
            return False
        version, state = versioned(event)
        return await apply_versioned(self.hospitals, event.subject, version, state)

    async def consent(self, cid: str) -> ConsentView | None:
        doc = await self.consents.find_one({"_id": cid})
        return ConsentView.from_doc(doc) if doc else None

    async def hospital(self, code: str) -> HospitalView | None:
        doc = await self.hospitals.find_one({"_id": code})
        return HospitalView.from_state(code, doc["state"]) if doc else None

    async def consents_of(self, cids: list[str]) -> dict[str, ConsentView | None]:
        """Several patients' consent views in one read (a batch's worth)."""
        if len(cids) == 1:
            return {cids[0]: await self.consent(cids[0])}
        found = {doc["_id"]: doc async for doc in self.consents.find({"_id": {"$in": cids}})}
        return {cid: ConsentView.from_doc(found[cid]) if cid in found else None for cid in cids}

    async def hospitals_of(self, codes: list[str]) -> dict[str, HospitalView | None]:
        """Several hospitals' views in one read."""
        if len(codes) == 1:
            return {codes[0]: await self.hospital(codes[0])}
        cursor = self.hospitals.find({"_id": {"$in": codes}})
        found = {doc["_id"]: doc async for doc in cursor}
        return {
            code: HospitalView.from_state(code, found[code]["state"]) if code in found else None
            for code in codes
        }
