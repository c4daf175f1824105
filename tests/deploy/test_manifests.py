"""The Kubernetes manifests in deploy/ are valid against the Kubernetes API schemas (kubernetes-validate, strict:
an unknown or misspelt field fails), and hold together: every selector finds its pods, no secret in a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33.0"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return docs


DOCS = _documents()


def test_there_are_manifests_for_every_part() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in DOCS}
    assert {("Deployment", "parking-api"), ("Deployment", "parking-jobs"), ("Job", "parking-migrate")} <= kinds
    assert {("HorizontalPodAutoscaler", "parking-api"), ("Ingress", "parking"), ("Service", "pgbouncer")} <= kinds


@pytest.mark.parametrize("name,doc", DOCS, ids=[n for n, _ in DOCS])
def test_manifest_is_valid_for_the_kubernetes_api(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_misspelt_field_is_caught() -> None:
    # The checker must be able to fail: a typo in a container field is refused.
    doc = next(d for _, d in DOCS if d["kind"] == "Deployment")
    bad = yaml.safe_load(yaml.safe_dump(doc))
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_selectors_match_their_pods_and_no_secret_is_committed() -> None:
    for name, doc in DOCS:
        assert doc["kind"] != "Secret", f"{name}: secrets are created in the cluster, never committed"
        if doc["kind"] in ("Deployment", "StatefulSet"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    services = [d for _, d in DOCS if d["kind"] == "Service"]
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for _, d in DOCS if d["kind"] == "Deployment"]
    for svc in services:
        assert any(svc["spec"]["selector"].items() <= lab.items() for lab in pod_labels), svc["metadata"]["name"]
