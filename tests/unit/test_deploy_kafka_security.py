"""docker-compose.yml and deploy/k8s run Kafka as deploy/local/infra.sh does (issue 12).

No PLAINTEXT listener anywhere, SASL/SCRAM-SHA-512 on the client listener, SASL_SSL for
hospitals, the StandardAuthorizer refusing what no ACL allows, ``User:admin`` the only
super user; the listener names and ports agree with infra.sh; every service that uses
Kafka gets its own credential file from a secret; the one-shot init that applies the ACL
table runs before the services. Docker is not needed: the files are parsed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import acl

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KAFKA_SERVICES = tuple(acl.SERVICES)  # the portal has no broker
JVM_OPTIONS = {"KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS"}
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def property_of(name: str) -> str:
    """KAFKA_* variable -> property, as deploy/k8s/kafka-start.sh converts it."""
    key = name.removeprefix("KAFKA_").replace("___", "-").replace("__", "@")
    return key.replace("_", ".").replace("@", "_").lower()


def properties(env: dict[str, Any]) -> dict[str, str]:
    """The broker's properties from its variables (Compose's defaults, ``${X:-d}``, taken)."""
    return {
        property_of(k): re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v))
        for k, v in env.items()
        if k.startswith("KAFKA_") and k not in JVM_OPTIONS
    }


def infra_properties() -> dict[str, str]:
    """The server.properties infra.sh writes (its heredoc), variables left as they are."""
    script = (ROOT / "deploy" / "local" / "infra.sh").read_text()
    body = script.split('cat >"$KAFKA_DIR/server.properties") <<EOF\n', 1)[1].split("\nEOF\n")[0]
    found = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[key] = value
    return found


def infra_port_offsets() -> dict[str, int]:
    """Each of infra.sh's listeners: its port's offset from HEALTHLINK_KAFKA_PORT."""
    script = (ROOT / "deploy" / "local" / "infra.sh").read_text()
    offsets = {"KAFKA_PORT": 0}
    for var, n in re.findall(r"^(KAFKA_\w+_PORT)=\$\(\(KAFKA_PORT \+ (\d+)\)\)", script, re.M):
        offsets[var] = int(n)
    listeners = infra_properties()["listeners"]
    return {name: offsets[var] for name, var in re.findall(r"(\w+)://\$HOST:\$(\w+)", listeners)}


def listener_ports(listeners: str) -> dict[str, int]:
    return {name: int(port) for name, port in re.findall(r"(\w+)://[^:,]*:(\d+)", listeners)}


def check_broker(props: dict[str, str], what: str) -> None:
    """The security every broker config must have, compared with infra.sh's."""
    infra = infra_properties()
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert "PLAINTEXT" not in protocols.values(), f"{what}: a PLAINTEXT listener"
    assert protocols == dict(
        p.split(":") for p in infra["listener.security.protocol.map"].split(",")
    ), f"{what}: listeners differ from infra.sh's"
    assert protocols["HOSPITAL"] == "SASL_SSL" and protocols["CLIENT"] == "SASL_PLAINTEXT"
    ports = listener_ports(props["listeners"])
    assert set(ports) == set(protocols), f"{what}: a listener without a protocol"
    assert "PLAINTEXT://" not in props["listeners"]
    base = ports["CLIENT"]
    assert {n: p - base for n, p in ports.items()} == infra_port_offsets(), what
    for key in (
        "controller.listener.names",
        "inter.broker.listener.name",
        "sasl.enabled.mechanisms",
        "sasl.mechanism.inter.broker.protocol",
        "sasl.mechanism.controller.protocol",
        "listener.name.controller.sasl.enabled.mechanisms",
        "authorizer.class.name",
        "allow.everyone.if.no.acl.found",
        "super.users",
    ):
        assert props.get(key) == infra[key], f"{what}: {key} = {props.get(key)!r}"
    assert props["authorizer.class.name"] == STANDARD_AUTHORIZER
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"


def test_the_start_script_adds_the_secret_half_infra_sh_writes() -> None:
    script = (K8S / "kafka-start.sh").read_text()
    secret_keys = [k for k in infra_properties() if k.startswith("listener.name.")]
    secret_keys.remove("listener.name.controller.sasl.enabled.mechanisms")  # in the manifests
    assert secret_keys
    for key in secret_keys:
        assert f"\n{key}=" in script, f"kafka-start.sh does not write {key}"
    assert "--add-scram" in script  # the admin's credential bootstrapped with the storage


# --------------------------------------------------------------------------- compose


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_kafka_has_no_plaintext_listener_and_the_authorizer_on() -> None:
    kafka = compose()["services"]["kafka"]
    props = properties(kafka["environment"])
    check_broker(props, "docker-compose.yml")
    advertised = listener_ports(props["advertised.listeners"])
    assert set(advertised) == {"CLIENT", "HOSPITAL"}  # the controller is not advertised
    assert kafka["ports"] == ["127.0.0.1:9094:9094"]  # only the hospital listener, loopback
    assert kafka["entrypoint"][-1] == "/opt/healthlink/kafka-start.sh"
    mounted = {v.split(":")[1]: v.split(":")[0] for v in kafka["volumes"]}
    assert mounted["/opt/healthlink/kafka-start.sh"] == "./deploy/k8s/kafka-start.sh"
    targets = {s["target"] for s in kafka["secrets"]}
    assert targets == {"admin.password", "broker.p12", "store.password"}
    assert kafka["environment"]["HEALTHLINK_KAFKA_SECRETS_DIR"] == "/run/secrets"


def secret_file(name: str) -> str:
    return str(compose()["secrets"][name]["file"])


def test_compose_gives_every_kafka_service_its_own_credential_from_a_secret_file() -> None:
    services = compose()["services"]
    client_port = listener_ports(properties(services["kafka"]["environment"])["listeners"])
    sources = set()
    for name in KAFKA_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["HEALTHLINK_KAFKA_BOOTSTRAP"] == f"kafka:{client_port['CLIENT']}", name
        assert env["HEALTHLINK_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        [mounted] = service["secrets"]
        assert env["HEALTHLINK_KAFKA_CREDENTIALS"] == f"/run/secrets/{mounted['target']}", name
        assert secret_file(mounted["source"]).endswith(f"/services/{name}.json"), name
        sources.add(mounted["source"])
    assert len(sources) == len(KAFKA_SERVICES)  # no service reads another's password
    for name, secret in compose()["secrets"].items():
        assert str(secret["file"]).startswith("${HEALTHLINK_COMPOSE_SECRETS:-./.data/"), name
    assert ".data/" in (ROOT / ".gitignore").read_text().split()  # never committed
    assert ".data/" in (ROOT / ".dockerignore").read_text().split()  # nor in the image


def test_compose_applies_the_acls_once_before_any_service_starts() -> None:
    services = compose()["services"]
    init = services["kafka-init"]
    assert init["command"] == ["healthlink", "kafka", "apply-acls"]
    assert init["restart"] == "no"
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    [mounted] = init["secrets"]
    assert secret_file(mounted["source"]).endswith("/credentials.json")
    assert init["environment"]["HEALTHLINK_KAFKA_CREDENTIALS"].endswith(mounted["target"])
    for name in (*KAFKA_SERVICES, "portal"):
        waits = services[name]["depends_on"]["kafka-init"]["condition"]
        assert waits == "service_completed_successfully", name


# --------------------------------------------------------------------------- kubernetes


def k8s_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def k8s(kind: str, name: str) -> dict[str, Any]:
    [found] = [d for d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_k8s_kafka_has_no_plaintext_listener_and_the_authorizer_on() -> None:
    pod = k8s("StatefulSet", "kafka")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    props = properties(env)
    script = container["args"][0]
    advertised = re.search(r'KAFKA_ADVERTISED_LISTENERS="([^"]+)"', script)
    assert advertised is not None
    props["advertised.listeners"] = advertised.group(1)
    check_broker(props, "deploy/k8s/kafka.yaml")
    assert set(listener_ports(props["advertised.listeners"])) == {"CLIENT", "HOSPITAL"}
    assert "kafka-start.sh" in script and pod["enableServiceLinks"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert volumes["secrets"]["secret"]["secretName"] == "kafka-broker"
    assert mounts["secrets"] == env["HEALTHLINK_KAFKA_SECRETS_DIR"]
    assert volumes["start"]["configMap"]["name"] == "kafka-start"
    generated = yaml.safe_load((K8S / "kustomization.yaml").read_text())["configMapGenerator"]
    assert {"name": "kafka-start", "namespace": "healthlink", "files": ["kafka-start.sh"]} in (
        generated
    )
    config = k8s("ConfigMap", "healthlink-config")["data"]
    for address in config["HEALTHLINK_KAFKA_BOOTSTRAP"].split(","):
        assert address.endswith(f":{listener_ports(env['KAFKA_LISTENERS'])['CLIENT']}")
    hospital = listener_ports(env["KAFKA_LISTENERS"])["HOSPITAL"]
    for n in range(3):
        lb = k8s("Service", f"hospital-kafka-{n}")["spec"]
        assert lb["ports"][0]["port"] == hospital and lb["type"] == "LoadBalancer"


def test_k8s_gives_every_kafka_service_its_own_credential_and_waits_for_kafka_init() -> None:
    config = k8s("ConfigMap", "healthlink-config")["data"]
    assert config["HEALTHLINK_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    credentials = Path(config["HEALTHLINK_KAFKA_CREDENTIALS"])
    for name in KAFKA_SERVICES:
        pod = k8s("Deployment", name)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-credentials"]["secret"]["secretName"] == f"kafka-client-{name}"
        [ready] = pod["initContainers"]
        assert ready["command"][:4] == ["healthlink", "kafka", "ready", name]
        for container in (ready, *pod["containers"]):
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            assert mounts["kafka-credentials"] == str(credentials.parent), name
        assert credentials.name == "credentials.json"
    assert "volumes" not in k8s("Deployment", "portal")["spec"]["template"]["spec"]


def test_k8s_runs_apply_acls_as_a_job_with_the_admin_secret() -> None:
    job = k8s("Job", "kafka-init")["spec"]["template"]["spec"]
    [container] = job["containers"]
    assert container["command"] == ["healthlink", "kafka", "apply-acls"]
    assert job["volumes"][0]["secret"]["secretName"] == "kafka-admin"
    env = {e["name"]: e["valueFrom"]["configMapKeyRef"]["key"] for e in container["env"]}
    assert "HEALTHLINK_KAFKA_CREDENTIALS" in env and "HEALTHLINK_KAFKA_BOOTSTRAP" in env
    kustomized = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert "kafka-init.yaml" in kustomized
