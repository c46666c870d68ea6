"""What makes an experiment a slice of the platform cluster: pure builders of its Kubernetes objects.

An experiment gets its own Karpenter NodePool whose nodes carry a taint and a label of their own
(``mlenv.io/experiment=<name>``), never the platform pools' ``mlenv.io/pool`` label or their generic
``nvidia.com/gpu`` taint, so no experiment name can attract platform workloads and no platform pod
that tolerates GPUs lands on an experiment's nodes. A ValidatingAdmissionPolicy (built into
Kubernetes >= 1.30, no controller to run) binds the namespace to its pool in both directions, and
a default-deny NetworkPolicy, a ResourceQuota and a LimitRange bound what the namespace can do.

Kept as plain dicts and pure functions so the tests validate exactly what the component registers,
with kubernetes-validate, the Karpenter CRD schema and a CEL interpreter.

Sources: Karpenter v1 NodePool API (``/work/shared/oracles/karpenter-v1.14.1/karpenter.sh_nodepools.yaml``:
``expireAfter`` pattern ``^(([0-9]+(s|m|h))+|Never)$``, ``limits`` per resource, taints);
Kubernetes "Validating Admission Policy" (admissionregistration.k8s.io/v1, GA in 1.30; CEL
variables ``object`` and ``request``); Kubernetes "Network Policies" (a policy selecting all pods
with no rules denies that direction); "Resource Quotas" (extended resources only as ``requests.``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from components.device_plugin import NAMESPACE as DEVICE_PLUGIN_NAMESPACE
from components.errors import ComponentError
from components.scheduling import (
    EXPERIMENT_TAINT_EFFECT,
    GPU_RESOURCE,
    LABEL_CUDA,
    LABEL_DRIVER,
    LABEL_EXPERIMENT,
    LABEL_GPU_PRODUCT,
    LABEL_IMAGE,
    LABEL_PURPOSE,
)
from images.catalog import ImageEntry
from images.instance_types import GpuInstanceType

TAINT_EFFECT: Final = EXPERIMENT_TAINT_EFFECT
KARPENTER_NODE_POOL_API: Final = "karpenter.sh/v1"
NODE_CLASS_GROUP: Final = "karpenter.k8s.aws"
NODE_CLASS_KIND: Final = "EC2NodeClass"
SYSTEM_NAMESPACES: Final = ("kube-system", DEVICE_PLUGIN_NAMESPACE)
"""Namespaces whose DaemonSets (CNI, kube-proxy, the NVIDIA device plugin) run on every node,
experiment nodes included, with key-less ``Exists`` tolerations; the admission policy skips them."""
INSTANCE_TYPE_LABEL: Final = "node.kubernetes.io/instance-type"
CAPACITY_TYPE_LABEL: Final = "karpenter.sh/capacity-type"
DNS_PORT: Final = 53
HTTPS_PORT: Final = 443
PODS_PER_NODE: Final = 32
"""Pods an experiment may run per node it can hold: a mlenv choice (training workers, a notebook,
data loaders), well under EKS's per-node maximum, to stop a runaway Job loop filling the cluster."""
DEFAULT_CONTAINER_REQUEST: Final = {"cpu": "250m", "memory": "512Mi"}
"""LimitRange default for a container that requests nothing (the quota needs every pod to request)."""


def namespace_name(experiment: str) -> str:
    """``exp-<name>``: the experiment's namespace, named like its stack."""
    return f"exp-{experiment}"


def node_pool_name(experiment: str) -> str:
    """``exp-<name>``: the experiment's NodePool (cluster-scoped, unique per experiment)."""
    return f"exp-{experiment}"


def taint(experiment: str) -> dict[str, str]:
    """The experiment's own taint: only pods that tolerate ``mlenv.io/experiment=<name>`` land there."""
    return {"key": LABEL_EXPERIMENT, "value": experiment, "effect": TAINT_EFFECT}


def toleration(experiment: str) -> dict[str, str]:
    """What the experiment's pods add to tolerate its nodes (printed in the stack outputs)."""
    return {"key": LABEL_EXPERIMENT, "operator": "Equal", "value": experiment, "effect": TAINT_EFFECT}


def node_labels(experiment: str, image: ImageEntry, gpu: GpuInstanceType) -> dict[str, str]:
    """Labels of the experiment's nodes: its own key, and the GPU facts the device plugin and
    workloads select on. No ``mlenv.io/pool``: that label belongs to the platform's pools."""
    return {
        LABEL_EXPERIMENT: experiment,
        LABEL_PURPOSE: "experiment",
        LABEL_GPU_PRODUCT: gpu.gpu_model.replace(" ", "-"),
        LABEL_CUDA: image.cuda_max,
        LABEL_DRIVER: image.driver_version,
        LABEL_IMAGE: image.id,
    }


def expire_after(expires_at: datetime, now: datetime) -> str:
    """Karpenter ``expireAfter`` (counted from each node's launch): the time left until the
    experiment's expiry at deploy time, in whole minutes rounded down (at least one minute).

    A node launched later than the deploy could outlive the expiry by that delay; GC deleting the
    NodePool at expiry removes its nodes regardless. ``expireAfter`` is a behavioural field that
    Karpenter does not count as drift, so ``mlenv exp extend`` does not replace running nodes
    (karpenter.sh docs, Disruption: "Behavioral Fields ... are not considered for Drift").
    """
    minutes = max(1, math.floor((expires_at - now) / timedelta(minutes=1)))
    return f"{minutes}m"


def node_class_name(node_classes: Mapping[str, str] | None, image: str) -> str:
    """The platform's EC2NodeClass for ``image``: the one its ``gpu_node_classes`` output names.

    Interim, until every platform publishes ``gpu_node_classes`` (the Karpenter GPU capacity work):
    a platform without the output is assumed to name classes ``gpu-<image id>``. A platform that
    publishes the output but has no class for the image is an error: the image must be one the
    platform runs.
    """
    if node_classes is None:
        return f"gpu-{image}"
    if image not in node_classes:
        offered = ", ".join(sorted(node_classes)) or "none"
        raise ComponentError(
            f"the platform stack has no EC2NodeClass for image {image!r} (it offers: {offered}); "
            "choose one of those images, or add a GPU pool on this image to the platform"
        )
    return node_classes[image]


def node_pool(
    experiment: str,
    *,
    node_class: str,
    instance_type: str,
    gpus: int,
    labels: dict[str, str],
    expire_after_value: str,
    metadata_labels: dict[str, str],
) -> dict[str, Any]:
    """The experiment's Karpenter NodePool (karpenter.sh/v1) on the platform's EC2NodeClass.

    One instance type, on-demand (an experiment holds what it reserved); ``limits`` caps the pool
    at the GPUs granted in the ledger, so Karpenter never launches a node beyond them; nodes
    empty for 5 minutes go away (``WhenEmpty``), so an idle experiment holds no GPU.
    """
    return {
        "apiVersion": KARPENTER_NODE_POOL_API,
        "kind": "NodePool",
        "metadata": {"name": node_pool_name(experiment), "labels": metadata_labels},
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeClassRef": {"group": NODE_CLASS_GROUP, "kind": NODE_CLASS_KIND, "name": node_class},
                    "taints": [taint(experiment)],
                    "requirements": [
                        {
                            "key": "node.kubernetes.io/instance-type",
                            "operator": "In",
                            "values": [instance_type],
                        },
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                    ],
                    "expireAfter": expire_after_value,
                },
            },
            "limits": {GPU_RESOURCE: str(gpus)},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m"},
        },
    }


def quota_hard(gpus: int, nodes: int, gpu: GpuInstanceType) -> dict[str, str]:
    """ResourceQuota ``hard``: the GPUs granted, and CPU, memory and pods of the nodes that hold them."""
    return {
        f"requests.{GPU_RESOURCE}": str(gpus),
        "requests.cpu": str(nodes * gpu.vcpus),
        "requests.memory": f"{nodes * gpu.memory_mib}Mi",
        "pods": str(nodes * PODS_PER_NODE),
    }


def limit_range_limits(gpu: GpuInstanceType) -> list[dict[str, Any]]:
    """Container defaults (so the quota admits pods that request nothing) and a one-node maximum."""
    return [
        {
            "type": "Container",
            "defaultRequest": dict(DEFAULT_CONTAINER_REQUEST),
            "default": dict(DEFAULT_CONTAINER_REQUEST),
            "max": {"cpu": str(gpu.vcpus), "memory": f"{gpu.memory_mib}Mi"},
        }
    ]


def default_deny_spec() -> dict[str, Any]:
    """Every pod of the namespace, both directions, no rules: nothing in or out unless allowed."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def allow_spec(vpc_cidr: str) -> dict[str, Any]:
    """The paths an experiment needs, each with named peers: its own pods with each other
    (multi-worker training), DNS to the cluster's DNS pods, and HTTPS to the VPC, where the S3, STS
    and ECR interface endpoints answer (components/network.py), so datasets, checkpoints, IRSA
    credentials and images are reachable and nothing else is."""
    same_namespace: list[dict[str, Any]] = [{"podSelector": {}}]
    return {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": same_namespace}],
        "egress": [
            {"to": same_namespace},
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
            },
            {"to": [{"ipBlock": {"cidr": vpc_cidr}}], "ports": [{"protocol": "TCP", "port": HTTPS_PORT}]},
        ],
    }


def admission_validations(experiment: str) -> list[dict[str, str]]:
    """The CEL rules of the experiment's ValidatingAdmissionPolicy, evaluated on every pod."""
    ns = namespace_name(experiment)
    selects_own_pool = (
        f"request.namespace != '{ns}' || (has(object.spec.nodeSelector) && "
        f"'{LABEL_EXPERIMENT}' in object.spec.nodeSelector && "
        f"object.spec.nodeSelector['{LABEL_EXPERIMENT}'] == '{experiment}')"
    )
    # A key-less Exists toleration tolerates every taint, this experiment's included.
    tolerates_this_experiment = (
        f"(has(t.key) && t.key == '{LABEL_EXPERIMENT}' && ((has(t.operator) && t.operator == 'Exists') "
        f"|| (has(t.value) && t.value == '{experiment}'))) || ((!has(t.key) || t.key == '') && "
        "has(t.operator) && t.operator == 'Exists')"
    )
    leaves_it_alone = (
        f"request.namespace == '{ns}' || !has(object.spec.tolerations) || "
        f"!object.spec.tolerations.exists(t, {tolerates_this_experiment})"
    )
    return [
        {
            "expression": selects_own_pool,
            "message": f"pods in {ns} must set nodeSelector {LABEL_EXPERIMENT}: {experiment} "
            "(they run only on the experiment's own nodes)",
            "reason": "Forbidden",
        },
        {
            "expression": leaves_it_alone,
            "message": f"only pods in {ns} may tolerate the taint {LABEL_EXPERIMENT}={experiment} "
            "(experiment nodes are not shared)",
            "reason": "Forbidden",
        },
    ]


def admission_policy_spec(experiment: str) -> dict[str, Any]:
    """ValidatingAdmissionPolicy spec: every pod create/update, fail closed."""
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["pods"],
                }
            ]
        },
        "validations": admission_validations(experiment),
    }


def admission_binding_spec(experiment: str, policy: str) -> dict[str, Any]:
    """The binding that enforces the policy (Deny) in every namespace except the system ones."""
    return {
        "policyName": policy,
        "validationActions": ["Deny"],
        "matchResources": {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": list(SYSTEM_NAMESPACES),
                    }
                ]
            }
        },
    }
