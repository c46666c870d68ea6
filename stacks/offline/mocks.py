"""Deterministic provider answers for the offline engine.

The offline engine has no cloud, so ids, ARNs and computed attributes come from here. They are
derived from the resource's URN and inputs only, so two runs of the same program give the same
plan. Each provider attribute a component reads (an EKS cluster's endpoint, a role's ARN ...)
has an entry in ``COMPUTED``; an invoke without an entry in ``INVOKES`` is an error that names
it, never a silent empty answer.
"""

from __future__ import annotations

import hashlib
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import Mocks
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs

from stacks.errors import OfflineEngineError
from stacks.offline.plan import is_secret, unwrap_secrets

ACCOUNT_ID = "123456789012"
"""AWS's documentation account id: obviously not a real account."""


@dataclass(frozen=True)
class MockContext:
    """What a computed-attribute function may use: the resource and where it would live."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    region: str
    account: str = ACCOUNT_ID
    subnet_zones: Mapping[str, str] = field(default_factory=dict)
    """AZ of each subnet registered so far, by subnet id (interface endpoints report one name per AZ)."""

    @property
    def suffix(self) -> str:
        """7 hex characters, like Pulumi's auto-naming, but stable for a given type and name."""
        return hashlib.sha256(f"{self.type}::{self.name}".encode()).hexdigest()[:7]

    @property
    def physical_name(self) -> str:
        """The name Pulumi's auto-naming would give: ``<name>-<7 hex>``, unless one is set."""
        value: Any = self.inputs
        default = ("metadata", "name") if self.type.startswith("kubernetes:") else ("name",)
        for key in NAME_PROPERTY.get(self.type, default):
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value:
            return value
        return f"{self.name}-{self.suffix}"

    @property
    def uuid(self) -> str:
        """A stable UUID for resources AWS identifies by one (KMS keys)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlenv:{self.type}:{self.name}"))

    @property
    def service(self) -> str:
        """``aws:s3/bucket:Bucket`` -> ``s3``."""
        return self.type.split(":")[1].split("/")[0]

    def arn(self, resource: str, service: str | None = None) -> str:
        """A regional ARN in this account (``service`` when the type token's module is not it)."""
        return f"arn:aws:{service or self.service}:{self.region}:{self.account}:{resource}"


ComputedFn = Callable[[MockContext], dict[str, Any]]

NAME_PROPERTY: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucket",),
}
"""Where a resource type keeps its physical name (default: ``name``; Kubernetes: metadata.name)."""

ID_IS_NAME = {
    "aws:s3/bucket:Bucket",
    "aws:iam/role:Role",
    "aws:dynamodb/table:Table",
    "aws:ecr/repository:Repository",
    "aws:eks/cluster:Cluster",
    "aws:glue/catalogDatabase:CatalogDatabase",
    "aws:athena/workgroup:Workgroup",
}
"""Types whose AWS id is their name, as the provider reports it (a bucket's id is its name)."""


EC2_ID_PREFIXES: dict[str, str] = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/flowLog:FlowLog": "fl",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/placementGroup:PlacementGroup": "pg",
}
"""EC2 ids are ``<prefix>-<17 hex>`` (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/
API_Vpc.html and the other shapes' ``...Id`` members, e.g. ``vpc-1a2b3c4d5e6f1a2b3``)."""

ArnFn = Callable[["MockContext", str], str]

EC2_ARN_RESOURCE_TYPES: dict[str, str] = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/routeTable:RouteTable": "route-table",
    "aws:ec2/internetGateway:InternetGateway": "internet-gateway",
    "aws:ec2/eip:Eip": "elastic-ip",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpc-endpoint",
    "aws:ec2/securityGroup:SecurityGroup": "security-group",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "security-group",
    "aws:ec2/flowLog:FlowLog": "vpc-flow-log",
    "aws:ec2/launchTemplate:LaunchTemplate": "launch-template",
}
"""EC2 ARNs are ``arn:aws:ec2:<region>:<account>:<resource-type>/<id>`` (Service Authorization
Reference, Amazon EC2, "Resource types")."""


def _ec2_arn(c: MockContext, resource_id: str) -> str:
    return c.arn(f"{EC2_ARN_RESOURCE_TYPES[c.type]}/{resource_id}", "ec2")


ARNS: dict[str, ArnFn] = {
    **dict.fromkeys(EC2_ARN_RESOURCE_TYPES, _ec2_arn),
    # arn:aws:logs:<region>:<account>:log-group:<name> (CloudWatch Logs user guide,
    # iam-access-control-overview-cwl.html; the provider reports it without the trailing ":*")
    "aws:cloudwatch/logGroup:LogGroup": lambda c, _i: c.arn(f"log-group:{c.physical_name}", "logs"),
    "aws:cloudwatch/eventRule:EventRule": lambda c, _i: c.arn(f"rule/{c.physical_name}", "events"),
    "aws:sqs/queue:Queue": lambda c, _i: c.arn(c.physical_name, "sqs"),
    "aws:eks/addon:Addon": lambda c, _i: c.arn(
        f"addon/{c.inputs.get('clusterName')}/{c.inputs.get('addonName')}/{c.uuid}", "eks"
    ),
    "aws:eks/accessEntry:AccessEntry": lambda c, _i: c.arn(
        f"access-entry/{c.inputs.get('clusterName')}/role/{c.account}/"
        f"{str(c.inputs.get('principalArn', '')).rsplit('/', 1)[-1]}/{c.uuid}",
        "eks",
    ),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": lambda c, _i: c.arn(
        f"podidentityassociation/{c.inputs.get('clusterName')}/a-{c.suffix}0000000000", "eks"
    ),
}
"""Where a type's ARN is not built by its ``COMPUTED`` entry: the ARN AWS reports, from the resource's
id. A type in neither table gets no ARN (most settings resources have none)."""


def _generic_aws(ctx: MockContext) -> dict[str, Any]:
    return {"name": ctx.physical_name}


COMPUTED: dict[str, ComputedFn] = {
    "aws:s3/bucket:Bucket": lambda c: {
        "bucket": c.physical_name,
        "arn": f"arn:aws:s3:::{c.physical_name}",
        "bucketDomainName": f"{c.physical_name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{c.physical_name}.s3.{c.region}.amazonaws.com",
        "region": c.region,
    },
    "aws:kms/key:Key": lambda c: {"arn": c.arn(f"key/{c.uuid}"), "keyId": c.uuid},
    "aws:kms/alias:Alias": lambda c: {"arn": c.arn(c.physical_name)},
    "aws:iam/role:Role": lambda c: {
        "arn": f"arn:aws:iam::{c.account}:role/{c.physical_name}",
        "name": c.physical_name,
        "uniqueId": "AROA" + c.suffix.upper() * 2,
    },
    "aws:iam/policy:Policy": lambda c: {
        "arn": f"arn:aws:iam::{c.account}:policy/{c.physical_name}",
        "name": c.physical_name,
    },
    "aws:ecr/repository:Repository": lambda c: {
        "arn": c.arn(f"repository/{c.physical_name}"),
        "name": c.physical_name,
        "repositoryUrl": f"{c.account}.dkr.ecr.{c.region}.amazonaws.com/{c.physical_name}",
        "registryId": c.account,
    },
    "aws:dynamodb/table:Table": lambda c: {
        "arn": c.arn(f"table/{c.physical_name}"),
        "name": c.physical_name,
    },
    "aws:eks/cluster:Cluster": lambda c: _eks_cluster(c),
    "aws:glue/catalogDatabase:CatalogDatabase": lambda c: {
        "arn": c.arn(f"database/{c.physical_name}"),
        "name": c.physical_name,
        "catalogId": c.account,
    },
    "aws:athena/workgroup:Workgroup": lambda c: {
        "arn": c.arn(f"workgroup/{c.physical_name}"),
        "name": c.physical_name,
    },
    "aws:elasticache/subnetGroup:SubnetGroup": lambda c: {
        "arn": c.arn(f"subnetgroup:{c.physical_name}"),
        "name": c.physical_name,
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda c: _replication_group(c),
    # Dynamic providers run their code only under a real engine. The one mlenv has,
    # components/random_token.py, outputs "token" (its None input is not sent, so key on purpose).
    "pulumi-python:dynamic:Resource": lambda c: (
        {"token": f"offline-token-{c.suffix}"} if "purpose" in c.inputs else {}
    ),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": lambda c: {
        "arn": f"arn:aws:iam::{c.account}:oidc-provider/{str(c.inputs.get('url', '')).removeprefix('https://')}",
    },
    "aws:ec2/launchTemplate:LaunchTemplate": lambda c: {
        "latestVersion": 1,
        "defaultVersion": 1,
        "name": c.physical_name,
    },
    "aws:ec2/placementGroup:PlacementGroup": lambda c: {
        "arn": c.arn(f"placement-group/{c.physical_name}"),
        "name": c.physical_name,
        "placementGroupId": mock_id(c),
    },
    "aws:eks/nodeGroup:NodeGroup": lambda c: {
        "arn": c.arn(f"nodegroup/{c.inputs.get('clusterName')}/{c.inputs.get('nodeGroupName')}/{c.uuid}"),
        "status": "ACTIVE",
    },
    "aws:ec2/vpcEndpoint:VpcEndpoint": lambda c: _vpc_endpoint(c),
    # SQS reports a queue's URL (https://sqs.<region>.amazonaws.com/<account>/<name>) beside its ARN.
    "aws:sqs/queue:Queue": lambda c: {
        "arn": c.arn(c.physical_name, "sqs"),
        "name": c.physical_name,
        "url": f"https://sqs.{c.region}.amazonaws.com/{c.account}/{c.physical_name}",
    },
}


def _base36(text: str, length: int) -> str:
    """``length`` characters of [0-9a-z], stable for ``text``."""
    number, digits = (
        int(hashlib.sha256(text.encode()).hexdigest(), 16),
        string.digits + string.ascii_lowercase,
    )
    out = ""
    for _ in range(length):
        number, digit = divmod(number, 36)
        out += digits[digit]
    return out


def _vpc_endpoint(c: MockContext) -> dict[str, Any]:
    """An interface endpoint's DNS entries, as DescribeVpcEndpoints reports them: the regional name
    ``vpce-<id>-<8 chars>.<service>.<region>.vpce.amazonaws.com``, one zonal name per subnet's AZ
    (``-<az>`` after the 8 chars), both in the region's vpce hosted zone, then, with private DNS, the
    service's own name in its private hosted zone
    (https://docs.aws.amazon.com/cli/latest/reference/ec2/describe-vpc-endpoints.html, example output;
    https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html).
    A subnet the mocks have not seen is placed in the region's AZs by position (a, b ...)."""
    if c.inputs.get("vpcEndpointType") != "Interface":
        return {}
    service = str(c.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
    label = f"{mock_id(c)}-{_base36(c.name, 8)}"
    domain = f"{service}.{c.region}.vpce.amazonaws.com"
    vpce_zone = "Z" + _base36(f"vpce:{c.region}", 13).upper()
    subnets = [str(s) for s in c.inputs.get("subnetIds") or []]
    zones = [c.subnet_zones.get(s, f"{c.region}{string.ascii_lowercase[i]}") for i, s in enumerate(subnets)]
    entries = [{"dnsName": f"{label}.{domain}", "hostedZoneId": vpce_zone}] + [
        {"dnsName": f"{label}-{zone}.{domain}", "hostedZoneId": vpce_zone} for zone in zones
    ]
    if c.inputs.get("privateDnsEnabled"):
        private_zone = "Z" + _base36(f"private:{c.name}", 13).upper()
        entries.append({"dnsName": f"{service}.{c.region}.amazonaws.com", "hostedZoneId": private_zone})
    return {"dnsEntries": entries}


def _region_code(region: str) -> str:
    """``us-west-2`` -> ``usw2``, as ElastiCache writes regions into endpoint host names."""
    *words, number = region.split("-")
    return "".join(word[0] if len(word) > 2 else word for word in words) + number


def _replication_group(c: MockContext) -> dict[str, Any]:
    """ElastiCache names a replication group by its id and reports TLS endpoints under it."""
    group = str(c.inputs.get("replicationGroupId") or c.physical_name)
    host = f"{group}.{c.suffix}.{_region_code(c.region)}.cache.amazonaws.com"
    return {
        "arn": c.arn(f"replicationgroup:{group}"),
        "replicationGroupId": group,
        "primaryEndpointAddress": f"master.{host}",
        "readerEndpointAddress": f"replica.{host}",
        "memberClusters": [
            f"{group}-{i:03d}" for i in range(1, int(c.inputs.get("numCacheClusters", 1)) + 1)
        ],
    }


def _eks_cluster(c: MockContext) -> dict[str, Any]:
    """What EKS reports once a cluster exists: endpoint, CA, OIDC issuer, cluster security group."""
    oidc_id = hashlib.sha256(c.physical_name.encode()).hexdigest()[:32].upper()
    vpc_config = c.inputs.get("vpcConfig")
    return {
        "arn": c.arn(f"cluster/{c.physical_name}"),
        "name": c.physical_name,
        "endpoint": f"https://{oidc_id}.gr7.{c.region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm9mZmxpbmUK"},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{c.region}.amazonaws.com/id/{oidc_id}"}]}],
        "platformVersion": "eks.1",
        "status": "ACTIVE",
        "vpcConfig": {
            **(dict(vpc_config) if isinstance(vpc_config, Mapping) else {}),
            "clusterSecurityGroupId": "sg-" + hashlib.sha256(c.physical_name.encode()).hexdigest()[:17],
            "vpcId": "vpc-" + hashlib.sha256(str(vpc_config).encode()).hexdigest()[:17],
        },
    }


INVOKES: dict[str, Callable[[Mapping[str, Any], str], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _a, _r: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline",
        "userId": "AIDAOFFLINE",
        "id": ACCOUNT_ID,
    },
    "aws:index/getPartition:getPartition": lambda _a, _r: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "id": "aws",
    },
    "aws:index/getRegion:getRegion": lambda _a, region: {"name": region, "region": region, "id": region},
}


def mock_id(ctx: MockContext) -> str:
    """The id AWS gives: the name for ``ID_IS_NAME`` types, ``<prefix>-<17 hex>`` for EC2, the key id
    for KMS keys, else ``<name>-id``."""
    if ctx.type in ID_IS_NAME:
        return ctx.physical_name
    prefix = EC2_ID_PREFIXES.get(ctx.type)
    if prefix is not None:
        return f"{prefix}-{hashlib.sha256(f'{ctx.type}::{ctx.name}'.encode()).hexdigest()[:17]}"
    if ctx.type == "aws:kms/key:Key":
        return ctx.uuid
    return f"{ctx.physical_name}-id"


class OfflineMocks(Mocks):
    """Deterministic ids and computed attributes for every resource; table-driven invokes."""

    def __init__(self, region: str, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.region = region
        self.stack_outputs = dict(stack_outputs or {})
        self.subnet_zones: dict[str, str] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """Echo the inputs, add the computed attributes, and an id derived from the name."""
        ctx = MockContext(
            type=args.typ,
            name=args.name,
            inputs=args.inputs,
            region=self.region,
            subnet_zones=self.subnet_zones,
        )
        if args.typ == "pulumi:pulumi:StackReference":
            return self._stack_reference(args)
        if not args.custom:
            return None, {}
        computed = COMPUTED.get(args.typ)
        if computed is None:
            computed = _generic_aws if args.typ.startswith("aws:") else (lambda _c: {})
        state = {**dict(args.inputs), **computed(ctx)}
        if args.typ.startswith("kubernetes:"):
            return ctx.physical_name, state
        resource_id = mock_id(ctx)
        if args.typ == "aws:ec2/subnet:Subnet":
            self.subnet_zones[resource_id] = str(args.inputs.get("availabilityZone", ""))
        if args.typ in ARNS:
            state["arn"] = ARNS[args.typ](ctx, resource_id)
        return resource_id, state

    def _stack_reference(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        ref = str(args.inputs.get("name", args.name))
        outputs = self.stack_outputs.get(ref)
        if outputs is None:
            known = ", ".join(sorted(self.stack_outputs)) or "none"
            raise OfflineEngineError(
                f"the program references stack {ref!r}, whose offline outputs are not available "
                f"(available: {known})"
            )
        # A plan keeps secret outputs wrapped; a StackReference hands them out plain and names them.
        secret_names = sorted(key for key, value in outputs.items() if is_secret(value))
        plain = {key: unwrap_secrets(value) for key, value in outputs.items()}
        return ref, {"name": ref, "outputs": plain, "secretOutputNames": secret_names}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        """Answer a provider function from the ``INVOKES`` table."""
        answer = INVOKES.get(args.token)
        if answer is None:
            raise OfflineEngineError(
                f"the offline engine has no answer for the provider function {args.token!r}; "
                "components should not look up what the spec can state "
                "(or add a deterministic answer to stacks/offline/mocks.py INVOKES)"
            )
        return answer(args.args, self.region), []
