"""The Kubernetes manifests validate against the Kubernetes JSON schemas (offline).

``kubernetes-validate`` ships the schemas of each Kubernetes release, so this runs
without network (kubeconform would download them). Strict mode: unknown fields fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.settings import SERVICE_PORTS

pytestmark = pytest.mark.unit
K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_every_service_runs_replicas_that_are_ready_only_when_their_dependencies_answer() -> None:
    deployments = by_kind("Deployment")
    assert set(deployments) == set(SERVICE_PORTS)
    for name, d in deployments.items():
        assert d["spec"]["replicas"] >= 2, name
        [container] = d["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["healthlink", "serve", name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["ports"][0]["containerPort"] == SERVICE_PORTS[name]
        refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
        assert refs == ["healthlink-config", "healthlink-secrets"]


def test_kafka_and_mongodb_are_replicated_three_ways() -> None:
    sets = by_kind("StatefulSet")
    assert sets["kafka"]["spec"]["replicas"] == 3 and sets["mongo"]["spec"]["replicas"] == 3
    env = {
        e["name"]: e.get("value")
        for e in sets["kafka"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == 3
    assert "--replSet" in sets["mongo"]["spec"]["template"]["spec"]["containers"][0]["args"]
    config = by_kind("ConfigMap")["healthlink-config"]["data"]
    assert len(config["HEALTHLINK_KAFKA_BOOTSTRAP"].split(",")) == 3
    assert "replicaSet=rs0" in config["HEALTHLINK_MONGO_URL"]
    assert int(config["HEALTHLINK_TOPIC_REPLICATION"]) == 3
    assert int(config["HEALTHLINK_TOPIC_PARTITIONS"]) >= 6


def test_no_secret_is_checked_in() -> None:
    assert by_kind("Secret") == {}
