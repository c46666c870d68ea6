"""Network, asserted on what the real program registered for the dev and prod stacks."""

from __future__ import annotations

import ipaddress
import json

from components.network import ELB_ROLE_TAG, INTERNAL_ELB_ROLE_TAG
from components.vpc_endpoints import HTTPS
from stacks.offline.plan import Plan
from tests.components.compute_helpers import only, spec_of
from tests.oracles.arn_formats import arn_pattern
from tests.oracles.botocore_models import assert_allowed

SUBNET = "aws:ec2/subnet:Subnet"


def test_vpc_has_the_stack_file_cidr_and_dns(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.network is not None
    vpc = only(plan.of_type("aws:ec2/vpc:Vpc")).plain_inputs()
    assert vpc["cidrBlock"] == spec.network.cidr
    assert vpc["enableDnsHostnames"] is True and vpc["enableDnsSupport"] is True


def test_private_and_public_subnet_per_az_inside_the_vpc_without_overlap(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.network is not None
    vpc = ipaddress.IPv4Network(spec.network.cidr)
    subnets = [s.plain_inputs() for s in plan.of_type(SUBNET)]
    private = [s for s in subnets if INTERNAL_ELB_ROLE_TAG in s["tags"]]
    public = [s for s in subnets if ELB_ROLE_TAG in s["tags"]]
    assert len(private) == len(public) == spec.network.az_count == len(subnets) // 2
    networks = [ipaddress.IPv4Network(s["cidrBlock"]) for s in subnets]
    assert all(n.subnet_of(vpc) for n in networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
    for group in (private, public):
        zones = [s["availabilityZone"] for s in group]
        assert len(set(zones)) == spec.network.az_count
        assert all(z.startswith(spec.region) for z in zones)
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets)
    assert all(s["tags"][ELB_ROLE_TAG] == "1" for s in public)


def test_nat_gateways_follow_the_spec_and_every_private_table_egresses_through_one(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.network is not None
    nats = plan.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == (spec.network.az_count if spec.network.nat_gateways == "per_az" else 1)
    nat_ids = {n.id for n in nats}
    public_ids = {s.id for s in plan.of_type(SUBNET) if ELB_ROLE_TAG in s.inputs["tags"]}
    assert {n.inputs["subnetId"] for n in nats} <= public_ids
    private_tables = {t.id for t in plan.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name}
    egress = {
        r.inputs["routeTableId"]: r.inputs.get("natGatewayId")
        for r in plan.of_type("aws:ec2/route:Route")
        if r.inputs["routeTableId"] in private_tables
    }
    assert set(egress) == private_tables and set(egress.values()) == nat_ids


def test_s3_gateway_endpoint_serves_every_private_route_table(plan: Plan) -> None:
    spec = spec_of(plan)
    endpoints = [e.plain_inputs() for e in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")]
    (endpoint,) = [e for e in endpoints if e["vpcEndpointType"] == "Gateway"]
    assert_allowed(endpoint["vpcEndpointType"], "ec2", "VpcEndpointType")
    assert endpoint["serviceName"] == f"com.amazonaws.{spec.region}.s3"
    private_tables = {t.id for t in plan.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name}
    assert set(endpoint["routeTableIds"]) == private_tables


def test_vpc_flow_logs_capture_all_traffic(plan: Plan) -> None:
    flow = only(plan.of_type("aws:ec2/flowLog:FlowLog")).plain_inputs()
    assert_allowed(flow["trafficType"], "ec2", "TrafficType")
    assert flow["trafficType"] == "ALL"
    assert_allowed(flow["logDestinationType"], "ec2", "LogDestinationType")


def test_interface_endpoints_in_the_private_subnets_https_from_the_vpc_only(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.network is not None
    interface = {
        e.plain_inputs()["serviceName"].rsplit(".", 1)[-1]: e.plain_inputs()
        for e in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs["vpcEndpointType"] == "Interface"
    }
    # S3 and STS always; DynamoDB when the stack file's online store is DynamoDB.
    dynamodb = spec.feature_store is not None and spec.feature_store.online_store == "dynamodb"
    assert set(interface) == {"s3", "sts"} | ({"dynamodb"} if dynamodb else set())
    private_subnets = {s.id for s in plan.of_type(SUBNET) if INTERNAL_ELB_ROLE_TAG in s.inputs["tags"]}
    group = only(
        [g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name.endswith("-endpoints")]
    )
    for service, endpoint in interface.items():
        assert endpoint["serviceName"] == f"com.amazonaws.{spec.region}.{service}"
        assert set(endpoint["subnetIds"]) == private_subnets
        assert endpoint["securityGroupIds"] == [group.id]
    # S3 and STS answer their own names in the VPC. PrivateLink for DynamoDB has no private DNS and
    # AWS rejects an endpoint asking for it (DynamoDB developer guide, "Considerations when using AWS
    # PrivateLink for Amazon DynamoDB").
    assert interface["s3"]["privateDnsEnabled"] is True and interface["sts"]["privateDnsEnabled"] is True
    assert all(interface[s]["privateDnsEnabled"] is False for s in interface.keys() & {"dynamodb"})
    # S3's interface endpoint answers the S3 names inside the VPC too, not only for inbound resolvers.
    assert interface["s3"]["dnsOptions"]["privateDnsOnlyForInboundResolverEndpoint"] is False
    (rule,) = group.plain_inputs()["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (
        HTTPS,
        HTTPS,
        [spec.network.cidr],
    )
    assert not group.plain_inputs().get("egress")


def test_flow_logs_encrypted_with_the_logs_key_kept_as_the_spec_says(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.network is not None
    group = only(
        [g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup") if g.name.endswith("-flow-logs")]
    )
    key = only([k for k in plan.of_type("aws:kms/key:Key") if k.name == f"{spec.name}-logs"])
    assert group.property_dependencies["kmsKeyId"] == [key.urn]
    assert group.inputs["retentionInDays"] == spec.network.flow_log_retention_days


def test_flow_log_role_grants_each_action_on_a_resource_it_applies_to(plan: Plan) -> None:
    policy = only([p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-flow-logs")])
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["FindLogGroups"] == {
        "Sid": "FindLogGroups",
        "Effect": "Allow",
        "Action": ["logs:DescribeLogGroups"],
        "Resource": "*",
    }
    write = statements["WriteFlowLogStreams"]
    assert "logs:DescribeLogGroups" not in write["Action"]
    group_arn, streams = write["Resource"]
    assert arn_pattern("aws:cloudwatch/logGroup:LogGroup").match(group_arn), group_arn
    assert group_arn.endswith(":log-group:/mlenv/" + spec_of(plan).name + "/vpc-flow-logs")
    assert streams == f"{group_arn}:*"
