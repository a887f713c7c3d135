"""Identity states, on ``IDENTITY_EVENTS``; the auth service alone publishes them.

Like consent, every change carries the **full resulting state** and a version per
subject (+1 per change), so a service keeps its own copy (``apply_versioned``) and
enforces a licence deactivation or a roster removal on the next request, whatever
token the physician holds. Keys: the licence (``LicenceChanged``), the hospital code
(``RosterChanged``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.events.base import Event
from shared.fields import HCode
from shared.topics import IDENTITY_EVENTS


class LicenceState(BaseModel):
    """A Medical Council licence as the platform's mirror holds it (never the PIN)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    licence: str = Field(min_length=1, max_length=16)
    name: str = Field(min_length=1, max_length=200)
    active: bool


class RosterState(BaseModel):
    """The physicians a hospital's staff allowed to act for it (sorted licences)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    hospital: HCode
    licences: list[str] = Field(default_factory=list)


class LicenceChanged(Event):
    """A licence loaded, renamed, activated or deactivated (not a PIN reset)."""

    NAME = "identity.licence_changed"
    TOPIC = IDENTITY_EVENTS

    version: int = Field(ge=1)
    state: LicenceState


class RosterChanged(Event):
    """A physician added to or removed from a hospital's roster."""

    NAME = "identity.roster_changed"
    TOPIC = IDENTITY_EVENTS

    version: int = Field(ge=1)
    state: RosterState
