"""Consent use cases, the core: versioned changes, the outbox relay, patients.

``change`` is the one way a consent or hospital state moves: read the current
version, compute the next state, compare-and-set it together with its events in
one document, then publish. Consent use cases live in ``consents.py``, hospital
ones in ``registry.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.consent.domain import check_adult, check_cid, check_hcode
from services.consent.errors import (
    REFUSED_EN,
    REFUSED_TH,
    AlreadyRegistered,
    ConcurrentChange,
    HospitalNotFound,
    PatientNotFound,
    TooManyAttempts,
    VerificationFailed,
)
from services.consent.repository import KINDS, ConsentRepository
from services.consent.verification import MAX_ATTEMPTS, DevVerifier, Verifier, attempt_day
from shared import events
from shared.broker import EventPublisher
from shared.coverage import ConsentState, HospitalState
from shared.errors import Transient
from shared.events import (
    ConsentChanged,
    Envelope,
    Event,
    HospitalChanged,
    PatientRegistered,
    VerificationEvent,
    topic_of,
)
from shared.logging import get_correlation_id, get_logger

log = get_logger(__name__)
SOURCE = "healthlink/consent"
MAX_TRIES = 5
RELAY_GRACE = timedelta(seconds=5)
MARKS_IN_FLIGHT = 8  # background outbox clears at the database at once


class Marks:
    """Clears a published event from its outbox: at once, or after the answer.

    The event is on the broker before its request answers; clearing its outbox entry
    is bookkeeping that the relay would otherwise redo (a duplicate event changes
    nothing: consumers apply states by version). So the service clears it after
    answering (``background``: one database write less on every change's path) and
    waits for what is left when it stops; unit tests clear at once. At most
    ``in_flight`` background clears talk to the database at a time (the others wait
    their turn), so a burst of changes cannot flood it with bookkeeping.
    """

    def __init__(self, background: bool = False, in_flight: int = MARKS_IN_FLIGHT) -> None:
        self._background = background
        self._gate = asyncio.Semaphore(in_flight)
        self._tasks: set[asyncio.Task[None]] = set()

    async def clear(self, write: Awaitable[None]) -> None:
        if not self._background:
            await write
            return
        task = asyncio.ensure_future(self._in_turn(write))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _in_turn(self, write: Awaitable[None]) -> None:
        async with self._gate:
            await write

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("outbox entry not cleared (the relay will)",
                        error=type(task.exception()).__name__)  # fmt: skip

    async def drain(self) -> None:
        """Wait for the clears still running (the service is stopping)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class Deps:
    repo: ConsentRepository
    publisher: EventPublisher
    clock: Callable[[], datetime]
    verifier: Verifier = field(default_factory=DevVerifier)
    marks: Marks = field(default_factory=Marks)
    # Hospital codes this process has read as registered. A hospital is never removed
    # (suspended at most: still registered), so once seen it needs no further look-up.
    registered: set[str] = field(default_factory=set)


State = ConsentState | HospitalState
Changed = type[ConsentChanged] | type[HospitalChanged]


@dataclass
class Change:
    """A next state, with what goes along with it in the same write."""

    state: State
    data: dict[str, Any] = field(default_factory=dict)  # extra event data
    fields: dict[str, Any] = field(default_factory=dict)  # extra document fields
    extra: list[Envelope] = field(default_factory=list)  # follow-up events (data requests)
    event: Changed | None = None  # the event type, when it depends on the change


@dataclass(frozen=True)
class Stored:
    version: int
    state: dict[str, Any]
    changed: bool


Apply = Callable[[int, dict[str, Any]], Change | None]
# An operator's action, made for the version it leads to (shared.operators.recorder).
Record = Callable[[int], Envelope]


def event(payload: Event, subject: str, event_id: str | None = None) -> Envelope:
    """``payload`` in an envelope from this service, with the request's correlation id."""
    return payload.envelope(
        source=SOURCE, subject=subject, event_id=event_id, correlation_id=get_correlation_id()
    )


async def change(
    deps: Deps,
    kind: str,
    key: str,
    kind_of_event: Changed,
    apply: Apply,
    current: tuple[int, dict[str, Any]] | None = None,
    record: Record | None = None,
) -> Stored:
    """Store the next version of ``key``'s state with its events, then publish them.

    ``apply(version, state)`` returns ``None`` when nothing changes: no event then.
    ``current`` is a state the caller has just read (saves a read on the first try).
    ``record``: the operator's action that asked for the change, written in the same
    outbox as the change (both or neither); one that changed nothing is published alone.
    """
    for _ in range(MAX_TRIES):
        version, state = current or await deps.repo.get(kind, key)
        current = None
        step = apply(version, state)
        if step is None:
            if record is not None:
                await publish_record(deps, record(version))
            return Stored(version, state, changed=False)
        made = step.event or kind_of_event
        payload = made.model_validate({"version": version + 1, "state": step.state, **step.data})
        events = [event(payload, key), *step.extra]
        if record is not None:
            events.append(record(version + 1))
        stored = step.state.model_dump(mode="json")
        if await deps.repo.save(kind, key, version, stored, events, step.fields):
            await publish_stored(deps, kind, key, *events)
            return Stored(version + 1, stored, changed=True)
    raise ConcurrentChange("too many concurrent changes; try again")


async def publish_record(deps: Deps, envelope: Envelope) -> None:
    """An operator's action that changed nothing: on the security log, or 503."""
    try:
        await deps.publisher.publish(topic_of(envelope), envelope)
    except Exception as exc:
        log.error("operator action not recorded", error=type(exc).__name__)
        raise Transient("the security log is unavailable; try again") from exc


async def publish_stored(deps: Deps, kind: str, key: str, *envelopes: Envelope) -> None:
    """Publish one write's events, then clear them from ``key``'s outbox in one write.

    The first (the state change) goes alone and is acknowledged before the rest, which
    follow from it (data requests to one topic per hospital, an operator's action) and
    go together: one broker round trip for all of them rather than one each. If any
    fails, all stay in the outbox for the relay (a duplicate changes nothing).
    """
    first, *rest = envelopes
    await deps.publisher.publish(topic_of(first), first)
    sends = [deps.publisher.publish(topic_of(e), e) for e in rest]
    for failed in await asyncio.gather(*sends, return_exceptions=True):
        if isinstance(failed, BaseException):
            raise failed
    await deps.marks.clear(deps.repo.published(kind, key, *(e.id for e in envelopes)))


async def relay(deps: Deps, grace: timedelta = RELAY_GRACE) -> int:
    """Publish whatever a crash left in an outbox, one by one, in order; returns how many.

    Events younger than ``grace`` are left to the request that is publishing them.
    """
    sent = 0
    cutoff = deps.clock() - grace
    for kind in KINDS:
        due: dict[str, list[Envelope]] = {}
        for key, envelope in await deps.repo.pending(kind):
            if envelope.time <= cutoff:
                due.setdefault(key, []).append(envelope)
        for key, envelopes in due.items():
            for envelope in envelopes:
                await deps.publisher.publish(topic_of(envelope), envelope)
            await deps.marks.clear(deps.repo.published(kind, key, *(e.id for e in envelopes)))
            sent += len(envelopes)
    if sent:
        log.info("outbox relayed", events=sent)
    return sent


async def require_patient(deps: Deps, cid: str) -> dict[str, Any]:
    check_cid(cid)
    patient = await deps.repo.get_patient(cid)
    if patient is None:
        raise PatientNotFound("no patient registered with this CID")
    return patient


async def require_hospitals(deps: Deps, codes: set[str]) -> None:
    """Every code is a registered hospital: those not seen before read together."""
    for code in sorted(codes):
        check_hcode(code)
    unseen = sorted(codes - deps.registered)
    found = await asyncio.gather(*(deps.repo.get("hospitals", code) for code in unseen))
    for code, (version, _) in zip(unseen, found, strict=True):
        if version == 0:
            raise HospitalNotFound(f"hospital {code} is not a participating hospital")
        deps.registered.add(code)


async def register_patient(deps: Deps, cid: str, birth_date: date) -> dict[str, Any]:
    """One registration per CID, 18 or older in Bangkok time."""
    check_cid(cid)
    now = deps.clock()
    check_adult(birth_date, now)
    payload = PatientRegistered(cid=cid, birth_date=birth_date, registered_at=now)
    registered = event(payload, cid, event_id=f"patient-registered-{cid}")
    fields = {"birth_date": birth_date.isoformat(), "registered_at": now}
    if not await deps.repo.add_patient(cid, fields, registered):
        raise AlreadyRegistered("this CID is already registered")
    await publish_stored(deps, "patients", cid, registered)
    return {"cid": cid, "registered_at": now.isoformat()}


async def patient_event(
    deps: Deps, cid: str, payload: VerificationEvent, verified_at: datetime | None = None
) -> None:
    envelope = event(payload, cid)
    await deps.repo.patient_event(cid, envelope, verified_at)
    await publish_stored(deps, "patients", cid, envelope)


async def verify_identity(deps: Deps, cid: str, scan: str) -> dict[str, Any]:
    """At most ``MAX_ATTEMPTS`` failed attempts per Bangkok day; every result is an event.

    An attempt is counted (atomically) before the verifier is asked; a success or
    a verifier outage gives the attempt back, so only failures use up the day.
    """
    await require_patient(deps, cid)
    now = deps.clock()
    day = attempt_day(now)
    count = await deps.repo.reserve_attempt(cid, day, MAX_ATTEMPTS)
    if count is None:
        message = {"th": REFUSED_TH, "en": REFUSED_EN}
        refused = events.VerificationRefused(cid=cid, day=day, time=now, message=message)
        await patient_event(deps, cid, refused)
        raise TooManyAttempts()
    try:
        matched = await deps.verifier.verify(cid, scan)
    except Exception:
        await deps.repo.release_attempt(cid, day)
        raise
    if matched:
        await deps.repo.release_attempt(cid, day)
        succeeded = events.VerificationSucceeded(cid=cid, day=day, time=now)
        await patient_event(deps, cid, succeeded, verified_at=now)
        return {"cid": cid, "verified_at": now.isoformat()}
    remaining = MAX_ATTEMPTS - count
    failed = events.VerificationFailed(
        cid=cid, day=day, time=now, attempt=count, remaining=remaining
    )
    await patient_event(deps, cid, failed)
    raise VerificationFailed(
        f"identity verification failed; {remaining} attempts left today "
        f"/ การยืนยันตัวตนไม่สำเร็จ เหลืออีก {remaining} ครั้งในวันนี้"
    )
