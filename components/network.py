"""Network: the VPC an environment's EKS cluster runs in.

Private subnets (one per AZ, large: the VPC CNI gives every pod a VPC address) hold the nodes;
public subnets (small) hold internet-facing load balancers and the NAT gateways. Private route
tables reach the internet through NAT (one for the VPC, or one per AZ so losing an AZ does not cut
the others off) and S3 through a gateway endpoint, so GPU nodes pull datasets and checkpoints
without paying NAT data processing; interface endpoints (components/vpc_endpoints.py) put S3, STS
and the services the spec needs at private addresses in the VPC. Subnets carry the role tags the
AWS Load Balancer Controller uses to discover them. VPC flow logs go to CloudWatch Logs.
"""

from __future__ import annotations

import ipaddress
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.errors import ComponentError
from components.irsa import service_trust_policy
from components.log_encryption import flow_log_group_name
from components.tags import Tagging
from components.vpc_endpoints import EndpointPlacement, create_interface_endpoints, interface_services

COMPONENT = "network"
ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"
ANYWHERE = "0.0.0.0/0"
# Private subnets take 1/4 of the VPC each (room for 3 AZs plus a spare quarter); public subnets
# are carved from the spare quarter at 1/64 of the VPC: load balancers and NAT need few addresses.
PRIVATE_PREFIX_DELTA = 2
PUBLIC_PREFIX_DELTA = 6


@dataclass(frozen=True)
class SubnetLayout:
    """CIDRs of the subnets of one VPC, index i in AZ i."""

    private: tuple[str, ...]
    public: tuple[str, ...]


def subnet_layout(vpc_cidr: str, az_count: int) -> SubnetLayout:
    """Split a VPC CIDR into ``az_count`` private /(p+2) and public /(p+6) subnets, never overlapping.

    For 10.0.0.0/16 and 3 AZs: private 10.0.0.0/18, 10.0.64.0/18, 10.0.128.0/18; public
    10.0.192.0/22, 10.0.196.0/22, 10.0.200.0/22.
    """
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    quarters = list(vpc.subnets(prefixlen_diff=PRIVATE_PREFIX_DELTA))
    if not 1 <= az_count < len(quarters):
        raise ComponentError(f"az_count must be between 1 and {len(quarters) - 1}, got {az_count}")
    spare = quarters[-1]
    public = list(spare.subnets(new_prefix=vpc.prefixlen + PUBLIC_PREFIX_DELTA))[:az_count]
    return SubnetLayout(
        private=tuple(str(n) for n in quarters[:az_count]),
        public=tuple(str(n) for n in public),
    )


def availability_zones(region: str, count: int) -> tuple[str, ...]:
    """``us-east-1`` -> ``us-east-1a``, ``us-east-1b`` ...: the first ``count`` AZ letters.

    Derived, not looked up: a getAvailabilityZones invoke would make the plan depend on the account
    (AZ letters map to different physical zones per account) and needs the cloud. Letters a-c exist
    in every region mlenv deploys to; a region where one does not would fail at subnet creation
    with a clear EC2 error, and ``NetworkArgs.availability_zones`` overrides the derivation.
    """
    if not 1 <= count <= 6:
        raise ComponentError(f"count must be between 1 and 6, got {count}")
    return tuple(f"{region}{letter}" for letter in string.ascii_lowercase[:count])


def nat_gateway_count(mode: Literal["single", "per_az"], az_count: int) -> int:
    """How many NAT gateways: one, or one per AZ."""
    return az_count if mode == "per_az" else 1


def flow_logs_policy(log_group_arn: str) -> str:
    """Write access to exactly the flow-log group; each action on the resource it is authorised on.

    The actions are the ones the VPC user guide lists for the flow-log role
    (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html), minus CreateLogGroup
    (the group is created here). ``logs:DescribeLogGroups`` is authorised only on ``*`` (the Service
    Authorization Reference lists no resource type for it), so it gets its own statement.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WriteFlowLogStreams",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": [log_group_arn, f"{log_group_arn}:*"],
                },
                {
                    "Sid": "FindLogGroups",
                    "Effect": "Allow",
                    "Action": ["logs:DescribeLogGroups"],
                    "Resource": "*",
                },
            ],
        }
    )


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of a Network."""

    environment: str
    """Environment name; prefixes every resource name."""
    tagging: Tagging
    """The environment's tags; this component adds ``mlenv:component=network``."""
    region: str
    """AWS region: names the AZs and the S3 endpoint service."""
    cidr: str = "10.0.0.0/16"
    """VPC CIDR. Default 10.0.0.0/16."""
    az_count: int = 2
    """Availability zones. Default 2."""
    nat_gateways: Literal["single", "per_az"] = "single"
    """One NAT gateway (default) or one per AZ."""
    availability_zones: Sequence[str] | None = None
    """AZ names. Default: the first ``az_count`` letters of the region (see ``availability_zones``)."""
    flow_log_retention_days: int = 90
    """Days VPC flow logs are kept. Default 90."""
    logs_key: aws.kms.Key | None = None
    """The key that encrypts the flow-log group (components/log_encryption.py). Default none:
    CloudWatch Logs' own encryption."""
    private_subnet_tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags on the private (node) subnets, e.g. Karpenter's discovery tag. Default none."""
    interface_services: Sequence[str] = ()
    """AWS services that get an interface endpoint besides S3 and STS (which always do), e.g.
    ``dynamodb`` for a DynamoDB online store (components/vpc_endpoints.py). Default none."""


class Network(pulumi.ComponentResource):
    """A VPC with private node subnets, public load-balancer subnets, NAT and an S3 endpoint."""

    vpc: aws.ec2.Vpc
    availability_zones: tuple[str, ...]
    private_subnets: list[aws.ec2.Subnet]
    public_subnets: list[aws.ec2.Subnet]
    nat_gateways: list[aws.ec2.NatGateway]
    private_route_tables: list[aws.ec2.RouteTable]
    s3_endpoint: aws.ec2.VpcEndpoint
    interface_endpoints: dict[str, aws.ec2.VpcEndpoint]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:network:Network", name, None, opts)
        tags = args.tagging.tags(COMPONENT)
        prefix = args.environment
        child = pulumi.ResourceOptions(parent=self)
        layout = subnet_layout(args.cidr, args.az_count)
        zones = tuple(args.availability_zones or availability_zones(args.region, args.az_count))
        if len(zones) != args.az_count:
            raise ComponentError(f"{len(zones)} availability zones given for az_count {args.az_count}")
        self.availability_zones = zones

        def named(suffix: str) -> dict[str, str]:
            return {**tags, "Name": f"{prefix}-{suffix}"}

        self.vpc = aws.ec2.Vpc(
            prefix,
            cidr_block=args.cidr,
            enable_dns_hostnames=True,  # EKS private endpoints and VPC endpoints resolve by DNS
            enable_dns_support=True,
            tags=named("vpc"),
            opts=child,
        )
        # Lock the default security group (no rules): nothing should use it by accident.
        aws.ec2.DefaultSecurityGroup(prefix, vpc_id=self.vpc.id, tags=named("default-deny"), opts=child)
        igw = aws.ec2.InternetGateway(prefix, vpc_id=self.vpc.id, tags=named("igw"), opts=child)

        public_rt = aws.ec2.RouteTable(
            f"{prefix}-public", vpc_id=self.vpc.id, tags=named("public"), opts=child
        )
        aws.ec2.Route(
            f"{prefix}-public-internet",
            route_table_id=public_rt.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=igw.id,
            opts=child,
        )

        self.public_subnets = []
        self.private_subnets = []
        for zone, public_cidr, private_cidr in zip(zones, layout.public, layout.private, strict=True):
            public = aws.ec2.Subnet(
                f"{prefix}-public-{zone}",
                vpc_id=self.vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                # Load balancers get public addresses from the ELB service; instances here never do.
                map_public_ip_on_launch=False,
                tags={**named(f"public-{zone}"), ELB_ROLE_TAG: "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{prefix}-public-{zone}", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            private = aws.ec2.Subnet(
                f"{prefix}-private-{zone}",
                vpc_id=self.vpc.id,
                cidr_block=private_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**named(f"private-{zone}"), INTERNAL_ELB_ROLE_TAG: "1", **args.private_subnet_tags},
                opts=child,
            )
            self.public_subnets.append(public)
            self.private_subnets.append(private)

        self.nat_gateways = []
        for zone, public in list(zip(zones, self.public_subnets, strict=True))[
            : nat_gateway_count(args.nat_gateways, args.az_count)
        ]:
            eip = aws.ec2.Eip(f"{prefix}-nat-{zone}", domain="vpc", tags=named(f"nat-{zone}"), opts=child)
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{prefix}-{zone}",
                    subnet_id=public.id,
                    allocation_id=eip.id,
                    connectivity_type="public",
                    tags=named(f"nat-{zone}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )

        self.private_route_tables = []
        for i, (zone, private) in enumerate(zip(zones, self.private_subnets, strict=True)):
            table = aws.ec2.RouteTable(
                f"{prefix}-private-{zone}", vpc_id=self.vpc.id, tags=named(f"private-{zone}"), opts=child
            )
            # Per-AZ NAT keeps an AZ's egress in that AZ; a single NAT serves every table.
            nat = self.nat_gateways[i] if i < len(self.nat_gateways) else self.nat_gateways[0]
            aws.ec2.Route(
                f"{prefix}-private-{zone}-egress",
                route_table_id=table.id,
                destination_cidr_block=ANYWHERE,
                nat_gateway_id=nat.id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{prefix}-private-{zone}", subnet_id=private.id, route_table_id=table.id, opts=child
            )
            self.private_route_tables.append(table)

        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{prefix}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in self.private_route_tables],
            tags=named("s3"),
            opts=child,
        )
        self.interface_endpoints = create_interface_endpoints(
            EndpointPlacement(
                prefix=prefix,
                region=args.region,
                vpc=self.vpc,
                vpc_cidr=args.cidr,
                subnet_ids=self.private_subnet_ids,
                gateway=self.s3_endpoint,
            ),
            interface_services(args.interface_services),
            named,
            parent=self,
        )

        self._flow_logs(prefix, args, tags)
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": [s.id for s in self.public_subnets],
            }
        )

    @property
    def private_subnet_ids(self) -> list[pulumi.Output[str]]:
        """Ids of the node subnets, in AZ order."""
        return [s.id for s in self.private_subnets]

    def private_subnet_in(self, zone: str) -> aws.ec2.Subnet:
        """The private subnet of one AZ (placement-group pools keep all nodes in one AZ)."""
        return self.private_subnets[self.availability_zones.index(zone)]

    def _flow_logs(self, prefix: str, args: NetworkArgs, tags: dict[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        group = aws.cloudwatch.LogGroup(
            f"{prefix}-flow-logs",
            name=flow_log_group_name(prefix),
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.logs_key.arn if args.logs_key is not None else None,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{prefix}-flow-logs",
            assume_role_policy=service_trust_policy("vpc-flow-logs.amazonaws.com"),
            description=f"mlenv {prefix}: deliver VPC flow logs to CloudWatch Logs",
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{prefix}-flow-logs", role=role.id, policy=group.arn.apply(flow_logs_policy), opts=child
        )
        aws.ec2.FlowLog(
            f"{prefix}-vpc",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )
