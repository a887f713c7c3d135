"""The event envelope: CloudEvents 1.0 attributes around a versioned payload.

Event types are reverse-DNS, past tense and versioned, e.g.
``th.healthlink.consent.granted.v1``. ``subject`` is the id the event is about
(a CID for patient events, a hospital code for hospital events). The payload
types themselves are the catalogue (``shared.events``): one model per type.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TYPE_PREFIX = "th.healthlink."


def event_type(name: str, version: int = 1) -> str:
    """``event_type("consent.granted")`` -> ``th.healthlink.consent.granted.v1``."""
    return f"{TYPE_PREFIX}{name}.v{version}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """A CloudEvents 1.0 structured-mode event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(pattern=r"^th\.healthlink\.[a-z_.]+\.v\d+$")
    time: datetime = Field(default_factory=utcnow)
    subject: str = Field(min_length=1)
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    data: dict[str, Any]

    @property
    def name(self) -> str:
        """The type without prefix and version: ``consent.granted``."""
        return self.type.removeprefix(TYPE_PREFIX).rsplit(".v", 1)[0]
