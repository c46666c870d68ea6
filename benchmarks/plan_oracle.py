"""An oracle for offline plans, independent of ``stacks.spec``: would AWS or Kubernetes refuse this?

Used by ``benchmarks/fuzz_stacks.py``: a stack that plans cleanly must pass it. It reads only the
plan (what the program registered) and outside references: botocore's request shape constraints
(min/max/pattern) for names, the Kubernetes apimachinery validation regexes for object names and
labels, ``ipaddress`` for networks, botocore's partition data for regions, and the documented
limits botocore does not carry (S3 bucket naming, ElastiCache ids, 50 tags per resource).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import botocore.loaders
import botocore.session

from stacks.offline.plan import Plan, PlannedResource

NAME_INPUT = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:dynamodb/table:Table": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:elasticache/replicationGroup:ReplicationGroup": "replicationGroupId",
}
AUTONAMED_TYPES = {
    "aws:s3/bucket:Bucket",
    "aws:iam/role:Role",
    "aws:iam/policy:Policy",
    "aws:ecr/repository:Repository",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:elasticache/replicationGroup:ReplicationGroup",
}
BOTOCORE_SHAPES = {
    "aws:iam/role:Role": ("iam", "CreateRole", ("RoleName",)),
    "aws:iam/policy:Policy": ("iam", "CreatePolicy", ("PolicyName",)),
    "aws:ecr/repository:Repository": ("ecr", "CreateRepository", ("repositoryName",)),
    "aws:eks/cluster:Cluster": ("eks", "CreateCluster", ("name",)),
    "aws:dynamodb/table:Table": ("dynamodb", "CreateTable", ("TableName",)),
    "aws:athena/workgroup:Workgroup": ("athena", "CreateWorkGroup", ("Name",)),
    "aws:glue/catalogDatabase:CatalogDatabase": ("glue", "CreateDatabase", ("DatabaseInput", "Name")),
    "aws:kms/alias:Alias": ("kms", "CreateAlias", ("AliasName",)),
    "aws:cloudwatch/logGroup:LogGroup": ("logs", "CreateLogGroup", ("logGroupName",)),
    "aws:ec2/launchTemplate:LaunchTemplate": ("ec2", "CreateLaunchTemplate", ("LaunchTemplateName",)),
}
# k8s.io/apimachinery/pkg/util/validation/validation.go
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
KUBELET_FORBIDDEN = ("kubernetes.io", "k8s.io")


@cache
def _shape_constraints(service: str, operation: str, members: tuple[str, ...]) -> tuple[int, int, str]:
    model = botocore.session.get_session().get_service_model(service)
    shape: Any = model.operation_model(operation).input_shape
    for member in members:
        shape = shape.members[member]
    meta = shape.metadata
    pattern = str(meta.get("pattern", ""))
    try:
        re.compile(pattern)
    except re.error:  # Java-only syntax (Glue's unicode ranges): lengths are still checked
        pattern = ""
    return int(meta.get("min", 1)), int(meta.get("max", 10**6)), pattern


def physical_name(resource: PlannedResource) -> str | None:
    """The name AWS sees: the explicit name input, or the longest auto-name (name + '-' + 7)."""
    inputs = resource.inputs
    if resource.type.startswith("kubernetes:"):
        metadata = inputs.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        return name if isinstance(name, str) else None
    name = inputs.get(NAME_INPUT.get(resource.type, "name"))
    if isinstance(name, str) and name:
        return name
    if resource.type in AUTONAMED_TYPES:
        return f"{resource.name}-abcdefg"
    return None


def _name_problems(resource: PlannedResource, name: str) -> Iterator[str]:
    shape = BOTOCORE_SHAPES.get(resource.type)
    if shape is not None:
        low, high, pattern = _shape_constraints(*shape)
        if not low <= len(name) <= high:
            yield f"{name!r}: length {len(name)} outside {low}..{high} (botocore {shape[1]})"
        if pattern and not re.fullmatch(pattern, name):
            yield f"{name!r}: does not match botocore's {pattern}"
    if resource.type == "aws:s3/bucket:Bucket":
        # docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
        if not (3 <= len(name) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name)):
            yield f"bucket {name!r} breaks S3's length/character rules"
        if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or ".." in name:
            yield f"bucket {name!r} uses a reserved prefix or '..'"
    if resource.type == "aws:eks/nodeGroup:NodeGroup" and len(name) > 63:
        yield f"node group {name!r} is over 63 characters"
    if resource.type == "aws:elasticache/replicationGroup:ReplicationGroup" and (
        len(name) > 40 or "--" in name or not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]", name)
    ):
        yield f"replication group id {name!r} breaks ElastiCache's rules (40, letters/digits/-)"
    if resource.type == "kubernetes:core/v1:Namespace" and (
        len(name) > 63 or not DNS1123_LABEL.fullmatch(name) or name.startswith("kube-") or name == "default"
    ):
        yield f"namespace {name!r} is invalid or reserved"
    service = resource.type == "kubernetes:core/v1:Service"
    if service and (len(name) > 63 or not DNS1035_LABEL.fullmatch(name)):
        yield f"service {name!r} is not a DNS-1035 label"
    if resource.type.startswith("kubernetes:") and (len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name)):
        yield f"object name {name!r} is not a DNS-1123 subdomain"


def label_problems(labels: Mapping[str, Any], *, kubelet: bool = False) -> Iterator[str]:
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if not QUALIFIED_NAME.fullmatch(name) or len(name) > 63:
            yield f"label key {key!r}"
        if "/" in str(key) and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
            yield f"label key prefix {key!r}"
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.fullmatch(value):
            yield f"label value {key}={value!r}"
        forbidden = any(prefix == d or prefix.endswith("." + d) for d in KUBELET_FORBIDDEN)
        if kubelet and forbidden and not prefix.startswith(("node.kubernetes.io", "kubelet.kubernetes.io")):
            yield f"kubelet refuses label {key!r}"


def _tag_problems(tags: Mapping[str, Any]) -> Iterator[str]:
    # docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html
    if len(tags) > 50:
        yield f"{len(tags)} tags (AWS allows 50)"
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(str(value)) > 256:
            yield f"tag {key!r} too long"


def _network_problems(resource: PlannedResource, service_cidr: str | None) -> Iterator[str]:
    if resource.type == "aws:ec2/vpc:Vpc":
        cidr = ipaddress.IPv4Network(resource.inputs["cidrBlock"])
        rfc1918 = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
        shared = ipaddress.IPv4Network("100.64.0.0/10")
        if not any(cidr.subnet_of(n) for n in rfc1918) and not cidr.subnet_of(shared):
            yield f"VPC {cidr} is not a private range AWS accepts"
        if not 16 <= cidr.prefixlen <= 28:
            yield f"VPC {cidr} prefix outside /16../28"
        if service_cidr and cidr.overlaps(ipaddress.IPv4Network(service_cidr)):
            yield f"VPC {cidr} overlaps service CIDR {service_cidr}"
    if resource.type == "aws:eks/cluster:Cluster":
        config = resource.inputs.get("vpcConfig") or {}
        if config.get("endpointPublicAccess", True):
            cidrs = [ipaddress.ip_network(c) for c in config.get("publicAccessCidrs") or ["0.0.0.0/0"]]
            v4 = [c for c in cidrs if isinstance(c, ipaddress.IPv4Network)]
            if len(v4) != len(cidrs):
                yield "IPv6 public access CIDR on an IPv4 cluster"
            if sum(c.num_addresses for c in ipaddress.collapse_addresses(v4)) > 2**24:
                yield "public endpoint open to more than a /8"
            if any(not c.is_global for c in v4) or len(cidrs) > 40:
                yield "public access CIDRs private or more than 40"


def plan_problems(plan: Plan) -> list[str]:
    """Every reason AWS, EKS, the kubelet or the Kubernetes API would refuse the plan."""
    found: list[str] = []
    for urn, count in Counter(r.urn for r in plan.resources).items():
        if count > 1:
            found.append(f"duplicate URN {urn}")
    clusters = plan.of_type("aws:eks/cluster:Cluster")
    network_config = clusters[0].inputs.get("kubernetesNetworkConfig") if clusters else None
    service_cidr = network_config.get("serviceIpv4Cidr") if isinstance(network_config, Mapping) else None
    loader = botocore.loaders.create_loader().load_data("endpoints")
    aws_regions = next(p["regions"] for p in loader["partitions"] if p["partition"] == "aws")
    seen_names: Counter[tuple[str, str]] = Counter()
    for resource in plan.resources:
        where = f"{resource.type} {resource.name}"
        name = physical_name(resource)
        if name is not None:
            found += [f"{where}: {p}" for p in _name_problems(resource, name)]
            namespace = (resource.inputs.get("metadata") or {}).get("namespace", "")
            seen_names[(resource.type, f"{namespace}/{name}")] += 1
        tags = resource.inputs.get("tags")
        if isinstance(tags, Mapping):
            found += [f"{where}: {p}" for p in _tag_problems(tags)]
        metadata = resource.inputs.get("metadata")
        if isinstance(metadata, Mapping) and isinstance(metadata.get("labels"), Mapping):
            found += [f"{where}: {p}" for p in label_problems(metadata["labels"])]
        if resource.type == "aws:eks/nodeGroup:NodeGroup":
            node_labels = resource.inputs.get("labels") or {}
            found += [f"{where}: {p}" for p in label_problems(node_labels, kubelet=True)]
        if resource.type == "aws:ec2/launchTemplate:LaunchTemplate" and resource.inputs.get("userData"):
            found += [f"{where}: {p}" for p in _user_data_problems(str(resource.inputs["userData"]))]
        if resource.type == "pulumi:providers:aws" and resource.inputs.get("region") not in aws_regions:
            found.append(f"{where}: region {resource.inputs.get('region')!r} is not in the aws partition")
        found += [f"{where}: {p}" for p in _network_problems(resource, service_cidr)]
    found += [f"two {t} named {n}" for (t, n), c in seen_names.items() if c > 1 and t.startswith("aws:")]
    return found


def _user_data_problems(user_data: str) -> Iterator[str]:
    try:
        text = base64.b64decode(user_data).decode()
    except ValueError:
        text = user_data
    for match in re.finditer(r'"--node-labels=([^"]*)"', text):
        pairs: dict[str, str] = {}
        for item in match.group(1).split(","):
            key, _, value = item.partition("=")
            pairs[key] = value
        yield from label_problems(pairs, kubelet=True)
