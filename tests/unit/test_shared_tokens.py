from __future__ import annotations

import time

import pytest

from shared import tokens
from shared.errors import Unauthorized

pytestmark = pytest.mark.unit
SECRET = "s3cret"


def test_a_token_round_trips_with_its_claims() -> None:
    token = tokens.issue(SECRET, tokens.PHYSICIAN, "12345", 60, hospital="10670")
    claims = tokens.verify(SECRET, tokens.PHYSICIAN, token)
    assert claims["sub"] == "12345" and claims["hospital"] == "10670"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "x" + t,
        lambda t: t.split(".")[0],
        lambda t: "",
    ],
)
def test_a_tampered_token_is_refused(mutate: object) -> None:
    token = tokens.issue(SECRET, tokens.PATIENT, "1101700230708", 60)
    with pytest.raises(Unauthorized):
        tokens.verify(SECRET, tokens.PATIENT, mutate(token))  # type: ignore[operator]


def test_a_token_for_another_audience_or_secret_is_refused() -> None:
    token = tokens.issue(SECRET, tokens.PATIENT, "1101700230708", 60)
    with pytest.raises(Unauthorized):
        tokens.verify(SECRET, tokens.PHYSICIAN, token)
    with pytest.raises(Unauthorized):
        tokens.verify("other", tokens.PATIENT, token)


def test_an_expired_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = tokens.issue(SECRET, tokens.PATIENT, "1101700230708", 1)
    later = time.time() + 5
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(SECRET, tokens.PATIENT, token)


def test_derived_keys_differ_per_hospital_and_purpose() -> None:
    a = tokens.derive(SECRET, "upload", "10670")
    assert a != tokens.derive(SECRET, "upload", "13781")
    assert a != tokens.derive(SECRET, "admin", "10670")
