"""Data requests, on ``DATA_REQUESTS`` (key: hospital code): the consent service asks a
provider to send a patient's records (the FAQ's "pull", in seconds instead of days).
Delivery is at-least-once with a stable event id; a hospital sends again, and ingest
stores idempotently."""

from __future__ import annotations

from shared.events.base import Event
from shared.fields import Cid, HCode, UtcTime
from shared.topics import DATA_REQUESTS


class DataRequested(Event):
    """``hospital``: please send ``patient``'s records; ``reason``: the event that caused it."""

    NAME = "data.requested"
    TOPIC = DATA_REQUESTS

    patient: Cid
    hospital: HCode
    reason: str
    time: UtcTime
