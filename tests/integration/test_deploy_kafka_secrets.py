"""deploy/kafka-secrets.sh and deploy/k8s/kafka-start.sh, really run (openssl, bash), and
``healthlink kafka ready`` (the Kubernetes services' init container) on the real broker.

The secrets script makes what docker-compose.yml mounts and the Kubernetes Secrets the
manifests name, keeps them on a second run, and gives each service only its own
password; the broker's start script turns the manifests' KAFKA_* variables and those
files into a server.properties with SASL everywhere and the authorizer on. (The broker
itself, configured the same way, runs in every integration test: deploy/local/infra.sh.)
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from shared import acl
from shared.settings import Settings
from tests.support.cli import healthlink

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "kafka-secrets.sh"
DEFAULT_DIR = "${HEALTHLINK_COMPOSE_SECRETS:-./.data/compose-secrets}"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", *args], cwd=ROOT, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def test_compose_secrets_are_made_once_outside_the_repository(tmp_path: Path) -> None:
    out = tmp_path / "compose-secrets"
    run(str(SCRIPT), "compose", str(out))
    everyone = json.loads((out / "credentials.json").read_text())
    assert set(everyone) == {"admin", *acl.PRINCIPALS}
    assert (out / "admin.password").read_text().strip() == everyone["admin"]
    for service in acl.SERVICES:
        assert json.loads((out / "services" / f"{service}.json").read_text()) == {
            service: everyone[service]
        }
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "tls" / "ca.key").stat().st_mode) == 0o600
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, secret in compose["secrets"].items():
        path = str(secret["file"]).replace(DEFAULT_DIR, str(out))
        assert Path(path).is_file(), f"compose secret {name}: {path} not made"

    key, cert, chain = pkcs12.load_key_and_certificates(
        (out / "tls" / "broker.p12").read_bytes(),
        (out / "tls" / "store.password").read_text().strip().encode(),
    )
    assert key is not None and cert is not None
    ca = x509.load_pem_x509_certificate((out / "tls" / "ca.pem").read_bytes())
    assert cert.issuer == ca.subject and [c.subject for c in chain] == [ca.subject]
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "kafka"} <= set(names.get_values_for_type(x509.DNSName))

    run(str(SCRIPT), "compose", str(out))  # again: the same passwords and certificate
    assert json.loads((out / "credentials.json").read_text()) == everyone
    assert (out / "tls" / "ca.pem").read_bytes() == ca.public_bytes(Encoding.PEM)


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def secret_names(doc: Any) -> set[str]:
    """Every Secret a manifest mounts (``secretName``)."""
    if isinstance(doc, dict):
        found = {str(doc["secretName"])} if "secretName" in doc else set()
        return found.union(*(secret_names(v) for v in doc.values()))
    if isinstance(doc, list):
        return set().union(*(secret_names(v) for v in doc))
    return set()


def test_k8s_secrets_are_printed_for_every_secret_the_manifests_mount(tmp_path: Path) -> None:
    done = run(str(SCRIPT), "k8s", "--keep", str(tmp_path / "k8s"),
               "--hospital-domain", "kafka.example.org")  # fmt: skip
    secrets = {d["metadata"]["name"]: d for d in yaml.safe_load_all(done.stdout) if d}
    for doc in secrets.values():
        kubernetes_validate.validate(doc, "1.33.0", strict=True)
        assert doc["metadata"]["namespace"] == "healthlink"
    assert secret_names(manifests()) <= set(secrets)
    broker_keys = {"admin.password", "store.password", "broker.p12"}
    assert set(secrets["kafka-broker"]["data"]) == broker_keys
    for service in acl.SERVICES:
        data = secrets[f"kafka-client-{service}"]["data"]["credentials.json"]
        assert list(json.loads(base64.b64decode(data))) == [service]
    cert = x509.load_pem_x509_certificate((tmp_path / "k8s" / "tls" / "ca.pem").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=HealthLink local CA"
    _, broker, _ = pkcs12.load_key_and_certificates(
        (tmp_path / "k8s" / "tls" / "broker.p12").read_bytes(),
        (tmp_path / "k8s" / "tls" / "store.password").read_text().strip().encode(),
    )
    assert broker is not None
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "*.kafka.example.org" in names.get_values_for_type(x509.DNSName)


def test_the_broker_start_script_writes_sasl_everywhere_and_the_authorizer(
    tmp_path: Path,
) -> None:
    out = tmp_path / "secrets"
    run(str(SCRIPT), "compose", str(out))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {k: str(v) for k, v in compose["services"]["kafka"]["environment"].items()}
    env["KAFKA_ADVERTISED_LISTENERS"] = "CLIENT://kafka:9092,HOSPITAL://localhost:9094"
    env.update(
        HEALTHLINK_KAFKA_SECRETS_DIR=str(out / "tls"),
        HEALTHLINK_KAFKA_CONFIG_DIR=str(tmp_path / "config"),
        HEALTHLINK_KAFKA_DRY_RUN="1",
    )
    (out / "tls" / "admin.password").write_text((out / "admin.password").read_text())
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "k8s" / "kafka-start.sh")], env={**clean, **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    props = dict(line.split("=", 1) for line in done.stdout.splitlines() if line and line[0] != "#")
    assert props["listeners"] == "CLIENT://:9092,CONTROLLER://:9093,HOSPITAL://:9094"
    protocols = [p.split(":")[1] for p in props["listener.security.protocol.map"].split(",")]
    assert protocols == ["SASL_PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    assert "heap.opts" not in props  # JVM options stay JVM options
    admin = (out / "admin.password").read_text().strip()
    assert f'password="{admin}"' in props["listener.name.client.scram-sha-512.sasl.jaas.config"]
    assert props["listener.name.hospital.ssl.keystore.location"] == str(out / "tls" / "broker.p12")
    assert stat.S_IMODE((tmp_path / "config" / "server.properties").stat().st_mode) == 0o600


async def test_kafka_ready_holds_a_service_back_until_its_login_acls_and_topics_exist(
    settings: Settings, tmp_path: Path
) -> None:
    """What each Kubernetes service's init container runs before the service starts."""
    ready = await healthlink(settings, "kafka", "ready", "notify", "--timeout", "30")
    assert ready.exit_code == 0 and ready.stdout.strip() == "notify: ready", ready.stderr

    unknown = tmp_path / "credentials.json"  # a password Kafka was never given
    unknown.write_text(json.dumps({"notify": "not-the-password-kafka-knows"}))
    stranger = settings.model_copy(update={"kafka_credentials": str(unknown)})
    refused = await healthlink(stranger, "kafka", "ready", "notify", "--timeout", "1")
    assert refused.exit_code == 1 and "cannot log in" in refused.stderr, refused.stderr

    no_acls = settings.model_copy(update={"topic_prefix": f"x{settings.topic_prefix}"})
    waiting = await healthlink(no_acls, "kafka", "ready", "notify", "--timeout", "1")
    assert waiting.exit_code == 1, waiting.stdout
    assert "cannot describe" in waiting.stderr and "healthlink.deadletter" in waiting.stderr
