"""GPU pools: an elastic pool is a Karpenter NodePool, a static one an EKS managed node group;
how Karpenter may disrupt an elastic pool's nodes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    StringConstraints,
)

from stacks.spec.fields import DnsLabel, InstanceType, SpecModel

KARPENTER_DURATION = r"^([0-9]+(s|m|h))+$"
"""A Go duration as Karpenter's CRDs accept it (``720h``, ``90m``)."""
BUDGET_NODES = r"^((100|[0-9]{1,2})%|[0-9]+)$"
"""A NodePool budget's ``nodes``: a count or a percentage (karpenter.sh_nodepools.yaml)."""
BUDGET_WINDOW_DURATION = r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$"
"""A budget window's ``duration`` (hours and/or minutes), as the NodePool CRD's pattern says."""
CRON = r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((\S+)\s(\S+)\s(\S+)\s(\S+)\s(\S+))$"
"""A budget window's ``schedule``: five cron fields (UTC) or a macro, as the NodePool CRD takes it."""


class HoldWindowSpec(SpecModel):
    """A recurring window in which Karpenter disrupts none of the pool's nodes (UTC cron + duration)."""

    schedule: Annotated[str, StringConstraints(pattern=CRON)]
    """When the window opens, in cron syntax (UTC), e.g. "0 8 * * mon-fri"."""
    duration: Annotated[str, StringConstraints(pattern=BUDGET_WINDOW_DURATION)]
    """How long it stays open, e.g. "10h" or "1h30m"."""


class DisruptionSpec(SpecModel):
    """How Karpenter may replace an elastic pool's nodes (drift after an image change, consolidation).

    Expiry (``expire_after``) is not budgeted by Karpenter v1: an expired node is deleted whatever
    the budgets say (karpenter.sh/docs/concepts/disruption), so serving pools rely on their PDBs then.
    """

    max_disrupted: Annotated[str, StringConstraints(pattern=BUDGET_NODES)] = "1"
    """Nodes (count or percentage) that may be disrupted at once. Default "1"."""
    hold_windows: list[HoldWindowSpec] = Field(default_factory=list)
    """Windows in which no node is disrupted (drift, consolidation). Default none."""
    hold_rollouts: bool = False
    """Hold image rollouts: no node is replaced for drift until this is false again. Default false."""
    consolidation: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmptyOrUnderutilized"
    """Which nodes consolidation may remove. Default WhenEmptyOrUnderutilized (repack, then remove)."""
    consolidate_after: Annotated[str, StringConstraints(pattern=KARPENTER_DURATION)] = "10m"
    """How long a node must be empty or underused before consolidation acts. Default 10m."""
    expire_after: Annotated[str, StringConstraints(pattern=r"^(([0-9]+(s|m|h))+|Never)$")] = "720h"
    """Nodes older than this are replaced (Karpenter's default 720h, 30 days), or "Never"."""


class GpuPoolSpec(SpecModel):
    """One GPU pool on one pinned image from images/catalog.yaml.

    ``capacity: elastic`` (default): a Karpenter NodePool on an EC2NodeClass named from the image;
    nodes exist only while pods need them. ``capacity: static``: an EKS managed node group of exactly
    ``min_size`` (= ``max_size``) nodes, for multi-node EFA training in a cluster placement group.
    """

    name: DnsLabel
    """Pool name: the NodePool's (or node group's) name and the ``mlenv.io/pool`` node label."""
    purpose: Literal["training", "serving", "experiment"]
    """What runs there; used in labels and to size disks."""
    capacity: Literal["elastic", "static"] = "elastic"
    """elastic (default): Karpenter scales it from zero; static: a fixed-size managed node group."""
    instance_types: list[InstanceType] = Field(min_length=1)
    """GPU instance types (all with the same GPU model)."""
    image: str
    """An image id from images/catalog.yaml."""
    min_size: int = Field(default=0, ge=0, le=1000)
    """elastic: nodes kept warm by low-priority placeholder pods (Karpenter has no minimum); default 0,
    the pool scales to zero when idle. static: the node count (must equal max_size)."""
    max_size: int = Field(ge=1, le=1000)
    """elastic: the most nodes the pool may have (its NodePool limits are max_size x one node's GPUs,
    vCPUs and memory). static: the node count."""
    capacity_type: Literal["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"] = "ON_DEMAND"
    """EC2 capacity type. Default ON_DEMAND. CAPACITY_BLOCK only for static pools."""
    disk_size_gib: int = Field(default=200, ge=100, le=16384)
    """Root volume (gp3, encrypted). Default 200 GiB: CUDA images are large."""
    efa: bool = False
    """Multi-node training: EFA interfaces and a cluster placement group (static pools). Default off."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra Kubernetes node labels. Default none. Keys under ``mlenv.io/`` are mlenv's own
    (stacks/spec/limits.py RESERVED_LABEL_DOMAINS; mlenv.io/experiment marks experiment nodes)."""
    disruption: DisruptionSpec = Field(default_factory=DisruptionSpec)
    """elastic pools: disruption budgets, hold windows, consolidation, expiry. Default: one node at a
    time, no hold window, consolidate after 10m, expire after 720h."""
