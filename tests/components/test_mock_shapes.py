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
from stacks.offline.plan import Plan, PlannedResource
from tests.oracles.arn_formats import ARN_FORMATS, EC2_ID, arn_pattern
from tests.oracles.botocore_models import shape
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


ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
ENDPOINT_NAME = r"vpce-[0-9a-f]{17}-[0-9a-z]{8}"
"""``vpce-<id>-<8 characters>``, the first label of an interface endpoint's names (AWS PrivateLink
guide, "DNS hostnames"; describe-vpc-endpoints example output)."""


def _dns_entries(plan: Plan, endpoint: PlannedResource) -> list[dict[str, str]]:
    """The mocks' answer for ``endpoint`` after they have seen the plan's subnets, as in the run."""
    mocks = OfflineMocks(region=str(plan.config.get("aws:region", "us-east-1")))
    for subnet in plan.of_type("aws:ec2/subnet:Subnet"):
        mocks.new_resource(MockResourceArgs(subnet.type, subnet.name, subnet.plain_inputs(), "", None, True))
    resource_id, state = mocks.new_resource(
        MockResourceArgs(endpoint.type, endpoint.name, endpoint.plain_inputs(), "", None, True)
    )
    assert resource_id == endpoint.id
    entries: list[dict[str, str]] = state["dnsEntries"]
    return entries


@pytest.mark.parametrize("service", ["s3", "sts", "dynamodb"])
def test_interface_endpoints_report_regional_and_zonal_dns_names(dev_plan: Plan, service: str) -> None:
    region = str(dev_plan.config["aws:region"])
    (endpoint,) = [
        e
        for e in dev_plan.of_type(ENDPOINT)
        if e.inputs["vpcEndpointType"] == "Interface" and e.inputs["serviceName"].endswith(f".{service}")
    ]
    entries = _dns_entries(dev_plan, endpoint)
    assert entries == _dns_entries(dev_plan, endpoint), "the answer is not deterministic"
    members = {m[0].lower() + m[1:] for m in shape("ec2", "DnsEntry").members}  # type: ignore[attr-defined]
    assert all(set(entry) == members for entry in entries), (entries, members)
    assert all(re.fullmatch(r"Z[0-9A-Z]{10,31}", entry["hostedZoneId"]) for entry in entries)
    names = [entry["dnsName"] for entry in entries]
    domain = rf"\.{service}\.{region}\.vpce\.amazonaws\.com"
    regional = [n for n in names if re.fullmatch(ENDPOINT_NAME + domain, n)]
    zonal = [n for n in names if re.fullmatch(rf"{ENDPOINT_NAME}-{region}[a-z]{domain}", n)]
    assert len(regional) == 1 and regional[0].startswith(f"{endpoint.id}-")
    subnets = {s.id: s.inputs["availabilityZone"] for s in dev_plan.of_type("aws:ec2/subnet:Subnet")}
    zones = sorted(subnets[s] for s in endpoint.inputs["subnetIds"])
    assert sorted(n.split(".", 1)[0].removeprefix(regional[0].split(".", 1)[0] + "-") for n in zonal) == zones
    # With private DNS, the service's own name is reported too (in the endpoint's private zone).
    private = [f"{service}.{region}.amazonaws.com"] if endpoint.inputs["privateDnsEnabled"] else []
    assert sorted(set(names) - set(regional) - set(zonal)) == private


def test_gateway_endpoints_report_no_dns_entries(dev_plan: Plan) -> None:
    (gateway,) = [e for e in dev_plan.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Gateway"]
    _, state = OfflineMocks(region="us-east-1").new_resource(
        MockResourceArgs(gateway.type, gateway.name, gateway.plain_inputs(), "", None, True)
    )
    assert "dnsEntries" not in state


def test_zonal_names_follow_the_zones_of_the_endpoint_subnets() -> None:
    mocks = OfflineMocks(region="us-east-1")
    subnet_ids = [
        mocks.new_resource(
            MockResourceArgs(
                "aws:ec2/subnet:Subnet", f"private-{zone}", {"availabilityZone": zone}, "", None, True
            )
        )[0]
        for zone in ("us-east-1f", "us-east-1d")
    ]
    inputs = {
        "vpcEndpointType": "Interface",
        "serviceName": "com.amazonaws.us-east-1.sts",
        "subnetIds": subnet_ids,
    }
    _, state = mocks.new_resource(MockResourceArgs(ENDPOINT, "sts", inputs, "", None, True))
    zonal = [e["dnsName"].split(".", 1)[0].rsplit("-", 3)[1:] for e in state["dnsEntries"][1:]]
    assert zonal == [["us", "east", "1f"], ["us", "east", "1d"]]
