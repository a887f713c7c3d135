"""``record.accessed`` on ``ACCESS_EVENTS`` (key: CID): exactly one per request the query
service answers about a patient, permitted or denied; the query service alone publishes
it, and the audit log and the patient's "who looked at my record" are built from it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.events.base import Event
from shared.fields import UtcTime
from shared.topics import ACCESS_EVENTS

# ``purpose`` (HL7 v3 PurposeOfUse / ActReason): a physician's treatment, an emergency
# (break-glass), or the patient reading their own record.
TREATMENT = "TREAT"
EMERGENCY = "ETREAT"
PATIENT_REQUEST = "PATRQT"


class RecordAccessed(Event):
    """Who asked for which patient, what was decided and why, and what was shown."""

    NAME = "record.accessed"
    TOPIC = ACCESS_EVENTS

    physician: str | None = None
    physician_name: str | None = None
    hospital: str | None = None
    patient: str
    purpose: str
    decision: Literal["permit", "deny"]
    reason: str
    categories: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    count: int = Field(default=0, ge=0)
    hidden: int = Field(default=0, ge=0)
    break_glass: bool = False
    break_glass_reason: str | None = None
    endpoint: str = ""
    time: UtcTime
    correlation_id: str | None = None
