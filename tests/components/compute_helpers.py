"""Helpers shared by the compute component tests: read a plan's own spec and find resources."""

from __future__ import annotations

import json

from stacks.offline.plan import Plan, PlannedResource
from stacks.spec.model import EnvironmentSpec

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GPU_POOL = "mlenv:compute:GpuNodePool"


def spec_of(plan: Plan) -> EnvironmentSpec:
    """The EnvironmentSpec of the stack file the plan was made from (its recorded config)."""
    return EnvironmentSpec.model_validate(json.loads(plan.config["mlenv:environment"]))


def only(resources: list[PlannedResource]) -> PlannedResource:
    """The single resource of a list; AssertionError naming how many there were."""
    assert len(resources) == 1, f"expected one resource, found {[r.name for r in resources]}"
    return resources[0]


def pool_resource(plan: Plan, pool_urn: str, type_: str) -> PlannedResource:
    """The one resource of a type below a GPU pool component."""
    return only([r for r in plan.descendants(pool_urn) if r.type == type_])


def gpu_pools(plan: Plan) -> dict[str, PlannedResource]:
    """GPU pool components by pool name (the component name is ``<environment>-<pool>``)."""
    spec = spec_of(plan)
    return {r.name.removeprefix(f"{spec.name}-"): r for r in plan.of_type(GPU_POOL)}
