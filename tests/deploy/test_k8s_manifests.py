"""The Kubernetes manifests in deploy/k8s validate against the Kubernetes schemas and fit together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = "1.37.0"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(K8S.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                docs.append((f"{path.name}#{i}", doc))
    return docs


DOCS = _documents()


def test_there_are_manifests() -> None:
    kinds = {d["kind"] for _, d in DOCS}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "StatefulSet", "Job"} <= kinds


@pytest.mark.parametrize(("where", "doc"), DOCS, ids=[w for w, _ in DOCS])
def test_manifest_validates_strictly(where: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)  # raises ValidationError with the path


def test_a_misspelt_field_is_caught() -> None:
    """The checker is not a rubber stamp: an unknown field in a Deployment fails strict validation."""
    [(_, api)] = [(w, d) for w, d in DOCS if d["kind"] == "Deployment" and d["metadata"]["name"] == "parking-api"]
    broken = yaml.safe_load(yaml.safe_dump(api))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def _env(doc: dict[str, Any]) -> dict[str, str]:
    [container] = doc["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "<secret>") for e in container.get("env", [])}


def test_no_secret_is_committed() -> None:
    # Secrets are created in the cluster; a committed one would be a working default.
    assert all(d["kind"] != "Secret" for _, d in DOCS)


def test_selectors_ports_and_roles_fit_together() -> None:
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, d in DOCS:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    workloads = {**by_kind["Deployment"], **by_kind["StatefulSet"]}
    for name, svc in by_kind["Service"].items():
        target = workloads[name]
        labels = target["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= labels.items(), name
        ports = {p["name"] for c in target["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert {str(p.get("targetPort", p["name"])) for p in svc["spec"]["ports"]} <= ports, name
    for name, wl in workloads.items():
        assert wl["spec"]["selector"]["matchLabels"].items() <= wl["spec"]["template"]["metadata"]["labels"].items(), (
            name
        )
    # Stateless API replicas run no background work; the jobs deployment does, as one leader at a time.
    assert _env(by_kind["Deployment"]["parking-api"])["PARKING_RUN_BACKGROUND"] == "false"
    jobs = _env(by_kind["Deployment"]["parking-jobs"])
    assert jobs["PARKING_RUN_BACKGROUND"] == "true" and jobs["PARKING_JOBS_SINGLE_LEADER"] == "true"
    hpa = by_kind["HorizontalPodAutoscaler"]["parking-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "parking-api"
    assert hpa["spec"]["minReplicas"] > by_kind["PodDisruptionBudget"]["parking-api"]["spec"]["minAvailable"]
