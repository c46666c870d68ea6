"""A deployed dev stack on the moto server, and its state export, for the drift tests.

The state is made from the real offline plan of dev (``stacks.offline``): every resource the plan
registers, in ``pulumi stack export``'s deployment-v3 shape, with the ids and ARNs the moto resources
really got for the network and the buckets (created on the moto server with the plan's own inputs
and tags). Resources that are not created on moto keep the offline engine's ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3

from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan, PlannedResource

REGION = "us-east-1"
ACCOUNT = "123456789012"
"""moto's default account id."""


@cache
def dev_plan() -> Plan:
    """dev's offline plan, made once per test process (the drift tests only read it)."""
    return plan_stack("dev")


@dataclass
class DeployedWorld:
    """What was created on moto for the plan, by URN: the real id and ARN."""

    plan: Plan
    ids: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    def first(self, type_: str, name_part: str = "") -> PlannedResource:
        return next(r for r in self.plan.of_type(type_) if name_part in r.urn.rsplit("::", 1)[-1])

    def real_id(self, type_: str, name_part: str = "") -> str:
        return self.ids[self.first(type_, name_part).urn]

    def export(self) -> dict[str, Any]:
        """The state as ``pulumi stack export`` writes it (version 3)."""
        resources = []
        for planned in self.plan.resources:
            inputs = planned.plain_inputs()
            outputs = dict(inputs)
            item: dict[str, Any] = {"urn": planned.urn, "custom": planned.custom, "type": planned.type}
            if planned.custom:
                item["id"] = self.ids.get(planned.urn, planned.id or "")
            if planned.urn in self.arns:
                outputs["arn"] = self.arns[planned.urn]
                if isinstance(inputs.get("tags"), dict):
                    outputs["tagsAll"] = inputs["tags"]
            if planned.parent:
                item["parent"] = planned.parent
            item["inputs"] = inputs
            item["outputs"] = outputs
            item["created"] = "2026-11-20T10:00:00Z"
            item["modified"] = "2026-11-21T10:00:00Z"
            resources.append(item)
        return {
            "version": 3,
            "deployment": {
                "manifest": {"time": "2026-11-21T10:00:00Z", "magic": "0" * 64, "version": "v3.200.0"},
                "secrets_providers": {"type": "passphrase"},
                "resources": resources,
            },
        }

    def write_state(self, path: Path) -> Path:
        path.write_text(json.dumps(self.export(), indent=1), encoding="utf-8")
        return path


def _tag_list(tags: Any) -> list[dict[str, str]]:
    return [{"Key": str(k), "Value": str(v)} for k, v in (tags or {}).items()]


def deploy_network_and_buckets(session: boto3.Session, endpoint: str, plan: Plan) -> DeployedWorld:
    """Create the plan's VPC, subnets, default security group, internet gateway and buckets on moto."""
    world = DeployedWorld(plan)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)

    def ec2_arn(kind: str, identifier: str) -> str:
        return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{identifier}"

    vpc = world.first("aws:ec2/vpc:Vpc")
    vpc_inputs = vpc.plain_inputs()
    vpc_id = ec2.create_vpc(
        CidrBlock=vpc_inputs["cidrBlock"],
        TagSpecifications=[{"ResourceType": "vpc", "Tags": _tag_list(vpc_inputs.get("tags"))}],
    )["Vpc"]["VpcId"]
    world.ids[vpc.urn], world.arns[vpc.urn] = vpc_id, ec2_arn("vpc", vpc_id)

    for subnet in plan.of_type("aws:ec2/subnet:Subnet"):
        inputs = subnet.plain_inputs()
        subnet_id = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=inputs["cidrBlock"],
            AvailabilityZone=inputs["availabilityZone"],
            TagSpecifications=[{"ResourceType": "subnet", "Tags": _tag_list(inputs.get("tags"))}],
        )["Subnet"]["SubnetId"]
        world.ids[subnet.urn], world.arns[subnet.urn] = subnet_id, ec2_arn("subnet", subnet_id)

    default_sg = world.first("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    sg_id = groups[0]["GroupId"]
    ec2.create_tags(Resources=[sg_id], Tags=_tag_list(default_sg.plain_inputs().get("tags")))
    world.ids[default_sg.urn], world.arns[default_sg.urn] = sg_id, ec2_arn("security-group", sg_id)

    igw = world.first("aws:ec2/internetGateway:InternetGateway")
    igw_id = ec2.create_internet_gateway(
        TagSpecifications=[
            {"ResourceType": "internet-gateway", "Tags": _tag_list(igw.plain_inputs().get("tags"))}
        ]
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    world.ids[igw.urn], world.arns[igw.urn] = igw_id, ec2_arn("internet-gateway", igw_id)

    for bucket in plan.of_type("aws:s3/bucket:Bucket"):
        name = bucket.id or ""
        s3.create_bucket(Bucket=name)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tag_list(bucket.plain_inputs().get("tags"))})
        world.ids[bucket.urn], world.arns[bucket.urn] = name, f"arn:aws:s3:::{name}"
    return world
