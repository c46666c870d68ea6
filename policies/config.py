"""Policy thresholds: one JSON-schema property per setting, each with its default.

A policy declares the settings it reads (``schema("max_ttl_hours")``); the pack publishes the
defaults as its initial config, so `pulumi policy` users and ``mlenv check`` see and can override
them. ``setting(args, key)`` reads the configured value, falling back to the default when the
engine sent no config for the policy (the Python SDK does not fill defaults in itself).

Defaults come from where the fact lives: EKS versions from the add-on pins, registries from the
image catalog, experiment limits from the platform's default experiment quotas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, Policy, PolicyConfigSchema

from components.addons import ADDON_VERSIONS
from components.karpenter_iam import UNSCOPED_ACTIONS
from images.catalog import load_catalog
from stacks.experiments.quotas import PlatformQuotas


def _registry(repository: str) -> str:
    """``nvcr.io/nvidia/pytorch`` -> ``nvcr.io``; Docker Hub references (``vllm/vllm-openai``) -> "
    "``docker.io``."""
    first = repository.split("/", 1)[0]
    return (
        first if "/" in repository and ("." in first or ":" in first or first == "localhost") else "docker.io"
    )


def _catalog_registries() -> list[str]:
    return sorted({_registry(c.repository) for c in load_catalog().containers.values()})


def _strings(default: Sequence[str], description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string"},
        "default": list(default),
        "description": description,
    }


_EXPERIMENTS = PlatformQuotas()

PROPERTIES: Mapping[str, Mapping[str, Any]] = {
    "allowed_gpu_instance_families": _strings(
        ["g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200"],
        "EC2 instance families (the part before the dot) GPU node pools may use.",
    ),
    "approved_registries": _strings(
        _catalog_registries(),
        "Registries container images may come from (default: those of images/catalog.yaml). An entry "
        "may use fnmatch wildcards, e.g. *.dkr.ecr.*.amazonaws.com.",
    ),
    "max_ttl_hours": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": _EXPERIMENTS.max_ttl.total_seconds() / 3600,
        "description": "Longest time from now an experiment's expires-at may be "
        "(the platform's default, stacks.experiments.quotas).",
    },
    "max_gpus_per_experiment": {
        "type": "integer",
        "minimum": 1,
        "default": _EXPERIMENTS.owner_gpu_quota,
        "description": "Most GPUs one experiment stack may be able to run (its owner's quota).",
    },
    "allowed_ignore_changes": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "default": {},
        "description": "Resource type -> properties whose changes may be ignored (owned by a controller). "
        "Default none: no autoscaler owns a node group's desiredSize (GPU pools are NodePools).",
    },
    "supported_eks_versions": _strings(
        sorted(ADDON_VERSIONS), "Kubernetes versions with pinned add-ons (components/addons.py)."
    ),
    "required_cluster_log_types": _strings(
        ["api", "audit", "authenticator", "controllerManager", "scheduler"],
        "EKS control-plane log types that must be enabled.",
    ),
    "max_imds_hop_limit": {
        "type": "integer",
        "minimum": 1,
        "maximum": 64,
        "default": 1,
        "description": "Highest IMDSv2 response hop limit: 1 keeps pods from reaching the node role.",
    },
    "model_bucket_patterns": _strings(
        ["*-models"], "fnmatch patterns of the resource names of buckets that hold models (Object Lock)."
    ),
    "remote_access_policies": _strings(
        ["AmazonSSMManagedInstanceCore", "AmazonEC2RoleforSSM"],
        "AWS managed policies that give interactive access to instances (Session Manager).",
    ),
    "min_log_retention_days": {
        "type": "integer",
        "minimum": 1,
        "default": 90,
        "description": "Fewest days a CloudWatch log group may keep logs (flow logs, control-plane audit).",
    },
    "unscopable_actions": _strings(
        UNSCOPED_ACTIONS,
        "Actions a statement may grant on resource '*' (when it grants nothing else): those IAM has no "
        "resource type for (ec2:Describe*, pricing:GetProducts, iam:ListInstanceProfiles; Service "
        "Authorization Reference) and the Karpenter reference policy's condition-scoped zonal-shift read.",
    ),
    "forbidden_managed_policies": _strings(
        ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"],
        "AWS managed policies that grant everything in a service or account.",
    ),
}


def schema(*keys: str) -> PolicyConfigSchema:
    """The config schema of a policy that reads ``keys``."""
    return PolicyConfigSchema(properties={key: dict(PROPERTIES[key]) for key in keys})


def setting(args: Any, key: str) -> Any:
    """The configured value of ``key`` for this policy, else its default."""
    config = args.get_config()
    if isinstance(config, Mapping) and key in config:
        return config[key]
    return PROPERTIES[key]["default"]


def setting_strings(args: Any, key: str) -> list[str]:
    """A list-of-strings setting."""
    value = setting(args, key)
    return [str(item) for item in value] if isinstance(value, list | tuple) else [str(value)]


def initial_config(policies: Iterable[Policy], pack_level: EnforcementLevel) -> dict[str, dict[str, Any]]:
    """Each configurable policy's defaults, as the pack's initial config.

    The policy's enforcement level goes with them: an engine or runner that sends this config back
    in Configure without a level would otherwise get the protocol's zero value, ADVISORY.
    """
    result: dict[str, dict[str, Any]] = {}
    for policy in policies:
        if policy.config_schema is not None and policy.config_schema.properties:
            defaults = {k: p["default"] for k, p in policy.config_schema.properties.items() if "default" in p}
            result[policy.name] = {"enforcementLevel": policy.enforcement_level or pack_level, **defaults}
    return result
