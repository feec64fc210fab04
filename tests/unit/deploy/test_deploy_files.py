"""deploy/compose and deploy/k8s: validated against the Compose Specification schema and the
Kubernetes 1.37 schemas (kubernetes-validate, strict: unknown fields fail), and consistent
with the Dockerfile, the dashboards and their provisioning."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from pipeline.ops.localstack import REPO

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.37.0"
IMAGE = "continuity-watch:0.1.0"


def compose_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads((COMPOSE / "schema" / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    return loaded


def manifests() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    ]


def provisioned_uids(datasources: dict[str, Any]) -> set[str]:
    return {d["uid"] for d in datasources["datasources"]}


REFERENCE_UIDS = provisioned_uids(
    yaml.safe_load((REPO / "dashboards/provisioning/datasources/continuity.yaml").read_text())
)


def test_the_compose_file_is_valid_and_the_validator_catches_mistakes() -> None:
    assert compose_errors(compose()) == []
    broken = copy.deepcopy(compose())
    broken["services"]["worker"]["replica"] = 3  # a typo for deploy.replicas
    del broken["services"]["kafka"]["image"]
    broken["services"]["kafka"]["restart"] = ["always"]
    errors = compose_errors(broken)
    assert any("replica" in e for e in errors), errors
    assert any("restart" in e for e in errors), errors


def test_compose_runs_the_whole_pipeline_with_scalable_workers() -> None:
    services = compose()["services"]
    assert {"kafka", "worker", "connectors", "ingest", "prometheus", "influxdb", "grafana"} <= set(
        services
    )
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"]  # KRaft: no ZooKeeper
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker, "a published port would stop --scale worker=N"
    assert worker["deploy"]["replicas"] >= 2
    for name in ("worker", "connectors", "ingest", "simulator"):
        assert services[name]["image"] == IMAGE
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_compose_grafana_mounts_the_generated_dashboards_and_the_same_datasources() -> None:
    mounts = [m.split(":") for m in compose()["services"]["grafana"]["volumes"]]
    sources = {
        (COMPOSE / source).resolve(): target for source, target, *_ in mounts if "/" in source
    }
    assert sources[(REPO / "dashboards" / "json").resolve()] == "/etc/grafana/dashboards/continuity"
    provider = yaml.safe_load(
        (REPO / "dashboards/provisioning/dashboards/continuity.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards/continuity"
    datasources = yaml.safe_load((COMPOSE / "grafana-datasources.yaml").read_text())
    assert provisioned_uids(datasources) == REFERENCE_UIDS


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus)")
def test_the_prometheus_configs_pass_promtool(tmp_path: Path) -> None:
    (k8s_config,) = [
        doc["data"]["prometheus.yml"]
        for name, doc in manifests()
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "prometheus-config"
    ]
    (tmp_path / "k8s.yml").write_text(k8s_config)
    for config in (COMPOSE / "prometheus.yml", tmp_path / "k8s.yml"):
        result = subprocess.run(
            ["promtool", "check", "config", str(config)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_manifest_validates_against_the_kubernetes_schemas() -> None:
    documents = manifests()
    assert {doc["kind"] for _, doc in documents} >= {
        "Namespace",
        "StatefulSet",
        "Deployment",
        "Service",
        "ConfigMap",
        "HorizontalPodAutoscaler",
    }
    for name, doc in documents:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {error.message}")
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted({name for name, _ in documents})


def test_the_kubernetes_validator_catches_mistakes() -> None:
    (worker,) = [
        doc
        for _, doc in manifests()
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "worker"
    ]
    broken = copy.deepcopy(worker)
    broken["spec"]["replica"] = 3  # a typo for replicas
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(worker)
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_k8s_uses_the_same_image_and_datasources() -> None:
    images = {
        container["image"]
        for _, doc in manifests()
        if doc["kind"] in ("Deployment", "StatefulSet")
        for container in doc["spec"]["template"]["spec"].get("initContainers", [])
        + doc["spec"]["template"]["spec"]["containers"]
        if container["image"].startswith("continuity-watch")
    }
    assert images == {IMAGE}
    (datasources,) = [
        yaml.safe_load(doc["data"]["continuity.yaml"])
        for _, doc in manifests()
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "grafana-datasources"
    ]
    assert provisioned_uids(datasources) == REFERENCE_UIDS


def test_the_dockerfile_copies_what_exists_and_runs_the_cli() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    copies = [line.split()[1] for line in lines if line.startswith("COPY ")]
    assert copies
    for source in copies:
        assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
    assert 'ENTRYPOINT ["continuity"]' in lines
