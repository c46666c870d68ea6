"""Karpenter objects of the real dev and prod plans, checked against Karpenter's own CRD schemas and
reference CloudFormation, and the controller policy against botocore's service models."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from components.gpu_capacity import NODE_POOL_API, node_pool_manifest
from components.karpenter_iam import UNSCOPED_ACTIONS, controller_policy
from images.catalog import load_catalog
from images.instance_types import gpu_info
from stacks.offline.plan import Plan, PlannedResource
from tests.components.compute_helpers import spec_of
from tests.oracles.botocore_models import service_model
from tests.oracles.karpenter_reference import cel_problems, crd_schema, reference_policy_actions

TYPES = {
    "NodePool": "kubernetes:karpenter.sh/v1:NodePool",
    "EC2NodeClass": "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
}
PERMISSION_ONLY = frozenset({"iam:PassRole"})
"""Actions that are IAM permissions without an API operation of their own (Service Authorization
Reference: PassRole is checked when a role is handed to a service)."""


def manifest(resource: PlannedResource) -> dict[str, Any]:
    """The object as the API server would receive it."""
    inputs = resource.inputs
    return {"apiVersion": inputs["apiVersion"], "kind": inputs["kind"], **inputs}


def objects(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [manifest(r) for r in plan.of_type(TYPES[kind])]


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_karpenter_objects_validate_against_the_crd_schemas(plan: Plan, kind: str) -> None:
    found = objects(plan, kind)
    assert found, f"the plan has no {kind}"
    validator = jsonschema.Draft7Validator(crd_schema(kind))
    for obj in found:
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
        assert errors == [], obj["metadata"]["name"]
        assert cel_problems(kind, obj) == [], obj["metadata"]["name"]


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("EC2NodeClass", ("spec", "metadataOptions", "httpPutResponseHopLimit"), 65),
        ("EC2NodeClass", ("spec", "amiFamily"), "Ubuntu2"),
        ("NodePool", ("spec", "disruption", "budgets"), [{"nodes": "ten"}]),
        ("NodePool", ("spec", "template", "spec", "expireAfter"), "30d"),
    ],
)
def test_the_schema_oracle_rejects_broken_objects(
    dev_plan: Plan, kind: str, path: tuple[str, ...], value: Any
) -> None:
    """The oracle bites: one broken field of a real object fails the CRD schema."""
    obj = json.loads(json.dumps(objects(dev_plan, kind)[0]))
    node = obj
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    assert list(jsonschema.Draft7Validator(crd_schema(kind)).iter_errors(obj))


def test_each_elastic_pool_is_a_node_pool_on_its_images_class(plan: Plan) -> None:
    spec, catalog = spec_of(plan), load_catalog()
    pools = {o["metadata"]["name"]: o for o in objects(plan, "NodePool")}
    classes = {o["metadata"]["name"]: o for o in objects(plan, "EC2NodeClass")}
    elastic = [p for p in spec.gpu_pools if p.capacity == "elastic"]
    assert sorted(pools) == sorted(p.name for p in elastic)
    for pool in elastic:
        node_pool = pools[pool.name]["spec"]
        node_class = classes[node_pool["template"]["spec"]["nodeClassRef"]["name"]]
        assert node_class["spec"]["amiSelectorTerms"] == [{"id": catalog.ami(pool.image, spec.region)}]
        gpus_per_node = max(gpu_info(t).gpu_count for t in pool.instance_types)
        assert node_pool["limits"]["nvidia.com/gpu"] == str(pool.max_size * gpus_per_node)
        assert node_pool["template"]["metadata"]["labels"]["mlenv.io/pool"] == pool.name


def test_static_pools_are_node_groups_only_for_efa(plan: Plan) -> None:
    """No GPU node group unless it is a static EFA pool, and none of them leaves desiredSize alone."""
    spec = spec_of(plan)
    static = {p.name for p in spec.gpu_pools if p.capacity == "static"}
    assert all(p.efa for p in spec.gpu_pools if p.name in static)
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert "scalingConfig.desiredSize" not in (group.ignore_changes or []), group.name
    gpu_groups = [
        g for g in plan.of_type("aws:eks/nodeGroup:NodeGroup") if g.inputs.get("amiType") == "CUSTOM"
    ]
    assert len(gpu_groups) == len(static)


def test_the_system_pool_pins_its_ami_release(plan: Plan) -> None:
    system = [g for g in plan.of_type("aws:eks/nodeGroup:NodeGroup") if g.inputs.get("amiType") != "CUSTOM"]
    assert system and all(g.inputs.get("releaseVersion") for g in system)


def test_the_pure_node_pool_builder_is_crd_valid() -> None:
    """The builder experiments reuse produces a valid NodePool from plain values."""
    obj = node_pool_manifest(
        "exp-churn",
        node_class="al2023-nvidia-580-k8s1.33-20251020-0123abcd",
        instance_types=["g6e.12xlarge"],
        capacity_types=["on-demand"],
        architecture="amd64",
        labels={"mlenv.io/pool": "exp-churn"},
        limits={"nvidia.com/gpu": "4"},
        budgets=[{"nodes": "0", "reasons": ["Drifted"]}],
        taints=[{"key": "mlenv.io/experiment", "value": "churn", "effect": "NoSchedule"}],
        expire_after="8h",
    )
    assert obj["apiVersion"] == NODE_POOL_API
    assert list(jsonschema.Draft7Validator(crd_schema("NodePool")).iter_errors(obj)) == []
    assert cel_problems("NodePool", obj) == []


def _policy() -> dict[str, Any]:
    return controller_policy(
        cluster_name="mlenv-dev",
        region="us-east-1",
        account="123456789012",
        partition="aws",
        node_role_arn="arn:aws:iam::123456789012:role/node",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:mlenv-dev-karpenter",
        ami_ids=["ami-0123456789abcdef0"],
    )


def _actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else list(value)


def test_every_controller_action_exists_in_botocore() -> None:
    for statement in _policy()["Statement"]:
        for action in _actions(statement):
            if action in PERMISSION_ONLY:
                continue
            service, operation = action.split(":")
            assert operation in service_model(service).operation_names, action


def test_the_controller_policy_is_no_broader_than_the_reference() -> None:
    actions = {a for s in _policy()["Statement"] for a in _actions(s)}
    assert actions <= reference_policy_actions()
    # Narrower: no SSM (AMIs are pinned by id), images only the catalog AMIs, '*' only where IAM has
    # no resource type.
    assert "ssm:GetParameter" in reference_policy_actions() and "ssm:GetParameter" not in actions
    for statement in _policy()["Statement"]:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert "arn:aws:ec2:us-east-1::image/*" not in resources
        if "*" in resources:
            assert set(_actions(statement)) <= set(UNSCOPED_ACTIONS), statement["Sid"]


def test_warm_floors_hold_min_size_nodes_with_preemptible_placeholders(plan: Plan) -> None:
    """Karpenter has no minimum: min_size > 0 is that many placeholder pods, one node's GPUs each, at a
    priority every workload preempts; min_size 0 (dev) has none, so the pool scales from zero."""
    spec = spec_of(plan)
    floors = {p.name: p for p in spec.gpu_pools if p.capacity == "elastic" and p.min_size > 0}
    placeholders = {
        r.inputs["metadata"]["name"]: r.plain_inputs()
        for r in plan.of_type("kubernetes:apps/v1:Deployment")
        if r.inputs["metadata"].get("namespace") == "gpu-warm-capacity"
    }
    assert sorted(placeholders) == sorted(f"warm-{name}" for name in floors)
    priorities = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in plan.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")
    }
    for name, pool in floors.items():
        deployment = placeholders[f"warm-{name}"]
        pod = deployment["spec"]["template"]["spec"]
        assert deployment["spec"]["replicas"] == pool.min_size
        assert pod["nodeSelector"] == {"mlenv.io/pool": name}
        (container,) = pod["containers"]
        node_gpus = min(gpu_info(t).gpu_count for t in pool.instance_types)
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(node_gpus)
        priority = priorities[pod["priorityClassName"]]
        assert priority["value"] < 0 and priority["preemptionPolicy"] == "Never"
