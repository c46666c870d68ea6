"""Network, asserted on what the real program registered for the dev and prod stacks."""

from __future__ import annotations

import ipaddress

from components.network import ELB_ROLE_TAG, INTERNAL_ELB_ROLE_TAG
from stacks.offline.plan import Plan
from tests.components.compute_helpers import only, spec_of
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
    endpoint = only(plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")).plain_inputs()
    assert endpoint["vpcEndpointType"] == "Gateway"
    assert_allowed(endpoint["vpcEndpointType"], "ec2", "VpcEndpointType")
    assert endpoint["serviceName"] == f"com.amazonaws.{spec.region}.s3"
    private_tables = {t.id for t in plan.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name}
    assert set(endpoint["routeTableIds"]) == private_tables


def test_vpc_flow_logs_capture_all_traffic(plan: Plan) -> None:
    flow = only(plan.of_type("aws:ec2/flowLog:FlowLog")).plain_inputs()
    assert_allowed(flow["trafficType"], "ec2", "TrafficType")
    assert flow["trafficType"] == "ALL"
    assert_allowed(flow["logDestinationType"], "ec2", "LogDestinationType")
