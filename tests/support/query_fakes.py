"""The query service over its in-memory fakes, and the events that feed it, for unit tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.query import subscribers
from services.query.audit import Auditor
from services.query.handlers import Deps
from services.query.lockout import MemorySignInFailures
from services.query.physicians import hash_pin
from services.query.repository import (
    MemoryBreakGlassLog,
    MemoryCharts,
    MemoryLicenceRegistry,
    MemoryRosters,
)
from services.query.settings import QuerySettings
from shared import topics
from shared.broker import RecordingPublisher
from shared.consumer import Outcomes
from shared.deadletter import SourceMessage
from shared.events import ConsentGranted, HospitalRegistered, RecordsStored, StoredRecord
from shared.projections import ConsentProjection
from tests.support.cids import CID
from tests.support.credentials import credentials_of
from tests.support.events import envelope

SOURCE_A, SOURCE_B, READER = "10670", "13781", "11535"
LICENCE, PIN = "12345", "2468"
PIN_HASH = hash_pin(PIN)  # argon2id is slow on purpose: hash once
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def settings() -> QuerySettings:
    return QuerySettings(
        environment="test",
        token_secret="query-unit-secret",
        admin_token="op-token",
        max_sign_in_failures=3,
        query_projector="inline",
    )


@dataclass
class World:
    """Fakes behind the use cases, and the events the query service would consume."""

    settings: QuerySettings = field(default_factory=settings)
    clock: Clock = field(default_factory=Clock)
    published: RecordingPublisher = field(default_factory=RecordingPublisher)
    versions: dict[str, int] = field(default_factory=dict)
    offsets: itertools.count[int] = field(default_factory=itertools.count)
    deps: Deps = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.deps = Deps(
            registry=MemoryLicenceRegistry(),
            rosters=MemoryRosters(),
            failures=MemorySignInFailures(
                s.max_sign_in_failures, s.sign_in_failure_window_s, s.lockout_s
            ),
            glass=MemoryBreakGlassLog(),
            view=ConsentProjection.in_memory(),
            charts=MemoryCharts(),
            auditor=Auditor(self.published, self.clock),
            secret=s.token_secret,
            token_ttl_s=s.token_ttl_s,
            settings=s,
            clock=self.clock,
        )

    def version(self, subject: str) -> int:
        self.versions[subject] = self.versions.get(subject, 0) + 1
        return self.versions[subject]

    async def hospital(self, code: str, mode: str = "standing", role: str = "provider") -> None:
        state = {"code": code, "name": f"H{code}", "role": role, "consent_mode": mode,
                 "active": True, **credentials_of(code)}  # fmt: skip
        event = HospitalRegistered.model_validate({"version": self.version(code), "state": state})
        await subscribers.on_hospital_event(self.deps, envelope(event, code))

    async def consent(self, cid: str = CID, **state: Any) -> None:
        full = {"all_hospitals": False, "hospitals": [], "allow_sensitive": False, "per_visit": []}
        event = ConsentGranted.model_validate(
            {"version": self.version(cid), "state": {**full, **state}}
        )
        await subscribers.on_consent_event(self.deps, envelope(event, cid))

    async def physician(self, hospital: str = READER, licence: str = LICENCE) -> None:
        """A licence in the registry, on ``hospital``'s roster."""
        await self.deps.registry.put(licence, "Dr Somchai", PIN_HASH)
        await self.deps.rosters.add(hospital, licence, self.clock())

    def message(self, event: RecordsStored | bytes) -> SourceMessage:
        value = (
            event
            if isinstance(event, bytes)
            else envelope(event, event.patient).model_dump_json().encode()
        )
        return SourceMessage(topics.INGEST_STORED, 0, next(self.offsets), None, value, {})

    async def store(self, *batch: RecordsStored | bytes) -> Outcomes:
        """A batch of ``records.stored`` as the subscriber receives it."""
        charts = self.deps.charts
        return await subscribers.on_records_stored(charts, [self.message(e) for e in batch])


def observation(
    rid: str, *, day: int = 1, rank: str = "1", sensitive: bool = False
) -> StoredRecord:
    resource = {"resourceType": "Observation", "id": rid, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                "effectiveDateTime": f"2026-01-{day:02d}"}  # fmt: skip
    return StoredRecord(
        type="Observation",
        resource_id=rid,
        resource_json=orjson.dumps(resource).decode(),
        category="laboratory",
        sensitive=sensitive,
        date=f"2026-01-{day:02d}",
        rank=rank,
    )


def stored(
    hospital: str, *records: StoredRecord, cid: str = CID, upload: str = "u1"
) -> RecordsStored:
    return RecordsStored(patient=cid, hospital=hospital, upload_id=upload, part=0, parts=1,
                         records=list(records))  # fmt: skip
