from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events import Envelope, event_type, make_event
from shared.settings import DEV_SECRET, Settings

pytestmark = pytest.mark.unit


def test_events_follow_cloudevents_with_versioned_types() -> None:
    event = make_event(
        "consent.granted", source="healthlink/consent", subject="1101700230708", data={"version": 1}
    )
    assert event.specversion == "1.0" and event.type == "th.healthlink.consent.granted.v1"
    assert event.name == "consent.granted"
    again = Envelope.model_validate_json(event.model_dump_json())
    assert again == event


def test_an_envelope_without_required_attributes_is_invalid() -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate({"type": event_type("x.y"), "data": {}})


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production")
    ok = Settings(environment="production", token_secret="a" * 32, admin_token="b" * 32)
    assert ok.token_secret != DEV_SECRET
