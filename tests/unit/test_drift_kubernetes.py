"""The Kubernetes layer of `mlenv drift` on objects shaped as the API server returns them.

The state is dev's (made from its real offline plan); the live objects are what ``kubectl get -o
json`` returns for them, ``metadata.managedFields`` included, each validated against the Kubernetes
OpenAPI schema (kubernetes-validate) so the fixtures cannot drift from the API's shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.drift.findings import Fix, Kind, Layer
from stacks.drift.kubectl import Listing
from stacks.drift.kubernetes_sweep import LISTED_KINDS, OwnedKubernetes, sweep_objects
from stacks.drift.run import DriftRequest, run_drift
from stacks.drift.state import StackState, parse_state
from tests.integration.drift_world import DeployedWorld, dev_plan
from tests.oracles.kubernetes import validate

PULUMI_SSA = "pulumi-kubernetes-5fe0c8a1"
T_DEPLOY = "2026-11-21T10:00:00Z"
T_EDIT = "2026-11-28T16:42:07Z"


@pytest.fixture(scope="module")
def export() -> dict[str, Any]:
    """dev's state as `pulumi stack export` writes it, made from the real offline plan."""
    return DeployedWorld(dev_plan()).export()


@pytest.fixture(scope="module")
def state(export: dict[str, Any]) -> StackState:
    return parse_state(export, source="dev export")


def _meta(name: str, namespace: str, managed: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "uid": "6c3f4e0e-0d55-4d8f-9d3e-0b8f0f6f1a11",
        "resourceVersion": "48213",
        "creationTimestamp": T_DEPLOY,
        "managedFields": managed,
        **extra,
    }


def _entry(manager: str, operation: str, fields: dict[str, Any], time: str, **extra: Any) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "apps/v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        **extra,
    }


def edited_deployment() -> dict[str, Any]:
    """The chat Deployment: applied by Pulumi, revision annotated by the deployment controller, status
    written through the status subresource, then `kubectl edit` changed replicas and an image."""
    container = {"name": "server", "image": "vllm/vllm-openai:v0.10.1.1-edited-by-hand"}
    managed = [
        _entry(
            PULUMI_SSA,
            "Apply",
            {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:selector": {}, "f:template": {}}},
            T_DEPLOY,
        ),
        _entry(
            "kube-controller-manager",
            "Update",
            {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}},
            T_DEPLOY,
        ),
        _entry(
            "kube-controller-manager",
            "Update",
            {"f:status": {"f:replicas": {}}},
            T_DEPLOY,
            subresource="status",
        ),
        _entry(
            "kubectl-edit",
            "Update",
            {
                "f:spec": {
                    "f:replicas": {},
                    "f:template": {"f:spec": {"f:containers": {'k:{"name":"server"}': {"f:image": {}}}}},
                }
            },
            T_EDIT,
        ),
    ]
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("chat", "serving", managed, labels={"app": "chat"}),
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "chat"}},
            "template": {"metadata": {"labels": {"app": "chat"}}, "spec": {"containers": [container]}},
        },
        "status": {"replicas": 5},
    }
    validate(obj)
    return obj


def service_untouched() -> dict[str, Any]:
    managed = [_entry(PULUMI_SSA, "Apply", {"f:spec": {"f:ports": {}}}, T_DEPLOY, apiVersion="v1")]
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("chat", "serving", managed),
        "spec": {"ports": [{"port": 8000}], "selector": {"app": "chat"}},
    }
    validate(obj)
    return obj


def implicit_objects() -> list[dict[str, Any]]:
    """What Kubernetes, controllers and the Helm release the state holds make in the namespaces."""
    owner = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "chat-7d9c", "uid": "u-1", "controller": True}
    ]
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("default", "serving", [])},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("kube-root-ca.crt", "serving", []),
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----"},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": _meta("chat-7d9c-x2x4p", "serving", [], ownerReferences=owner),
            "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.10.1.1"}]},
        },
    ]
    for obj in objects:
        validate(obj)
    return objects


def helm_made(release: str) -> dict[str, Any]:
    annotations = {
        "meta.helm.sh/release-name": release,
        "meta.helm.sh/release-namespace": "nvidia-device-plugin",
    }
    obj = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta("nvidia-device-plugin", "nvidia-device-plugin", [], annotations=annotations),
    }
    validate(obj)
    return obj


def hand_made_configmap() -> dict[str, Any]:
    managed = [_entry("kubectl-create", "Update", {"f:data": {"f:debug": {}}}, T_EDIT, apiVersion="v1")]
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {**_meta("debug-flags", "serving", managed), "creationTimestamp": T_EDIT},
        "data": {"debug": "true"},
    }
    validate(obj)
    return obj


def _release(state: StackState) -> str:
    return sorted(OwnedKubernetes.from_state(state).releases)[0]


def test_owned_namespaces_objects_and_release_come_from_the_state(state: StackState) -> None:
    owned = OwnedKubernetes.from_state(state)
    assert owned.namespaces == ("karpenter", "nvidia-device-plugin", "serving")
    assert any(k.kind == "Deployment" and k.name == "chat" and k.group == "apps" for k in owned.objects)
    assert any(k.kind == "Service" and k.group == "" for k in owned.objects)
    assert len(owned.releases) == 2  # Karpenter and the NVIDIA device plugin


def test_hand_edits_and_hand_made_objects_are_reported_and_nothing_else(state: StackState) -> None:
    live = [
        edited_deployment(),
        service_untouched(),
        *implicit_objects(),
        helm_made(_release(state)),
        hand_made_configmap(),
    ]
    findings = sweep_objects(live, OwnedKubernetes.from_state(state), "dev")
    assert {(f.kind, f.resource) for f in findings} == {
        (Kind.EDITED, "serving/Deployment/chat"),
        (Kind.NOT_IN_STATE, "serving/ConfigMap/debug-flags"),
    }
    edited = next(f for f in findings if f.kind is Kind.EDITED)
    assert edited.differs == (
        "spec.replicas (written by kubectl-edit)",
        "spec.template.spec.containers[name=server].image (written by kubectl-edit)",
    )
    assert edited.since == T_EDIT and edited.fix is Fix.REAPPLY
    assert edited.urn == next(r.urn for r in state.managed() if r.type == "kubernetes:apps/v1:Deployment")
    created = next(f for f in findings if f.kind is Kind.NOT_IN_STATE)
    assert created.fix is Fix.DELETE and created.since == T_EDIT
    assert "kubectl delete -n serving configmap debug-flags" in created.how


def test_objects_only_pulumi_and_controllers_wrote_are_not_drift(state: StackState) -> None:
    deployment = edited_deployment()
    deployment["metadata"]["managedFields"] = deployment["metadata"]["managedFields"][:3]
    assert sweep_objects([deployment, service_untouched()], OwnedKubernetes.from_state(state), "dev") == []


class KubectlDouble:
    """Test double for kubectl and a cluster (neither runs here): answers ``list`` per namespace."""

    def __init__(self, listings: dict[str, Listing]) -> None:
        self.listings = listings
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def list(self, namespace: str, kinds: tuple[str, ...]) -> Listing:
        self.asked.append((namespace, kinds))
        return self.listings.get(namespace, Listing())


def test_the_layer_lists_every_owned_namespace_and_reports_forbidden_as_a_finding(
    export: dict[str, Any], tmp_path: Path
) -> None:
    state_file = tmp_path / "dev.json"
    state_file.write_text(json.dumps(export), encoding="utf-8")
    kubectl = KubectlDouble(
        {
            "serving": Listing(items=[edited_deployment(), hand_made_configmap()]),
            "nvidia-device-plugin": Listing(
                forbidden='Error from server (Forbidden): pods is forbidden: User "drift" cannot list'
            ),
        }
    )

    class NoCredentials:
        def get_credentials(self) -> None:
            return None

    report = run_drift(
        DriftRequest("dev", state_file=state_file), session=NoCredentials(), kubectl=kubectl, environ={}
    )
    assert [ns for ns, _ in kubectl.asked] == ["karpenter", "nvidia-device-plugin", "serving"]
    assert all(kinds == LISTED_KINDS for _, kinds in kubectl.asked)
    kinds = {(f.layer, f.kind, f.resource) for f in report.findings}
    assert kinds == {
        (Layer.KUBERNETES, Kind.EDITED, "serving/Deployment/chat"),
        (Layer.KUBERNETES, Kind.NOT_IN_STATE, "serving/ConfigMap/debug-flags"),
        (Layer.KUBERNETES, Kind.NOT_CHECKED, "namespace/nvidia-device-plugin"),
    }
    layers = {r.layer: r for r in report.layers}
    assert not layers[Layer.STATE].ran and not layers[Layer.AWS].ran and layers[Layer.KUBERNETES].ran
    assert "no AWS credentials" in layers[Layer.AWS].detail
    assert report.exit_code == 1


def test_without_a_kubeconfig_the_layer_says_it_was_skipped(export: dict[str, Any], tmp_path: Path) -> None:
    state_file = tmp_path / "dev.json"
    state_file.write_text(json.dumps(export), encoding="utf-8")

    class NoCredentials:
        def get_credentials(self) -> None:
            return None

    report = run_drift(DriftRequest("dev", state_file=state_file), session=NoCredentials(), environ={})
    layer = next(r for r in report.layers if r.layer is Layer.KUBERNETES)
    assert not layer.ran and "--kubeconfig" in layer.detail
    assert report.exit_code == 1  # nothing could be checked: not an all-clear
    assert report.summary_line().startswith("nothing checked")
