"""What lives inside a VPC, and which of it a controller the platform runs has made.

The sweep lists, per VPC of the stack: instances, network interfaces, security groups, load
balancers (ELBv2), volumes attached to the VPC's instances, NAT and internet gateways and VPC
endpoints. Each comes back as a :class:`LiveResource` with its tags, so one rule decides whether it is
owned (its id is in the state), mlenv-tagged (another mlenv stack, e.g. an experiment), made by a
controller (:data:`CONTROLLER_TAGS`), or unmanaged: drift.

Network interfaces that AWS services create for themselves (``RequesterManaged``, or an
``InterfaceType`` other than ``interface``: NAT gateways, endpoints, load balancers) and interfaces
attached to an instance (the instance is judged instead) are not listed. The VPC's ``default``
security group is made by AWS with the VPC (mlenv adopts it as ``aws:ec2/defaultSecurityGroup``).
Volumes are swept when attached to an instance of the VPC and not deleted with it (a volume
launched with its instance, ``DeleteOnTermination``, is judged with the instance); unattached volumes
cannot be placed in a VPC (a volume belongs to a zone) and are not swept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CLUSTER = "{cluster}"


@dataclass(frozen=True)
class ControllerTag:
    """A tag a controller puts on everything it creates; ``value`` None matches any value."""

    key: str
    value: str | None
    controller: str
    source: str


CONTROLLER_TAGS: tuple[ControllerTag, ...] = (
    ControllerTag(
        f"kubernetes.io/cluster/{CLUSTER}",
        "owned",
        "Karpenter, EKS managed node groups, the AWS cloud provider",
        "Karpenter v1.14.1 controller policy (cloudformation.yaml, AllowScopedEC2InstanceAccessActions: "
        "aws:RequestTag/kubernetes.io/cluster/${ClusterName} = owned on instances, volumes, ENIs)",
    ),
    ControllerTag(
        "karpenter.sh/nodepool",
        None,
        "Karpenter",
        "Karpenter v1.14.1 controller policy: every RunInstances/CreateFleet carries "
        "aws:RequestTag/karpenter.sh/nodepool",
    ),
    ControllerTag(
        "eks:eks-cluster-name",
        CLUSTER,
        "Karpenter",
        "Karpenter v1.14.1 controller policy: aws:RequestTag/eks:eks-cluster-name = ${ClusterName}",
    ),
    ControllerTag(
        "elbv2.k8s.aws/cluster",
        CLUSTER,
        "AWS Load Balancer Controller",
        "aws-load-balancer-controller tags its load balancers, target groups and security groups "
        "elbv2.k8s.aws/cluster=<cluster> (kubernetes-sigs/aws-load-balancer-controller#3701)",
    ),
    ControllerTag(
        "aws:eks:cluster-name",
        CLUSTER,
        "EKS (managed node groups)",
        "AWS-reserved aws: tags are set by AWS services only (ELB tagging restrictions: the aws: "
        "prefix is reserved for AWS use)",
    ),
    ControllerTag(
        "cluster.k8s.amazonaws.com/name",
        CLUSTER,
        "Amazon VPC CNI",
        "amazon-vpc-cni-k8s tags the ENIs it allocates with cluster.k8s.amazonaws.com/name",
    ),
    ControllerTag(
        "ebs.csi.aws.com/cluster",
        "true",
        "Amazon EBS CSI driver",
        "aws-ebs-csi-driver tags the volumes it provisions ebs.csi.aws.com/cluster=true",
    ),
)
"""How controller-made resources are recognised; a resource with one of these tags is not drift."""


@dataclass(frozen=True)
class LiveResource:
    """One resource found in a VPC."""

    kind: str
    """``ec2:instance``, ``ec2:security-group``, ``elasticloadbalancing:loadbalancer`` ..."""
    id: str
    tags: Mapping[str, str]
    arn: str | None = None
    created: str | None = None
    description: str = ""


def made_by_controller(tags: Mapping[str, str], clusters: set[str]) -> str | None:
    """The controller whose tag ``tags`` carries for one of ``clusters``, or None."""
    for rule in CONTROLLER_TAGS:
        names = clusters if CLUSTER in rule.key or rule.value == CLUSTER else {""}
        for cluster in names:
            key = rule.key.replace(CLUSTER, cluster)
            if key not in tags:
                continue
            expected = rule.value.replace(CLUSTER, cluster) if rule.value is not None else None
            if expected is None or tags[key] == expected or (rule.value == "owned" and tags[key] == "shared"):
                return rule.controller
    return None


def _tags(items: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or []}


def _time(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


Guard = Callable[[str, Callable[[], Iterator[LiveResource]]], Iterator[LiveResource]]


def vpc_resources(ec2: Any, elbv2: Any, vpc_id: str, guard: Guard) -> Iterator[LiveResource]:
    """Everything of interest in ``vpc_id``; each API call wrapped by ``guard(action, call)``, which
    turns a missing permission into a finding and keeps the sweep going."""
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc_id]}]
    instance_ids: list[str] = []
    with_instance: set[str] = set()

    def instances() -> Iterator[LiveResource]:
        for page in ec2.get_paginator("describe_instances").paginate(Filters=vpc_filter):
            for reservation in page.get("Reservations", []):
                for item in reservation.get("Instances", []):
                    if item.get("State", {}).get("Name") in ("terminated", "shutting-down"):
                        continue
                    instance_ids.append(item["InstanceId"])
                    for mapping in item.get("BlockDeviceMappings", []):
                        ebs = mapping.get("Ebs", {})
                        if ebs.get("DeleteOnTermination") and ebs.get("VolumeId"):
                            with_instance.add(ebs["VolumeId"])
                    yield LiveResource(
                        "ec2:instance",
                        item["InstanceId"],
                        _tags(item.get("Tags")),
                        created=_time(item.get("LaunchTime")),
                    )

    def interfaces() -> Iterator[LiveResource]:
        for page in ec2.get_paginator("describe_network_interfaces").paginate(Filters=vpc_filter):
            for item in page.get("NetworkInterfaces", []):
                if item.get("RequesterManaged") or item.get("InterfaceType", "interface") != "interface":
                    continue
                if item.get("Attachment", {}).get("InstanceId"):
                    continue
                yield LiveResource(
                    "ec2:network-interface",
                    item["NetworkInterfaceId"],
                    _tags(item.get("TagSet")),
                    description=item.get("Description", ""),
                )

    def security_groups() -> Iterator[LiveResource]:
        for page in ec2.get_paginator("describe_security_groups").paginate(Filters=vpc_filter):
            for item in page.get("SecurityGroups", []):
                if item.get("GroupName") == "default":
                    continue
                yield LiveResource(
                    "ec2:security-group",
                    item["GroupId"],
                    _tags(item.get("Tags")),
                    description=item.get("GroupName", ""),
                )

    def load_balancers() -> Iterator[LiveResource]:
        found = []
        for page in elbv2.get_paginator("describe_load_balancers").paginate():
            found += [lb for lb in page.get("LoadBalancers", []) if lb.get("VpcId") == vpc_id]
        for start in range(0, len(found), 20):  # DescribeTags takes at most 20 ARNs
            batch = found[start : start + 20]
            described = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"] for lb in batch])
            tags = {d["ResourceArn"]: _tags(d.get("Tags")) for d in described.get("TagDescriptions", [])}
            for lb in batch:
                yield LiveResource(
                    "elasticloadbalancing:loadbalancer",
                    lb["LoadBalancerName"],
                    tags.get(lb["LoadBalancerArn"], {}),
                    arn=lb["LoadBalancerArn"],
                    created=_time(lb.get("CreatedTime")),
                )

    def volumes() -> Iterator[LiveResource]:
        for start in range(0, len(instance_ids), 200):
            attached = [{"Name": "attachment.instance-id", "Values": instance_ids[start : start + 200]}]
            for page in ec2.get_paginator("describe_volumes").paginate(Filters=attached):
                for item in page.get("Volumes", []):
                    attachments = item.get("Attachments", [])
                    if item["VolumeId"] in with_instance or (
                        attachments and all(a.get("DeleteOnTermination") for a in attachments)
                    ):
                        continue  # made with its instance (root / launch-template volume): judged with it
                    yield LiveResource(
                        "ec2:volume",
                        item["VolumeId"],
                        _tags(item.get("Tags")),
                        created=_time(item.get("CreateTime")),
                    )

    def nat_gateways() -> Iterator[LiveResource]:
        for page in ec2.get_paginator("describe_nat_gateways").paginate(Filters=vpc_filter):
            for item in page.get("NatGateways", []):
                if item.get("State") in ("deleted", "deleting"):
                    continue
                yield LiveResource(
                    "ec2:natgateway",
                    item["NatGatewayId"],
                    _tags(item.get("Tags")),
                    created=_time(item.get("CreateTime")),
                )

    def internet_gateways() -> Iterator[LiveResource]:
        attached = [{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
        for page in ec2.get_paginator("describe_internet_gateways").paginate(Filters=attached):
            for item in page.get("InternetGateways", []):
                yield LiveResource("ec2:internet-gateway", item["InternetGatewayId"], _tags(item.get("Tags")))

    def endpoints() -> Iterator[LiveResource]:
        for page in ec2.get_paginator("describe_vpc_endpoints").paginate(Filters=vpc_filter):
            for item in page.get("VpcEndpoints", []):
                yield LiveResource(
                    "ec2:vpc-endpoint",
                    item["VpcEndpointId"],
                    _tags(item.get("Tags")),
                    created=_time(item.get("CreationTimestamp")),
                )

    yield from guard("ec2:DescribeInstances", instances)
    yield from guard("ec2:DescribeNetworkInterfaces", interfaces)
    yield from guard("ec2:DescribeSecurityGroups", security_groups)
    yield from guard("elasticloadbalancing:DescribeLoadBalancers", load_balancers)
    yield from guard("ec2:DescribeVolumes", volumes)
    yield from guard("ec2:DescribeNatGateways", nat_gateways)
    yield from guard("ec2:DescribeInternetGateways", internet_gateways)
    yield from guard("ec2:DescribeVpcEndpoints", endpoints)
