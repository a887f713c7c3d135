"""Production fails closed (issue 12, item 7): every development default, weak or
reused secret, development key or verifier and plain-http endpoint is refused at start."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pytest
from joserfc.jwk import ECKey
from pydantic import ValidationError

from services.auth.keys import derived_key
from services.auth.settings import AuthSettings
from services.consent.settings import ConsentSettings
from services.notify.settings import NotifySettings
from shared.settings import DEV_SECRET, Settings
from tests.support.settings import TEST_ADMIN, TEST_SECRET

pytestmark = pytest.mark.unit
S = TypeVar("S", bound=Settings)
TOKEN = "t" * 32 + "-token-secret"
ADMIN = "a" * 32 + "-admin-token"
SECRETS = {"token_secret": TOKEN, "admin_token": ADMIN}


def production(cls: type[S] = Settings, **values: Any) -> S:  # type: ignore[assignment]
    return cls(environment="production", **{**SECRETS, **values})


def private_jwks(*keys: ECKey) -> str:
    return json.dumps({"keys": [k.as_dict(private=True) | {"kid": k.kid} for k in keys]})


def auth_values(**changes: Any) -> dict[str, Any]:
    key = ECKey.generate_key("P-256", auto_kid=True)
    values: dict[str, Any] = {
        "auth_signing_keys": private_jwks(key),
        "auth_issuer": "https://auth.example",
        "auth_audience": "https://fhir.example/fhir",
        "auth_otp_sender": "webhook",
        "auth_otp_webhook_url": "https://otp.example/send",
        "auth_bootstrap_operator": None,
        "auth_portal_client": None,
    }
    values.update(changes)
    return values


def test_explicit_long_distinct_secrets_are_accepted() -> None:
    assert production().token_secret == TOKEN
    assert production(AuthSettings, **auth_values()).environment == "production"
    assert production(ConsentSettings, verifier_url="https://verify.example").verifier_url
    assert production(NotifySettings, webhook_url="https://wallet.example/hook").webhook_url
    assert production(NotifySettings).webhook_url is None  # no webhook: inbox only
    assert production(NotifySettings, webhook_url="").webhook_url == ""


@pytest.mark.parametrize(
    "secrets",
    [
        {},  # the development defaults
        {"token_secret": DEV_SECRET},
        {"admin_token": DEV_SECRET},
        {"token_secret": ""},
        {"admin_token": ""},
        {"token_secret": "   "},
        {"token_secret": "short-secret"},
        {"admin_token": "x" * 31},
        {"token_secret": TEST_SECRET},
        {"admin_token": TEST_ADMIN},
        {"token_secret": "dev-only-" + "x" * 40},
        {"token_secret": ADMIN},  # one secret for two purposes
    ],
    ids=lambda s: ",".join(f"{k}={v[:12]!r}" for k, v in s.items()) or "defaults",
)
def test_weak_default_or_reused_secrets_are_refused(secrets: dict[str, str]) -> None:
    values = {**SECRETS, **secrets} if secrets else {}
    with pytest.raises(ValidationError):  # the bootstrap token allowed: it must be strong
        Settings(environment="production", admin_token_enabled=True, **values)  # type: ignore[arg-type]


def test_production_takes_no_static_operator_token_unless_told() -> None:
    """Operators are named (shared/operators.py); the static bootstrap token is off in
    production, so it need not be set, and is accepted only when explicitly enabled."""
    settings = Settings(environment="production", token_secret=TOKEN)
    assert not settings.bootstrap_token_allowed
    assert Settings(environment="development").bootstrap_token_allowed
    with pytest.raises(ValidationError, match="HEALTHLINK_ADMIN_TOKEN"):
        Settings(environment="production", token_secret=TOKEN, admin_token_enabled=True)


def test_a_secret_is_counted_in_bytes() -> None:
    production(token_secret="ไทย" * 4)  # 12 characters, 36 bytes
    with pytest.raises(ValidationError, match="32 bytes"):
        production(token_secret="ไทย" * 3 + "x")


def test_development_and_test_accept_the_defaults() -> None:
    assert Settings().token_secret == DEV_SECRET
    assert Settings(environment="test", token_secret="short").token_secret == "short"


@pytest.mark.parametrize(
    "changes",
    [
        {"auth_signing_keys": None},  # the key derived from the token secret
        {"auth_signing_keys": "not json"},
        {"auth_signing_keys": '{"keys": []}'},
        {"auth_signing_keys": "{}"},
        {"auth_audience": ""},
        {"auth_audience": "http://fhir.example/fhir"},
        {"auth_issuer": "http://auth.example"},
        {"auth_otp_sender": "file"},
        {"auth_otp_webhook_url": None},
        {"auth_otp_webhook_url": "http://otp.example/send"},
        {"auth_bootstrap_operator": "dev-operator"},  # without its public keys
        {"auth_portal_client": "healthlink-portal"},  # without its public keys
        {"auth_argon2_memory_kib": 8},
    ],
    ids=lambda c: ",".join(f"{k}={str(v)[:16]}" for k, v in c.items()),
)
def test_auth_refuses_development_parts(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        production(AuthSettings, **auth_values(**changes))


@pytest.mark.parametrize("secret", [TOKEN, DEV_SECRET])
def test_auth_refuses_the_development_signing_key(secret: str) -> None:
    development = derived_key(secret)
    with pytest.raises(ValidationError, match="development key"):
        production(AuthSettings, **auth_values(auth_signing_keys=private_jwks(development)))


def test_auth_refuses_public_keys_as_signing_keys() -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    public = json.dumps({"keys": [key.as_dict(private=False)]})
    with pytest.raises(ValidationError, match="private"):
        production(AuthSettings, **auth_values(auth_signing_keys=public))


@pytest.mark.parametrize("url", [None, "", "http://verify.example", "https://"])
def test_consent_refuses_the_development_verifier_and_plain_http(url: str | None) -> None:
    with pytest.raises(ValidationError):
        production(ConsentSettings, verifier_url=url)


@pytest.mark.parametrize("url", ["http://wallet.example/hook", "ftp://x", "https://"])
def test_notify_refuses_a_webhook_that_is_not_https(url: str) -> None:
    with pytest.raises(ValidationError):
        production(NotifySettings, webhook_url=url)


def test_the_environment_refuses_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHLINK_ENVIRONMENT", "production")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("HEALTHLINK_TOKEN_SECRET", TOKEN)
    monkeypatch.setenv("HEALTHLINK_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("HEALTHLINK_ADMIN_TOKEN_ENABLED", "true")
    assert Settings().admin_token == ADMIN and Settings().bootstrap_token_allowed
