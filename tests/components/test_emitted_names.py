"""Spec-time name checks see every limited name the real program registers.

``stacks.spec.name_rules.emitted_names`` derives names from the spec; here they are compared with
the physical names in the real offline plans, so a resource added without a limit check (or a
name template that drifts from the component) fails this test.
"""

from __future__ import annotations

import re

import pytest

from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan, PlannedResource
from stacks.spec.load import parse_environment
from stacks.spec.name_rules import AUTONAMED, MLENV_TAGS, emitted_names, label_problems
from tests.unit.test_spec import stack_environment

KIND_OF_TYPE = {
    "aws:s3/bucket:Bucket": "s3-bucket",
    "aws:iam/role:Role": "iam-role",
    "aws:iam/policy:Policy": "iam-policy",
    "aws:ecr/repository:Repository": "ecr-repository",
    "aws:eks/cluster:Cluster": "eks-cluster",
    "aws:eks/nodeGroup:NodeGroup": "eks-nodegroup",
    "aws:dynamodb/table:Table": "dynamodb-table",
    "aws:glue/catalogDatabase:CatalogDatabase": "glue-database",
    "aws:athena/workgroup:Workgroup": "athena-workgroup",
    "aws:kms/alias:Alias": "kms-alias",
    "aws:cloudwatch/logGroup:LogGroup": "log-group",
    "aws:ec2/launchTemplate:LaunchTemplate": "launch-template",
    "aws:elasticache/replicationGroup:ReplicationGroup": "elasticache-replication-group",
    "kubernetes:core/v1:Service": "k8s-service",
}
EXPLICIT = {"aws:s3/bucket:Bucket": "bucket", "aws:eks/nodeGroup:NodeGroup": "nodeGroupName"}


def _planned_name(resource: PlannedResource) -> str:
    if resource.type.startswith("kubernetes:"):
        return str(resource.inputs["metadata"]["name"])
    explicit = resource.inputs.get(EXPLICIT.get(resource.type, "name"))
    return str(explicit) if explicit else f"{resource.name}-{AUTONAMED}"


@pytest.mark.parametrize("stack", ["dev", "prod", "experiment"])
def test_every_limited_name_in_the_plan_is_checked_at_spec_time(stack: str) -> None:
    plan: Plan = plan_stack(stack)
    spec = parse_environment(stack_environment(stack), source=stack)
    checked = {(e.kind, e.name) for e in emitted_names(spec)}
    missing = []
    for resource in plan.resources:
        kind = KIND_OF_TYPE.get(resource.type)
        if kind is None:
            continue
        name = _planned_name(resource)
        if resource.type == "aws:eks/nodeGroup:NodeGroup" and re.search(r"-[0-9a-f]{8}$", name):
            # the spec check measures the stem and reserves the 8-hex image hash
            stems = {n for k, n in checked if k == kind}
            if any(name == f"{stem}-{name[-8:]}" or name.startswith(f"{stem}-") for stem in stems):
                continue
        if (kind, name) not in checked:
            missing.append(f"{resource.type} {name}")
    assert not missing, missing


@pytest.mark.parametrize("stack", ["dev", "prod", "experiment"])
def test_mlenv_adds_no_more_tags_than_the_allowance(stack: str) -> None:
    plan = plan_stack(stack)
    spec = parse_environment(stack_environment(stack), source=stack)
    added = max(len(r.inputs.get("tags") or {}) - len(spec.tags) for r in plan.resources)
    assert 0 < added <= MLENV_TAGS[spec.kind]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_mlenv_node_labels_are_in_a_domain_pools_cannot_set(stack: str) -> None:
    """A pool's own labels cannot shadow the labels workloads select on (pool, purpose, GPU, image):
    mlenv's node labels live in a domain the spec refuses in ``gpu_pools[].labels``."""
    plan = plan_stack(stack)
    keys = {key for r in plan.of_type("aws:eks/nodeGroup:NodeGroup") for key in r.inputs.get("labels") or {}}
    assert keys
    for key in keys:
        assert label_problems(key, "v"), f"{key} could be set (and shadowed) by a pool's labels"
