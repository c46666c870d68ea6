"""Experiment stacks: they say when they expire, within the maximum TTL, and cannot hold more GPUs
than one experiment may have."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from components.scheduling import GPU_RESOURCE
from components.tags import LABEL_PREFIX, TAG_EXPIRES_AT
from policies import resource_types as T
from policies.config import schema, setting
from policies.gpu_pools import gpu_instance_types
from policies.joins import of_type
from policies.policy_types import Report, ResourcePolicy, StackPolicy
from policies.properties import get, number, tags_of
from policies.stack_kind import is_experiment, stack_is_experiment
from policies.taggable import aws_taggable

EXPIRY_ANNOTATION = f"{LABEL_PREFIX}expires-at"


def parse_expiry(value: object) -> dt.datetime | None:
    """``2025-01-31T12:00:00Z`` -> an aware UTC datetime; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def check_experiment_expiry(args: ResourceValidationArgs, report: Report) -> None:
    """Experiment resources carry an expiry that has not passed and is within the maximum TTL."""
    if args.resource_type == T.K8S_NAMESPACE:
        where, value = (
            f"annotation {EXPIRY_ANNOTATION}",
            get(args.props, ("metadata", "annotations", EXPIRY_ANNOTATION)),
        )
    elif args.resource_type.startswith("aws:") and aws_taggable(args.resource_type):
        where, value = f"tag {TAG_EXPIRES_AT}", tags_of(args.props).get(TAG_EXPIRES_AT)
    else:
        return
    if not is_experiment(args.urn, args.props):
        args.not_applicable("platform stacks do not expire")
    expires = parse_expiry(value)
    if expires is None:
        report(f"set the {where} to the experiment's expiry as an ISO-8601 UTC instant (found {value!r})")
        return
    now = dt.datetime.now(dt.UTC)
    max_hours = float(setting(args, "max_ttl_hours"))
    if expires <= now:
        report(f"the {where} {value} has passed: extend the experiment (mlenv exp extend) or destroy it")
    elif expires > now + dt.timedelta(hours=max_hours):
        report(f"the {where} {value} is more than {max_hours:g} hours ahead: shorten the experiment's TTL")


experiment_expiry = ResourcePolicy(
    name="experiment-expiry",
    description=(
        "Experiment resources say when they expire, within the maximum TTL, so garbage collection finds them."
    ),
    check=check_experiment_expiry,
    config_schema=schema("max_ttl_hours"),
)


def _quota_gpus(hard: object) -> int:
    if not isinstance(hard, Mapping):
        return 0
    values = [hard.get(f"requests.{GPU_RESOURCE}"), hard.get(f"limits.{GPU_RESOURCE}")]
    return max((int(n) for v in values if (n := number(v)) is not None), default=0)


def check_experiment_gpu_cap(args: StackValidationArgs, report: Report) -> None:
    """An experiment's NodePools (their GPU limit), node groups (at max size) and GPU quotas stay
    within the per-experiment cap."""
    if not stack_is_experiment(args.resources):
        args.not_applicable("not an experiment stack")
    cap = int(setting(args, "max_gpus_per_experiment"))
    groups = [(g, gpu_instance_types(g.props)) for g in of_type(args.resources, T.EKS_NODE_GROUP)]
    groups = [(g, gpus) for g, gpus in groups if gpus]
    pools = of_type(args.resources, T.KARPENTER_NODE_POOL)
    quotas = of_type(args.resources, T.K8S_RESOURCE_QUOTA)
    if not groups and not pools and not quotas:
        args.not_applicable("the experiment declares no GPU node pool, node group or GPU quota")
    for pool in pools:
        limit = number(get(pool.props, ("spec", "limits", GPU_RESOURCE)))
        if limit is None or limit > cap:
            holds = f"{limit:g} GPUs" if limit is not None else "an unbounded number of GPUs"
            report(
                f"node pool {pool.name} may launch {holds}; set spec.limits[{GPU_RESOURCE}] to at most {cap}",
                pool.urn,
            )
    for group, gpus in groups:
        max_size = number(get(group.props, "scalingConfig.maxSize"))
        per_node = max(g.gpu_count for g in gpus)
        total = int(max_size) * per_node if max_size is not None else None
        if total is None or total > cap:
            holds = (
                f"{total} GPUs ({max_size:g} x {per_node})"
                if total is not None
                else "an unbounded number of GPUs"
            )
            report(
                f"node group {group.name} can hold {holds}; lower scaling_config.max_size so it holds "
                f"at most {cap}",
                group.urn,
            )
    for quota in quotas:
        hard = _quota_gpus(get(quota.props, "spec.hard"))
        if hard > cap:
            report(f"resource quota {quota.name} allows {hard} GPUs; set it to at most {cap}", quota.urn)


experiment_gpu_cap = StackPolicy(
    name="experiment-gpu-cap",
    description=(
        "An experiment cannot hold more GPUs than the per-experiment cap, so one run cannot starve others."
    ),
    check=check_experiment_gpu_cap,
    config_schema=schema("max_gpus_per_experiment"),
)
