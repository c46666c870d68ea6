"""The offline engine's mocked ARNs and ids have each AWS service's documented shape.

Every AWS resource the dev, prod and experiment programs register, whose provider type reports an
``arn``, is answered by the mocks; the ARN must match AWS's documented format for that type
(tests/oracles/arn_formats.py), so a wrong service (``cloudwatch`` for a log group) or separator fails.
"""

from __future__ import annotations

import re

import pytest
from pulumi.runtime.mocks import MockResourceArgs

from stacks.offline.engine import plan_stack
from stacks.offline.mocks import OfflineMocks
from stacks.offline.plan import Plan
from tests.oracles.arn_formats import ARN_FORMATS, EC2_ID, arn_pattern
from tests.oracles.pulumi_schema import aws_reports_arn


@pytest.fixture(scope="module")
def experiment_plan() -> Plan:
    return plan_stack("experiment")


@pytest.mark.parametrize("stack", ["dev", "prod", "experiment"])
def test_mocked_arns_and_ids_have_the_documented_shape(stack: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    mocks = OfflineMocks(region=str(plan.config.get("aws:region", "us-east-1")))
    checked = set()
    for resource in plan.resources:
        if not (resource.custom and resource.type.startswith("aws:") and not resource.read):
            continue
        if resource.type.startswith("aws:index/") or not aws_reports_arn(resource.type):
            continue
        if "arn" in resource.inputs:
            continue  # the program sets it (an EventTarget's arn is its target's): not AWS's to shape
        assert resource.type in ARN_FORMATS, f"add {resource.type}'s documented ARN format to arn_formats.py"
        resource_id, state = mocks.new_resource(
            MockResourceArgs(resource.type, resource.name, resource.plain_inputs(), "", None, True)
        )
        assert arn_pattern(resource.type).match(state["arn"]), (resource.type, state["arn"])
        if resource.type.startswith("aws:ec2/") and resource.type != "aws:ec2/placementGroup:PlacementGroup":
            assert resource_id is not None and re.match(EC2_ID, resource_id), (resource.type, resource_id)
        checked.add(resource.type)
    # An experiment's only AWS resources are its workload role and its policy (its capacity is a
    # Karpenter NodePool on the platform's cluster); the platforms register many ARN-bearing types.
    assert "aws:iam/role:Role" in checked and len(checked) >= (1 if stack == "experiment" else 3)


@pytest.mark.parametrize(
    ("type_token", "wrong"),
    [
        ("aws:cloudwatch/logGroup:LogGroup", "arn:aws:cloudwatch:us-east-1:123456789012:log-group//mlenv/x"),
        ("aws:cloudwatch/logGroup:LogGroup", "arn:aws:logs:us-east-1:123456789012:log-group/mlenv/x"),
        ("aws:ec2/vpc:Vpc", "arn:aws:ec2:us-east-1:123456789012:vpc:vpc-0123456789abcdef0"),
        ("aws:s3/bucket:Bucket", "arn:aws:s3:us-east-1:123456789012:bucket/models"),
    ],
)
def test_the_format_oracle_rejects_a_wrong_service_or_separator(type_token: str, wrong: str) -> None:
    assert not arn_pattern(type_token).match(wrong)
