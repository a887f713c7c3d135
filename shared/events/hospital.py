"""Hospital events, on ``HOSPITAL_EVENTS`` (key: hospital code); the consent service
alone publishes them. Each carries the hospital's full state and a version."""

from __future__ import annotations

from pydantic import Field

from shared.coverage import HospitalState
from shared.events.base import Event
from shared.topics import HOSPITAL_EVENTS


class HospitalChanged(Event):
    """Any change of a participating hospital: its version and whole new state."""

    TOPIC = HOSPITAL_EVENTS

    version: int = Field(ge=1)
    state: HospitalState


class HospitalRegistered(HospitalChanged):
    """An operator added the hospital (as consumer or provider)."""

    NAME = "hospital.registered"


class HospitalBecameProvider(HospitalChanged):
    """A consumer became a data provider (never back)."""

    NAME = "hospital.became_provider"


class HospitalUpdated(HospitalChanged):
    """Name or consent mode changed, or suspended / reinstated."""

    NAME = "hospital.updated"


class HospitalCredentialsChanged(HospitalChanged):
    """Its admin key was rotated, or an upload signing key added or removed: the state
    carries the new admin key's SHA-256 and the public keys (never a secret)."""

    NAME = "hospital.credentials_changed"


# A provider appeared: patients whose consent covers "all hospitals" now cover it too.
NEW_PROVIDER = (HospitalRegistered, HospitalBecameProvider)
