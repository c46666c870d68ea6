"""Shared fixtures of the runner tests: a small real program, its offline plan, the fixture pack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from stacks.check.findings import CheckReport, Finding, Status
from stacks.offline.engine import run_program
from stacks.offline.plan import Plan, PlannedResource

FIXTURE_PACK = Path(__file__).resolve().parent / "fixture_pack"
STACK = "runner"


def small_program(region_tag: str = "owner") -> Callable[[], None]:
    """Two buckets (one tagged, protected and versioned; one neither), an access block, a key."""

    def program() -> None:
        good = aws.s3.Bucket(
            "good", tags={region_tag: "ml-platform"}, opts=pulumi.ResourceOptions(protect=True)
        )
        aws.s3.BucketVersioning("good", bucket=good.bucket, versioning_configuration={"status": "Enabled"})
        aws.s3.Bucket("bad", tags={"team": "x"})
        aws.s3.BucketPublicAccessBlock("pab", bucket=good.id, block_public_acls=False)
        aws.kms.Key("key")

    return program


def plan_of(program: Callable[[], None], *, region: str = "us-east-1") -> Plan:
    return run_program(program, config={"aws:region": region}, secret_keys=[], stack=STACK, region=region)


def replace_inputs(plan: Plan, name: str, type_: str, **inputs: Any) -> Plan:
    """A copy of the plan with some inputs of one resource replaced (a hand-made plan file)."""
    resources: list[PlannedResource] = []
    hits = 0
    for resource in plan.resources:
        if resource.name == name and resource.type == type_:
            hits += 1
            resource = resource.model_copy(update={"inputs": {**resource.inputs, **inputs}})
        resources.append(resource)
    assert hits == 1, f"no single {type_} named {name} in the plan"
    return plan.model_copy(update={"resources": resources})


def findings_of(report: CheckReport, policy: str, status: Status | None = None) -> list[Finding]:
    return [f for f in report.findings if f.policy == policy and (status is None or f.status is status)]


def names(findings: list[Finding]) -> set[str]:
    return {f.resource.name for f in findings if f.resource is not None}


@pytest.fixture(scope="session")
def small_plan() -> Plan:
    """The offline plan of ``small_program``, recorded by the real SDK."""
    return plan_of(small_program())
