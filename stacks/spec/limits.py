"""The limits AWS and Kubernetes put on what the program emits: one table, each row with its source.

A name that is one character too long, or a label value with a comma, is refused by AWS or the
kubelet minutes into ``pulumi up``. Validation (``stacks.spec.name_rules``) reads this table only;
no rule spells a limit itself. Where botocore's service model states a constraint (``min``, ``max``,
``pattern`` of the request shape), the row cites that shape and ``tests/unit/test_limits.py``
compares the row with botocore; other rows cite the service's documentation.
"""

from __future__ import annotations

import importlib.resources
import ipaddress
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

AUTONAME_SUFFIX_LENGTH = 8
"""Pulumi auto-naming appends ``-`` and 7 random hex characters to the logical name (pulumi-aws
autonaming, ``<name>-<7 random>``); a check on an auto-named resource uses that longest name."""


@dataclass(frozen=True)
class NameLimit:
    """What one kind of name must look like, and where that rule is written."""

    what: str
    max_length: int
    pattern: str
    """Regular expression the whole name must match."""
    allowed: str
    """The pattern in words, for error messages."""
    source: str
    min_length: int = 1
    forbidden_prefixes: tuple[str, ...] = ()
    forbidden_suffixes: tuple[str, ...] = ()
    forbidden_substrings: tuple[str, ...] = ()

    def problems(self, name: str) -> list[str]:
        """Why AWS or Kubernetes would refuse ``name`` (empty when it would accept it)."""
        found: list[str] = []
        if len(name) > self.max_length:
            found.append(f"is {len(name)} characters, over the {self.max_length} allowed")
        if len(name) < self.min_length:
            found.append(f"is {len(name)} characters, under the {self.min_length} required")
        if not re.fullmatch(self.pattern, name, re.ASCII):  # AWS patterns are Java regexes: \w is ASCII
            found.append(f"is not {self.allowed}")
        found += [f"starts with the reserved {p!r}" for p in self.forbidden_prefixes if name.startswith(p)]
        found += [f"ends with the reserved {s!r}" for s in self.forbidden_suffixes if name.endswith(s)]
        found += [f"contains {s!r}" for s in self.forbidden_substrings if s in name]
        return found


K8S_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
"""k8s.io/apimachinery pkg/util/validation: qualifiedNameFmt, used for label values (max 63)."""
K8S_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
"""k8s.io/apimachinery pkg/util/validation: dns1123SubdomainFmt (label key prefixes, max 253)."""

NAME_LIMITS: dict[str, NameLimit] = {
    "s3-bucket": NameLimit(
        "S3 bucket name",
        63,
        r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
        "lowercase letters, digits, '.' and '-', starting and ending with a letter or digit",
        "docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
        min_length=3,
        forbidden_prefixes=("xn--", "sthree-", "amzn-s3-demo-"),
        forbidden_suffixes=("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"),
        forbidden_substrings=("..",),
    ),
    "iam-role": NameLimit(
        "IAM role name",
        64,
        r"[\w+=,.@-]+",
        "letters, digits and + = , . @ _ -",
        "botocore iam CreateRole RoleName (roleNameType: max 64, pattern [\\w+=,.@-]+)",
    ),
    "iam-policy": NameLimit(
        "IAM policy name",
        128,
        r"[\w+=,.@-]+",
        "letters, digits and + = , . @ _ -",
        "botocore iam CreatePolicy PolicyName (policyNameType: max 128)",
    ),
    "ecr-repository": NameLimit(
        "ECR repository name",
        256,
        r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*",
        "lowercase letters and digits separated by '.', '_', '__', '-' or '/'",
        "botocore ecr CreateRepository repositoryName (RepositoryName: min 2, max 256, pattern)",
        min_length=2,
    ),
    "eks-cluster": NameLimit(
        "EKS cluster name",
        100,
        r"[0-9A-Za-z][A-Za-z0-9\-_]*",
        "letters, digits, '-' and '_', starting with a letter or digit",
        "botocore eks CreateCluster name (ClusterName: max 100, pattern)",
    ),
    "eks-nodegroup": NameLimit(
        "EKS node group name",
        63,
        r"[0-9A-Za-z][A-Za-z0-9\-_]*",
        "letters, digits, '-' and '_', starting with a letter or digit",
        "docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html (nodegroupName)",
    ),
    "elasticache-replication-group": NameLimit(
        "ElastiCache replication group id",
        40,
        r"[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]",
        "letters, digits and '-', starting with a letter, not ending with '-'",
        "docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html",
        forbidden_substrings=("--",),
    ),
    "dynamodb-table": NameLimit(
        "DynamoDB table name",
        255,
        r"[a-zA-Z0-9_.-]+",
        "letters, digits, '_', '-' and '.'",
        "docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html",
        min_length=3,
    ),
    "glue-database": NameLimit(
        "Glue database name",
        255,
        r"[a-z0-9_]+",
        "lowercase letters, digits and '_' (what Athena can query)",
        "botocore glue CreateDatabase Name (NameString: max 255); Athena naming rules",
    ),
    "athena-workgroup": NameLimit(
        "Athena workgroup name",
        128,
        r"[a-zA-Z0-9._-]{1,128}",
        "letters, digits, '.', '_' and '-'",
        "botocore athena CreateWorkGroup Name (WorkGroupName: pattern [a-zA-Z0-9._-]{1,128})",
    ),
    "kms-alias": NameLimit(
        "KMS alias",
        256,
        r"alias/[a-zA-Z0-9/_-]+",
        "'alias/' then letters, digits, '/', '_' and '-'",
        "botocore kms CreateAlias AliasName (AliasNameType: max 256)",
        forbidden_prefixes=("alias/aws/",),
    ),
    "log-group": NameLimit(
        "CloudWatch log group name",
        512,
        r"[\.\-_/#A-Za-z0-9]+",
        "letters, digits and . - _ / #",
        "botocore logs CreateLogGroup logGroupName (LogGroupName: max 512, pattern)",
    ),
    "launch-template": NameLimit(
        "EC2 launch template name",
        128,
        r"[a-zA-Z0-9\(\)\.\-/_]+",
        "letters, digits and ( ) . - / _",
        "docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html",
        min_length=3,
    ),
    "k8s-namespace": NameLimit(
        "Kubernetes namespace",
        63,
        r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
        "a DNS-1123 label",
        "k8s.io/apimachinery validation IsDNS1123Label; kube-* namespaces belong to Kubernetes",
        forbidden_prefixes=("kube-",),
    ),
    "k8s-service": NameLimit(
        "Kubernetes Service name",
        63,
        r"[a-z]([-a-z0-9]*[a-z0-9])?",
        "a DNS-1035 label (starts with a letter)",
        "k8s.io/apimachinery validation IsDNS1035Label (Service names)",
    ),
    "k8s-label-value": NameLimit(
        "Kubernetes label value",
        63,
        K8S_LABEL_VALUE,
        "at most 63 of [A-Za-z0-9-_.], starting and ending with a letter or digit",
        "k8s.io/apimachinery validation IsValidLabelValue",
        min_length=0,
    ),
    "k8s-label-name": NameLimit(
        "Kubernetes label key name",
        63,
        r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]",
        "at most 63 of [A-Za-z0-9-_.], starting and ending with a letter or digit",
        "k8s.io/apimachinery validation IsQualifiedName",
    ),
    "k8s-label-prefix": NameLimit(
        "Kubernetes label key prefix",
        253,
        K8S_DNS_SUBDOMAIN,
        "a DNS-1123 subdomain",
        "k8s.io/apimachinery validation IsQualifiedName (prefix: IsDNS1123Subdomain)",
    ),
}
"""Every kind of name the program emits, by kind."""

RESERVED_NAMESPACES = ("default", "nvidia-device-plugin", "karpenter")
"""Namespaces that exist in every cluster or that mlenv itself creates (components/device_plugin.py,
the Karpenter controller's); serving may not claim them. ``kube-*`` is a forbidden prefix above,
``exp-*`` belongs to experiments (components/experiment.py)."""
RESERVED_NAMESPACE_PREFIXES = ("exp-",)

RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io", "karpenter.sh", "karpenter.k8s.aws", "mlenv.io")
"""Label key prefixes a pool may not set: the kubelet refuses ``--node-labels`` in the
kubernetes.io/k8s.io namespaces (kubernetes/enhancements KEP-279, NodeRestriction), Karpenter owns
its domains (NodePool CRD validation), and mlenv.io labels are mlenv's own (components/tags.py)."""

MAX_TAGS_PER_RESOURCE = 50
"""User-defined tags per AWS resource (docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html)."""
MAX_PUBLIC_ACCESS_CIDRS = 40
"""CIDR blocks allowed on an EKS public endpoint
(docs.aws.amazon.com/eks/latest/userguide/service-quotas.html)."""
WIDEST_PUBLIC_ACCESS_ADDRESSES = 2**24
"""Most IPv4 addresses the public endpoint may admit in total (a /8): wider is "open to the internet"
whatever the spelling (0.0.0.0/1 + 128.0.0.0/1 is 0.0.0.0/0)."""

VPC_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
"""Private ranges a VPC may use (RFC 1918; docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html
recommends them; AWS refuses loopback, link-local, multicast and reserved blocks)."""
VPC_PREFIX_RANGE = (16, 20)
"""/16 is the largest VPC block AWS allows; /20 leaves every AZ room for nodes and pods."""

PARTITION = "aws"
"""The one AWS partition mlenv emits ARNs for (``arn:aws:...``): regions of other partitions
(aws-cn, aws-us-gov, aws-iso*) are refused at spec time rather than planned with wrong ARNs."""


@cache
def _partitions() -> tuple[dict[str, Any], ...]:
    """botocore's partition metadata (``data/partitions.json``, what its endpoint-ruleset resolver
    reads: each partition's id, region pattern and regions). 7 KB, where the legacy
    ``endpoints.json`` (1.2 MB) cost every plan ~0.15 s to parse; read as a file of the installed
    package, since importing ``botocore.loaders`` costs ~0.1 s more (urllib3, http.client ...)."""
    data = importlib.resources.files("botocore") / "data" / "partitions.json"
    return tuple(json.loads(data.read_text(encoding="utf-8"))["partitions"])


def partition_regions() -> frozenset[str]:
    """Regions of ``PARTITION`` (botocore's partition metadata, shipped with boto3); pseudo-regions
    such as ``aws-global``, which do not match the partition's region pattern, are left out."""
    for partition in _partitions():
        if partition["id"] == PARTITION:
            pattern = partition["regionRegex"]
            return frozenset(r for r in partition["regions"] if re.fullmatch(pattern, r))
    return frozenset()


def partition_of(region: str) -> str | None:
    """The partition whose regions or region naming pattern ``region`` matches."""
    for partition in _partitions():
        if region in partition["regions"] or re.fullmatch(partition["regionRegex"], region):
            return str(partition["id"])
    return None
