"""The pack as a whole: names, declarations, fixtures for every policy, config, and the real plans."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from pulumi_policy import EnforcementLevel, Policy

from policies import config
from policies.__main__ import POLICIES, RULES
from policies.policy_types import ResourcePolicy, StackPolicy
from policies.taggable import aws_taggable, generated_for
from stacks.experiments.quotas import PlatformQuotas
from stacks.offline.plan import Plan
from tests.oracles.botocore_models import shape
from tests.oracles.pulumi_schema import aws_takes_tags
from tests.policies.cases import CASES
from tests.policies.harness import run

DOMAIN_MODULES = (
    "storage",
    "data_services",
    "compute",
    "iam",
    "gpu_pools",
    "karpenter",
    "container_images",
    "gpu_workloads",
    "drift",
    "kubernetes",
    "network_policies",
    "keys_and_logs",
    "experiments",
)
REPO = Path(__file__).resolve().parents[2]


def test_policy_names_are_unique_and_kebab_case() -> None:
    names = [p.name for p in POLICIES]
    assert [n for n, count in Counter(names).items() if count > 1] == []
    assert [n for n in names if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", n)] == []
    assert len(RULES) >= 30


def test_every_policy_declared_in_a_domain_module_is_in_the_pack_and_vice_versa() -> None:
    declared = {
        id(obj)
        for module in DOMAIN_MODULES
        for obj in vars(importlib.import_module(f"policies.{module}")).values()
        if isinstance(obj, Policy)
    }
    assert declared == {id(p) for p in RULES}


def test_each_policy_is_one_named_check_function_with_a_description() -> None:
    for policy in RULES:
        assert isinstance(policy, ResourcePolicy | StackPolicy)
        assert inspect.isfunction(policy.check) and policy.check.__name__.startswith("check_"), policy.name
        assert policy.check.__doc__, policy.name
        assert policy.description.endswith("."), policy.name
        assert 30 <= len(policy.description) <= 140, policy.name


def test_every_policy_has_all_four_kinds_of_fixture() -> None:
    kinds: dict[str, set[str]] = {p.name: set() for p in RULES}
    for case in CASES:
        kinds[case.policy].add(case.kind)
        if case.kind == "fail":
            assert case.expect == "violation"
    missing = {name: {"pass", "fail", "missing", "unknown"} - found for name, found in kinds.items()}
    assert {name: gaps for name, gaps in missing.items() if gaps} == {}


def test_waiver_policies_close_the_pack() -> None:
    assert [p.name for p in POLICIES[len(RULES) :]] == ["waived-violations", "waivers-are-valid"]
    levels = {p.name: p.enforcement_level for p in POLICIES[len(RULES) :]}
    assert levels == {
        "waived-violations": EnforcementLevel.ADVISORY,
        "waivers-are-valid": EnforcementLevel.MANDATORY,
    }


def test_config_defaults_validate_against_their_schemas() -> None:
    for key, prop in config.PROPERTIES.items():
        schema = {k: v for k, v in prop.items() if k not in ("default", "description")}
        jsonschema.validate(prop["default"], schema)
        assert prop["description"], key
    published = config.initial_config(POLICIES, EnforcementLevel.MANDATORY)
    assert published
    # Each configured policy keeps its level when the config is sent back (protocol zero = ADVISORY).
    assert {values["enforcementLevel"] for values in published.values()} == {EnforcementLevel.MANDATORY}


def test_config_defaults_come_from_the_facts_they_mirror() -> None:
    quotas = PlatformQuotas()
    assert config.PROPERTIES["max_ttl_hours"]["default"] == quotas.max_ttl.total_seconds() / 3600
    assert config.PROPERTIES["max_gpus_per_experiment"]["default"] == quotas.owner_gpu_quota
    # Every EKS control-plane log type EKS knows (botocore's LogType enum) is required by default.
    log_type = shape("eks", "LogType")
    assert sorted(config.PROPERTIES["required_cluster_log_types"]["default"]) == sorted(
        getattr(log_type, "enum", [])
    )


def test_taggable_list_matches_the_installed_sdk(plans: dict[str, Plan]) -> None:
    assert generated_for() == importlib.metadata.version("pulumi-aws")
    types = {r.type for plan in plans.values() for r in plan.resources if r.type.startswith("aws:")}
    assert {t: aws_taggable(t) for t in types} == {t: aws_takes_tags(t) for t in types}


@pytest.mark.parametrize("stack", ["dev", "prod", "experiment", "redis"])
def test_real_plans_have_no_mandatory_violation(stack: str, plans: dict[str, Plan]) -> None:
    """The components are built to pass their own pack (the gRPC end-to-end is the runner's test)."""
    resources = plans[stack].resources
    found = {}
    for policy in POLICIES:
        result = run(policy, resources)
        if policy.enforcement_level != EnforcementLevel.ADVISORY and (result.violations or result.unknown):
            found[policy.name] = result.violations or result.unknown
    assert found == {}


@pytest.mark.parametrize("how", [["-m", "policies"], ["policies/__main__.py"], ["policies"]])
def test_pack_starts_and_prints_its_port(how: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-u", *how], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert re.fullmatch(r"\d+\n", line), (line, process.stderr.read(2000) if process.stderr else b"")
    finally:
        process.kill()
        process.wait(timeout=10)
