"""Data requests, on ``DATA_REQUESTS.<hospital code>`` (one topic per hospital, key: the
code; ``topic_of`` names it): the consent service asks a
provider to send a patient's records (the FAQ's "pull", in seconds instead of days).
Delivery is at-least-once with a stable event id; a hospital sends again, and ingest
stores idempotently.

Hospitals read these events, so their name and payload are the hospital wire
contract's (``healthlink_adapter.datarequests``); the catalogue entry adds the topic.
"""

from __future__ import annotations

from healthlink_adapter import datarequests as wire

from shared.events.base import Event
from shared.topics import DATA_REQUESTS


class DataRequested(wire.DataRequested, Event):
    """``hospital``: please send ``patient``'s records; ``reason``: the event that caused it."""

    NAME = wire.DATA_REQUESTED
    TOPIC = DATA_REQUESTS
    PER_SUBJECT_TOPIC = True
