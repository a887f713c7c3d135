from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.coverage import ConsentState
from shared.events import CATALOGUE, ConsentGranted, Envelope, event_type, parse
from shared.settings import DEV_SECRET, Settings

pytestmark = pytest.mark.unit


def test_events_follow_cloudevents_with_versioned_types() -> None:
    payload = ConsentGranted(version=1, state=ConsentState(hospitals=("10670",)))
    event = payload.envelope(source="healthlink/consent", subject="1101700230708")
    assert event.specversion == "1.0" and event.type == "th.healthlink.consent.granted.v1"
    assert event.name == "consent.granted" and event.type == ConsentGranted.TYPE
    again = Envelope.model_validate_json(event.model_dump_json())
    assert again == event and parse(again) == payload


def test_every_event_type_has_a_name_a_version_and_a_topic() -> None:
    assert len(CATALOGUE) >= 20
    for kind, model in CATALOGUE.items():
        assert kind == event_type(model.NAME, model.VERSION) and model.TOPIC, kind


def test_an_envelope_without_required_attributes_is_invalid() -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate({"type": event_type("x.y"), "data": {}})


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production")
    ok = Settings(environment="production", token_secret="a" * 32, admin_token="b" * 32)
    assert ok.token_secret != DEV_SECRET
