"""``MemoryConsentRepository``, the in-memory fake of the ``ConsentRepository`` port
(``repository.py``) for unit tests."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from services.consent.repository import history_entry
from shared.database import Document
from shared.events import Envelope


class MemoryConsentRepository:
    """The ``ConsentRepository`` protocol over dicts, with the same compare-and-set rules."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Document]] = {
            "consents": {},
            "hospitals": {},
            "patients": {},
        }
        self.attempts: dict[str, int] = {}

    async def add_patient(self, cid: str, fields: Document, event: Envelope) -> bool:
        if cid in self.docs["patients"]:
            return False
        self.docs["patients"][cid] = {"_id": cid, **fields, "outbox": [event]}
        return True

    async def get_patient(self, cid: str) -> Document | None:
        doc = self.docs["patients"].get(cid)
        return {k: v for k, v in doc.items() if k != "outbox"} if doc else None

    async def patient_event(self, cid: str, event: Envelope, verified_at: datetime | None) -> None:
        doc = self.docs["patients"][cid]
        doc["outbox"].append(event)
        if verified_at is not None and (doc.get("verified_at") or verified_at) >= verified_at:
            doc["verified_at"] = verified_at

    async def get(self, kind: str, key: str) -> tuple[int, dict[str, Any]]:
        doc = self.docs[kind].get(key)
        return (doc["version"], copy.deepcopy(doc["state"])) if doc else (0, {})

    async def list_states(self, kind: str) -> list[Document]:
        return [
            {"_id": k, "version": d["version"], "state": copy.deepcopy(d["state"])}
            for k, d in sorted(self.docs[kind].items())
        ]

    async def save(
        self,
        kind: str,
        key: str,
        expected: int,
        state: dict[str, Any],
        events: list[Envelope],
        fields: Document,
    ) -> bool:
        doc = self.docs[kind].get(key)
        if (doc["version"] if doc else 0) != expected:
            return False
        doc = doc or {"_id": key, "history": [], "outbox": []}
        doc.update(fields, version=expected + 1, state=copy.deepcopy(state))
        doc["history"].append(history_entry(expected + 1, events[0], state))
        doc["outbox"].extend(events)
        self.docs[kind][key] = doc
        return True

    async def pending(self, kind: str) -> list[tuple[str, Envelope]]:
        return [(k, e) for k, d in sorted(self.docs[kind].items()) for e in d["outbox"]]

    async def published(self, kind: str, key: str, *event_ids: str) -> None:
        doc = self.docs[kind][key]
        doc["outbox"] = [e for e in doc["outbox"] if e.id not in event_ids]

    async def history(self, kind: str, key: str) -> list[Document]:
        doc = self.docs[kind].get(key)
        return list(doc["history"]) if doc else []

    async def due_expiries(self, now: datetime) -> list[str]:
        consents = self.docs["consents"].items()
        return [k for k, d in consents if d.get("next_expiry") and d["next_expiry"] <= now]

    async def consents_that_may_name(self, code: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (k, copy.deepcopy(d["state"]))
            for k, d in self.docs["consents"].items()
            if d["state"].get("all_hospitals")
            or code in d["state"].get("hospitals", [])
            or d.get("next_expiry") is not None
        ]

    async def providers(self) -> list[str]:
        hospitals = self.docs["hospitals"].items()
        return [
            k for k, d in hospitals if d["state"]["role"] == "provider" and d["state"]["active"]
        ]

    async def reserve_attempt(self, cid: str, day: str, limit: int) -> int | None:
        key = f"{cid}:{day}"
        if self.attempts.get(key, 0) >= limit:
            return None
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return self.attempts[key]

    async def release_attempt(self, cid: str, day: str) -> None:
        key = f"{cid}:{day}"
        self.attempts[key] = max(0, self.attempts.get(key, 0) - 1)
