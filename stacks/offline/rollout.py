"""What an image change will do to running GPU nodes, from two offline plans (saved and current).

An elastic pool whose NodePool now references another EC2NodeClass drifts: Karpenter replaces each
of its nodes, launching the replacement before draining the old one, at the pace its disruption
budgets allow (the most restrictive active budget wins; karpenter.sh/docs/concepts/disruption). A
static pool whose node group name changed is replaced by a new node group, created before the old
one is deleted. ``rollouts`` finds both; ``describe`` says it in a sentence a reviewer can check. How many
nodes run is not in a plan: the summary names the pool's ceiling (``max_size``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stacks.offline.plan import Plan, PlannedResource

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LABEL_IMAGE = "mlenv.io/image"


@dataclass(frozen=True)
class Rollout:
    """One GPU pool whose nodes will be replaced."""

    pool: str
    kind: str
    """``elastic`` (Karpenter drift) or ``static`` (node group replacement)."""
    old_image: str
    new_image: str
    old_ami: str
    new_ami: str
    max_nodes: int | None
    budgets: tuple[Mapping[str, Any], ...] = ()


def _spec_pools(plan: Plan) -> dict[str, Mapping[str, Any]]:
    raw = plan.config.get("mlenv:environment")
    environment = json.loads(raw) if isinstance(raw, str) else {}
    return {p["name"]: p for p in environment.get("gpu_pools", []) if isinstance(p, Mapping)}


def _class_amis(plan: Plan) -> dict[str, str]:
    amis = {}
    for node_class in plan.of_type(NODE_CLASS):
        terms = node_class.inputs.get("spec", {}).get("amiSelectorTerms", [])
        amis[node_class.inputs["metadata"]["name"]] = ",".join(str(t.get("id", t)) for t in terms)
    return amis


def _node_pools(plan: Plan) -> dict[str, PlannedResource]:
    return {r.inputs["metadata"]["name"]: r for r in plan.of_type(NODE_POOL)}


def _groups(plan: Plan) -> dict[str, PlannedResource]:
    return {str(r.inputs.get("labels", {}).get("mlenv.io/pool")): r for r in plan.of_type(NODE_GROUP)}


def rollouts(old: Plan, new: Plan) -> list[Rollout]:
    """GPU pools present in both plans whose nodes change image (or launch settings)."""
    found: list[Rollout] = []
    old_amis, new_amis, pools = _class_amis(old), _class_amis(new), _spec_pools(new)
    old_pools = _node_pools(old)
    for name, pool in _node_pools(new).items():
        before = old_pools.get(name)
        if before is None:
            continue
        ref_old = before.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"]
        ref_new = pool.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"]
        if ref_old == ref_new:
            continue
        found.append(
            Rollout(
                pool=name,
                kind="elastic",
                old_image=str(before.inputs["spec"]["template"]["metadata"]["labels"].get(LABEL_IMAGE)),
                new_image=str(pool.inputs["spec"]["template"]["metadata"]["labels"].get(LABEL_IMAGE)),
                old_ami=old_amis.get(ref_old, "?"),
                new_ami=new_amis.get(ref_new, "?"),
                max_nodes=pools.get(name, {}).get("max_size"),
                budgets=tuple(pool.inputs["spec"].get("disruption", {}).get("budgets", [])),
            )
        )
    old_groups = _groups(old)
    for name, group in _groups(new).items():
        before = old_groups.get(name)
        if before is None or before.inputs.get("nodeGroupName") == group.inputs.get("nodeGroupName"):
            continue
        found.append(
            Rollout(
                pool=name,
                kind="static",
                old_image=str(before.inputs.get("labels", {}).get(LABEL_IMAGE)),
                new_image=str(group.inputs.get("labels", {}).get(LABEL_IMAGE)),
                old_ami="",
                new_ami="",
                max_nodes=pools.get(name, {}).get("max_size"),
            )
        )
    return found


def describe(rollout: Rollout) -> str:
    """One paragraph: which nodes roll, to what, and under which budget."""
    change = f"pool {rollout.pool}: {rollout.old_image} -> {rollout.new_image}"
    if rollout.kind == "static":
        return (
            f"{change}: a new node group of {rollout.max_nodes} node(s) is created, then the old one is "
            "deleted (its nodes drained by EKS, respecting PodDisruptionBudgets)"
        )
    if rollout.old_ami and rollout.new_ami and rollout.old_ami != rollout.new_ami:
        change += f" (AMI {rollout.old_ami} -> {rollout.new_ami})"
    held = [b for b in rollout.budgets if b.get("nodes") == "0" and "Drifted" in b.get("reasons", [])]
    held_always = [b for b in held if "schedule" not in b]
    if held_always:
        return f"{change}: HELD, no node rolls while disruption.hold_rollouts is true"
    pace = [str(b["nodes"]) for b in rollout.budgets if "schedule" not in b and "reasons" not in b]
    windows = [
        f"none during '{b['schedule']}' for {b['duration']} (UTC)"
        for b in rollout.budgets
        if "schedule" in b and b.get("nodes") == "0"
    ]
    nodes = f"up to {rollout.max_nodes}" if rollout.max_nodes is not None else "all"
    rule = f"at most {' and '.join(pace)} node(s) at a time" if pace else "Karpenter's default 10% at a time"
    return (
        f"{change}: every running node ({nodes}) drifts and is replaced by Karpenter, new node first, "
        f"{rule}" + (f", {'; '.join(windows)}" if windows else "") + ", within the workloads' PDBs"
    )
