"""Webhook signatures (Standard Webhooks shape) and back-off."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notify.webhook import backoff, sign, signature_valid, webhook_key

pytestmark = pytest.mark.unit


def test_signature_round_trip_and_tampering() -> None:
    key = webhook_key("secret")
    body = '{"id": "n1", "text": "ทดสอบ"}'.encode()
    headers = {"webhook-id": "n1", "webhook-timestamp": "1700000000"}
    headers["webhook-signature"] = sign(key, "n1", 1700000000, body)
    assert headers["webhook-signature"].startswith("v1,")
    assert signature_valid(key, headers, body)
    assert not signature_valid(key, headers, body + b" ")
    assert not signature_valid(webhook_key("other"), headers, body)
    assert not signature_valid(key, {**headers, "webhook-id": "n2"}, body)


def test_backoff_doubles() -> None:
    assert [backoff(0.5, n) for n in (1, 2, 3, 4)] == [timedelta(seconds=s) for s in (0.5, 1, 2, 4)]
