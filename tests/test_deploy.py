"""The deployment files, checked offline: Kubernetes manifests against Kubernetes' schemas, the
GitHub Actions workflow against GitHub's, the production compose files with Compose."""

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.processes import ROOT

BIN = Path(sys.executable).parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.31.0"
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))


def documents(kustomization_dir: Path) -> list[dict]:
    """Every resource a kustomization brings in, its bases included (as kustomize would)."""
    kustomization = yaml.safe_load((kustomization_dir / "kustomization.yaml").read_text())
    out: list[dict] = []
    for entry in kustomization["resources"]:
        path = (kustomization_dir / entry).resolve()
        assert path.exists(), f"{kustomization_dir.name}: {entry} does not exist"
        if path.is_dir():
            out += documents(path)
        else:
            out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def test_there_are_overlays():
    assert {p.name for p in OVERLAYS} == {"gpu-pool", "two-ollama-hosts"}


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_manifest_is_valid_kubernetes(overlay):
    docs = documents(overlay)
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "no resource twice"
    for doc in docs:
        if doc["kind"] in KEDA_KINDS:
            assert doc["apiVersion"] == "keda.sh/v1alpha1"
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_probes_grace_periods_and_autoscaling_fit_the_server(overlay):
    docs = {(d["kind"], d["metadata"]["name"]): d for d in documents(overlay)}
    config = docs[("ConfigMap", "llm-api-config")]["data"]
    api = docs[("Deployment", "llm-api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz?scope=api"
    workers = [
        d
        for (kind, _), d in docs.items()
        if kind == "Deployment" and "worker" in d["metadata"]["name"]
    ]
    assert workers
    for worker in workers:
        pod = worker["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > int(config["WORKER_SHUTDOWN_GRACE_SECONDS"])
        assert pod["containers"][0]["command"] == ["python", "-m", "worker"]
        scaler = docs[("ScaledObject", worker["metadata"]["name"])]
        trigger = scaler["spec"]["triggers"][0]
        assert trigger["type"] == "metrics-api" and trigger["metadata"]["valueLocation"] == "depth"
        assert trigger["metadata"]["url"].endswith("/api/v1/queue")
        auth = docs[("TriggerAuthentication", trigger["authenticationRef"]["name"])]
        assert auth["spec"]["secretTargetRef"][0]["key"] == "MASTER_API_KEY"
    assert docs[("Job", "llm-api-migrate")]["spec"]["template"]["spec"]["containers"][0][
        "command"
    ] == [
        "alembic",
        "upgrade",
        "head",
    ]


def test_every_setting_of_the_config_map_is_a_setting():
    from shared.config import Settings

    config = yaml.safe_load((K8S / "base" / "config.yaml").read_text())["data"]
    secrets = yaml.safe_load((K8S / "base" / "secrets.yaml").read_text())["stringData"]
    assert set(config) | set(secrets) <= set(Settings.model_fields)


def test_the_workflow_is_valid_for_github():
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(ROOT / ".github/workflows/ci.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert set(workflow["jobs"]) == {"lint", "test", "image"}
    assert "make test" in str(workflow["jobs"]["test"]) and "ghcr.io" in str(
        workflow["jobs"]["image"]
    )


@pytest.mark.parametrize(
    "files", [["docker-compose.prod.yml"], ["docker-compose.prod.yml", "docker-compose.gpu.yml"]]
)
def test_production_compose_is_valid_and_publishes_only_the_api(files, tmp_path):
    shutil.copy(ROOT / ".env.prod.example", tmp_path / ".env")
    args = [str(BIN / "docker-compose"), "--project-directory", str(tmp_path)]
    for name in files:
        args += ["-f", str(ROOT / name)]
    result = subprocess.run([*args, "config", "--format", "json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"api"}
    assert all("container_name" not in s for s in services.values()), "scalable"
    assert not services["worker"].get("volumes") and not services["api"].get(
        "volumes"
    ), "no source mounts"
    assert all(s.get("restart") == "unless-stopped" for n, s in services.items() if n != "migrate")
