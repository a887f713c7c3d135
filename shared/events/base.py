"""What every event type of the catalogue is: a typed payload with a name, a version
and the topic it travels on.

    class ConsentGranted(ConsentChanged):
        NAME = "consent.granted"

A subclass that sets ``NAME`` registers itself in ``CATALOGUE`` under its CloudEvents
type (``ConsentGranted.TYPE``: ``th.healthlink.consent.granted.v1``); abstract
families (``ConsentChanged``) leave it empty. Producers build the envelope from the payload
(``ConsentGranted(...).envelope(source=..., subject=cid)``); consumers read it back
with ``parse(envelope)`` (any type of the catalogue) or ``ConsentGranted.of(envelope)``
(one family), and an unreadable payload is ``Rejected`` with reason
``malformed-event`` (an unknown type: ``unknown-event``), so the Guard sets it aside.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import Rejected
from shared.events.envelope import Envelope, event_type

CATALOGUE: dict[str, type[Event]] = {}


class Event(BaseModel):
    """A payload type. Readers ignore fields they do not know (a tolerant reader)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    NAME: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ""
    TYPE: ClassVar[str] = ""  # the CloudEvents type: th.healthlink.<name>.v<version>
    # One topic per subject, ``TOPIC.<subject>`` (data requests: one per hospital, so
    # Kafka's ACLs let each hospital read only its own).
    PER_SUBJECT_TOPIC: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("NAME"):
            cls.TYPE = event_type(cls.NAME, cls.VERSION)
            if cls.TYPE in CATALOGUE:
                raise TypeError(f"two event types named {cls.TYPE}")
            CATALOGUE[cls.TYPE] = cls

    def envelope(
        self,
        *,
        source: str,
        subject: str,
        event_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        """This payload in its envelope; a fresh id unless one is given."""
        fields: dict[str, Any] = {"id": event_id} if event_id else {}
        return Envelope(
            source=source,
            type=self.TYPE,
            subject=subject,
            data=self.model_dump(mode="json"),
            correlationid=correlation_id,
            **fields,
        )

    @classmethod
    def of(cls, envelope: Envelope) -> Self:
        """The payload of ``envelope`` as this type (or a subtype), or ``Rejected``."""
        event = parse(envelope)
        if not isinstance(event, cls):
            raise Rejected(f"{envelope.type} is not a {cls.__name__}", code="unexpected-event")
        return event


def parse(envelope: Envelope) -> Event:
    """The typed payload of any event in the catalogue, or ``Rejected``."""
    kind = CATALOGUE.get(envelope.type)
    if kind is None:
        raise Rejected(f"unknown event type {envelope.type[:80]}", code="unknown-event")
    try:
        return kind.model_validate(envelope.data)
    except ValidationError as exc:
        raise Rejected(
            f"{envelope.name}: {exc.error_count()} invalid fields", code="malformed-event"
        ) from exc


def topic_of(envelope: Envelope) -> str:
    """The topic an event of this type travels on (outbox relays, retries)."""
    kind = CATALOGUE.get(envelope.type)
    if kind is None:
        raise Rejected(f"unknown event type {envelope.type[:80]}", code="unknown-event")
    if kind.PER_SUBJECT_TOPIC:
        return f"{kind.TOPIC}.{envelope.subject}"
    return kind.TOPIC
