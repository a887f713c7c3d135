"""Local read models of consent and hospital events (contracts, not rules).

Consent and hospital events carry the full resulting state and a version per
subject, so any service can keep its own copy and decide locally, with no call to
the consent service on a hot path. Applying is idempotent and order-safe: a state
is written only when its version is newer than the stored one, so a redelivered or
replayed event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.database import Document
from shared.events import Envelope


@dataclass(frozen=True)
class HospitalView:
    code: str
    name: str
    role: str  # "consumer" | "provider"
    consent_mode: str  # "standing" | "per-visit"
    active: bool = True

    @property
    def is_provider(self) -> bool:
        return self.active and self.role == "provider"


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
        data = event.data
        return await apply_versioned(
            self.consents, event.subject, int(data["version"]), dict(data["state"])
        )

    async def on_hospital_event(self, event: Envelope) -> bool:
        data = event.data
        return await apply_versioned(
            self.hospitals, event.subject, int(data["version"]), dict(data["state"])
        )

    async def consent(self, cid: str) -> ConsentView | None:
        doc = await self.consents.find_one({"_id": cid})
        return ConsentView.from_doc(doc) if doc else None

    async def hospital(self, code: str) -> HospitalView | None:
        doc = await self.hospitals.find_one({"_id": code})
        if doc is None:
            return None
        state = doc["state"]
        return HospitalView(
            code=code,
            name=state.get("name", code),
            role=state["role"],
            consent_mode=state.get("consent_mode", "standing"),
            active=state.get("active", True),
        )
