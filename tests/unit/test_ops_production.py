"""docker-compose.yml and the Kubernetes manifests run as production, with every secret
from the environment / a Secret: none is written in the repository, and the settings they
give each service pass production's validation (shared/settings.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from joserfc.jwk import ECKey, OKPKey

from healthlink.apps import settings_class
from shared.settings import SERVICE_PORTS

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SECRET_NAMES = ("HEALTHLINK_TOKEN_SECRET", "HEALTHLINK_ADMIN_TOKEN", "HEALTHLINK_AUTH_SIGNING_KEYS")
REQUIRED = re.compile(r"^\$\{(HEALTHLINK_[A-Z_]+):\?[^}]+\}$")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_every_service_as_production_with_required_secrets() -> None:
    services = compose()["services"]
    for name in SERVICE_PORTS:
        env = services[name]["environment"]
        assert env["HEALTHLINK_ENVIRONMENT"] == "production", name
        for secret in SECRET_NAMES:
            if secret in env:
                match = REQUIRED.match(str(env[secret]))
                assert match and match.group(1) == secret, f"{name}: {secret} not required"
    assert "HEALTHLINK_AUTH_SIGNING_KEYS" in services["auth"]["environment"]


def test_compose_settings_with_strong_secrets_pass_production_validation() -> None:
    given = {
        "HEALTHLINK_TOKEN_SECRET": "t" * 48,
        "HEALTHLINK_ADMIN_TOKEN": "a" * 48,
        "HEALTHLINK_VERIFIER_URL": "https://verify.example",
        "HEALTHLINK_AUTH_ISSUER": "https://auth.example",
        "HEALTHLINK_AUTH_AUDIENCE": "https://fhir.example/fhir",
        "HEALTHLINK_AUTH_OTP_WEBHOOK_URL": "https://otp.example/send",
    }
    key = ECKey.generate_key("P-256", auto_kid=True)
    given["HEALTHLINK_AUTH_SIGNING_KEYS"] = json.dumps({"keys": [key.as_dict(private=True)]})
    head_key = OKPKey.generate_key("Ed25519", auto_kid=True)
    given["HEALTHLINK_AUDIT_SIGNING_KEY"] = json.dumps(head_key.as_dict(private=True))

    def expand(value: object) -> str:
        text = str(value)
        found = re.match(r"^\$\{([A-Z_]+):([?-])([^}]*)\}$", text)
        if not found:
            return text
        var, kind, default = found.groups()
        return given.get(var, "" if kind == "?" else default)

    for name in SERVICE_PORTS:
        env = {k: expand(v) for k, v in compose()["services"][name]["environment"].items()}
        values: dict[str, Any] = {k.removeprefix("HEALTHLINK_").lower(): v for k, v in env.items()}
        settings = settings_class(name)(**values)
        assert settings.environment == "production"


def k8s_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_kubernetes_runs_as_production_with_secrets_only_from_a_secret() -> None:
    [config] = [d for d in k8s_docs() if d["kind"] == "ConfigMap" and "data" in d
                and "HEALTHLINK_ENVIRONMENT" in d["data"]]  # fmt: skip
    assert config["data"]["HEALTHLINK_ENVIRONMENT"] == "production"
    for secret in SECRET_NAMES:
        assert secret not in config["data"]
    assert config["data"]["HEALTHLINK_VERIFIER_URL"].startswith("https://")
    assert not [d for d in k8s_docs() if d["kind"] == "Secret"], "no Secret is checked in"
