"""The limits table against its sources, and every class of limit refused at spec time.

Each failing input is a shipped stack file (dev or prod) changed in one place; the property tests
compare the verdict on names, labels and CIDRs near each limit with an independent reference:
botocore's request shape constraints, the label patterns of the Karpenter NodePool CRD (the
apimachinery regexes as a published schema states them), and ``ipaddress``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from stacks.spec.limits import NAME_LIMITS, VPC_RANGES, WIDEST_PUBLIC_ACCESS_ADDRESSES
from stacks.spec.load import parse_environment
from stacks.spec.name_rules import label_problems
from tests.unit.test_spec import problems_of, stack_environment

KARPENTER_CRD = (
    Path(__file__).resolve().parents[3] / "shared/oracles/karpenter-v1.14.1/karpenter.sh_nodepools.yaml"
)
if not KARPENTER_CRD.is_file():
    KARPENTER_CRD = Path("/work/shared/oracles/karpenter-v1.14.1/karpenter.sh_nodepools.yaml")

BOTOCORE_ROWS = {
    "iam-role": ("iam", "CreateRole", ("RoleName",)),
    "iam-policy": ("iam", "CreatePolicy", ("PolicyName",)),
    "ecr-repository": ("ecr", "CreateRepository", ("repositoryName",)),
    "eks-cluster": ("eks", "CreateCluster", ("name",)),
    "athena-workgroup": ("athena", "CreateWorkGroup", ("Name",)),
    "glue-database": ("glue", "CreateDatabase", ("DatabaseInput", "Name")),
    "kms-alias": ("kms", "CreateAlias", ("AliasName",)),
    "log-group": ("logs", "CreateLogGroup", ("logGroupName",)),
}


@cache
def botocore_constraints(service: str, operation: str, members: tuple[str, ...]) -> dict[str, Any]:
    shape: Any = (
        botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    )
    for member in members:
        shape = shape.members[member]
    return dict(shape.metadata)


@pytest.mark.parametrize("kind", sorted(BOTOCORE_ROWS))
def test_table_rows_match_botocore(kind: str) -> None:
    limit = NAME_LIMITS[kind]
    meta = botocore_constraints(*BOTOCORE_ROWS[kind])
    # WorkGroupName states its bounds in the pattern only ({1,128})
    high = meta.get("max") or int(re.search(r"\{\d+,(\d+)\}", meta["pattern"]).group(1))  # type: ignore[union-attr]
    assert limit.max_length == high, f"{kind}: table {limit.max_length}, botocore {high}"
    assert limit.min_length >= meta.get("min", 1)
    assert "botocore" in limit.source


@cache
def karpenter_label_reference() -> tuple[re.Pattern[str], int, re.Pattern[str]]:
    """NodePool template label value pattern/maxLength and requirement key pattern, from the CRD."""
    text = KARPENTER_CRD.read_text()
    value = re.search(
        r"labels:\n\s+additionalProperties:\n\s+type: string\n\s+maxLength: (\d+)\n\s+pattern: (.+)", text
    )
    key = re.search(
        r"description: The label key that the selector applies to.\n.*\n.*\n\s+pattern: (.+)", text
    )
    assert value and key
    return re.compile(value.group(2).strip()), int(value.group(1)), re.compile(key.group(1).strip())


LABEL_ALPHABET = st.sampled_from([*list("abcXYZ019-_."), ",", "=", " ", "ü", "/"])


@settings(max_examples=300, deadline=None)
@given(st.text(LABEL_ALPHABET, min_size=0, max_size=70))
def test_label_values_agree_with_the_karpenter_crd(value: str) -> None:
    pattern, max_length, _ = karpenter_label_reference()
    reference_ok = len(value) <= max_length and pattern.fullmatch(value) is not None
    assert (not label_problems("example.com/key", value)) == reference_ok, value


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.just(""), st.text(st.sampled_from(list("abc019-.")), min_size=1, max_size=20)),
    st.text(LABEL_ALPHABET, min_size=0, max_size=70),
)
def test_label_keys_agree_with_the_karpenter_crd(prefix: str, name: str) -> None:
    _, _, key_pattern = karpenter_label_reference()
    key = f"{prefix}/{name}" if prefix else name
    reference_ok = key_pattern.fullmatch(key) is not None and len(name) <= 63
    assert (not label_problems(key, "v")) == reference_ok, key


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 90), st.sampled_from(list("ab-_.+=,@Xü ")))
def test_role_names_agree_with_botocore(length: int, char: str) -> None:
    meta = botocore_constraints(*BOTOCORE_ROWS["iam-role"])
    name = "r" + char * (length - 1)
    reference_ok = meta.get("min", 1) <= len(name) <= meta["max"] and re.fullmatch(
        meta["pattern"], name, re.ASCII
    )
    assert (not NAME_LIMITS["iam-role"].problems(name)) == bool(reference_ok), name


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from(list("ab0-._/")), min_size=1, max_size=260))
def test_ecr_names_agree_with_botocore(name: str) -> None:
    meta = botocore_constraints(*BOTOCORE_ROWS["ecr-repository"])
    reference_ok = meta["min"] <= len(name) <= meta["max"] and re.fullmatch(meta["pattern"], name)
    assert (not NAME_LIMITS["ecr-repository"].problems(name)) == bool(reference_ok), name


def _vpc_reference(cidr: ipaddress.IPv4Network) -> bool:
    """AWS: an RFC 1918 block of /16../20 (our floor), clear of the 172.20.0.0/16 service CIDR."""
    rfc1918 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    return (
        any(cidr.subnet_of(n) for n in rfc1918)  # type: ignore[arg-type]
        and 16 <= cidr.prefixlen <= 20
        and not cidr.overlaps(ipaddress.IPv4Network("172.20.0.0/16"))
    )


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 24))
def test_vpc_cidrs_agree_with_ipaddress(address: int, prefix: int) -> None:
    cidr = ipaddress.IPv4Network((address, prefix), strict=False)
    env = stack_environment("dev")
    env["network"]["cidr"] = str(cidr)
    try:
        parse_environment(env, source="t")
        accepted = True
    except Exception:
        accepted = False
    assert accepted == _vpc_reference(cidr), str(cidr)
    assert VPC_RANGES  # the table is what the model reads


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=1, max_size=4))
def test_public_cidrs_agree_with_ipaddress(blocks: list[tuple[int, int]]) -> None:
    networks = [ipaddress.IPv4Network(b, strict=False) for b in blocks]
    env = stack_environment("prod")
    env["cluster"]["public_access_cidrs"] = [str(n) for n in networks]
    covered = sum(n.num_addresses for n in ipaddress.collapse_addresses(networks))
    reference_ok = covered <= WIDEST_PUBLIC_ACCESS_ADDRESSES and all(n.is_global for n in networks)
    try:
        parse_environment(env, source="t")
        accepted = True
    except Exception:
        accepted = False
    assert accepted == reference_ok, [str(n) for n in networks]


Mutation = Callable[[dict[str, Any]], None]


def _pool(env: dict[str, Any], **changes: Any) -> Any:
    """Change the first GPU pool (returns None, so it chains in a lambda with ``or``)."""
    env["gpu_pools"][0].update(changes)
    return None


def _twin_pools(env: dict[str, Any]) -> None:
    env["name"] = "n" * 30
    twin = {**env["gpu_pools"][0], "name": "p" * 29 + "b"}
    env["gpu_pools"][0]["name"] = "p" * 29 + "a"
    env["gpu_pools"].append(twin)


FAILING: list[tuple[str, str, Mutation, str]] = [
    (
        "dev",
        "long bucket",
        lambda e: e.update(name="e" * 30) or e["artifacts"]["buckets"][1].update(name="d" * 30),
        "artifacts.buckets[1].name: gives the S3 bucket name",
    ),
    ("dev", "xn-- bucket", lambda e: e.update(name="xn--dev"), "name: gives the S3 bucket name 'xn--dev-"),
    (
        "dev",
        "sthree- env",
        lambda e: e.update(name="sthree-dev"),
        "name: gives the S3 bucket name 'sthree-dev",
    ),
    (
        "dev",
        "demo prefix",
        lambda e: e.update(name="amzn-s3-demo-x"),
        "name: gives the S3 bucket name 'amzn-s3-demo",
    ),
    (
        "prod",
        "role > 64",
        lambda e: e.update(name="e" * 30) or _pool(e, name="p" * 30),
        "gpu_pools[0].name: gives the IAM role name",
    ),
    (
        "prod",
        "redis id > 40",
        lambda e: e.update(name="r" * 30) or e["feature_store"].update(online_store="redis"),
        "name: gives the ElastiCache replication group id",
    ),
    (
        "prod",
        "log bucket clash",
        lambda e: e["artifacts"]["buckets"][2].update(name="access-logs"),
        "artifacts.buckets[2].name: gives a second Bucket named 'prod-access-logs'",
    ),
    ("dev", "twin node groups", _twin_pools, "gpu_pools[1].name: gives a second NodeGroup"),
    (
        "dev",
        "system pool clash",
        lambda e: _pool(e, name="system"),
        "gpu_pools[0].name: gives a second Role named 'dev-system-node'",
    ),
    ("dev", "non-ASCII owner", lambda e: e.update(owner="jürgen"), "owner: 'jürgen' is not allowed"),
    (
        "dev",
        "label with comma",
        lambda e: _pool(e, labels={"team": "a,b=c"}),
        "gpu_pools[0].labels.team: Kubernetes label value",
    ),
    (
        "dev",
        "label with space",
        lambda e: _pool(e, labels={"a b": "x"}),
        "gpu_pools[0].labels.a b: Kubernetes label key name",
    ),
    (
        "dev",
        "empty label key",
        lambda e: _pool(e, labels={"": "x"}),
        "gpu_pools[0].labels.: Kubernetes label key name",
    ),
    (
        "dev",
        "long label value",
        lambda e: _pool(e, labels={"team": "v" * 64}),
        "gpu_pools[0].labels.team: Kubernetes label value",
    ),
    (
        "dev",
        "kubelet prefix",
        lambda e: _pool(e, labels={"node-role.kubernetes.io/gpu": ""}),
        "gpu_pools[0].labels.node-role.kubernetes.io/gpu: key 'node-role.kubernetes.io/gpu' is in the",
    ),
    (
        "dev",
        "kube-system",
        lambda e: e["serving"].update(namespace="kube-system"),
        "serving.namespace: gives the Kubernetes namespace",
    ),
    (
        "dev",
        "default ns",
        lambda e: e["serving"].update(namespace="default"),
        "serving.namespace: 'default' belongs to",
    ),
    (
        "dev",
        "service CIDR",
        lambda e: e["network"].update(cidr="172.20.0.0/16"),
        "network.cidr: overlaps the cluster's service CIDR",
    ),
    (
        "dev",
        "inside service CIDR",
        lambda e: e["network"].update(cidr="172.20.16.0/20"),
        "network.cidr: overlaps the cluster's service CIDR",
    ),
    (
        "dev",
        "loopback",
        lambda e: e["network"].update(cidr="127.0.0.0/16"),
        "network.cidr: '127.0.0.0/16' is not allowed",
    ),
    (
        "dev",
        "link-local",
        lambda e: e["network"].update(cidr="169.254.0.0/16"),
        "network.cidr: '169.254.0.0/16' is not allowed",
    ),
    (
        "dev",
        "this-network",
        lambda e: e["network"].update(cidr="0.0.0.0/16"),
        "network.cidr: '0.0.0.0/16' is not allowed",
    ),
    (
        "dev",
        "class E",
        lambda e: e["network"].update(cidr="240.0.0.0/16"),
        "network.cidr: '240.0.0.0/16' is not allowed",
    ),
    (
        "prod",
        "two halves",
        lambda e: e["cluster"].update(public_access_cidrs=["0.0.0.0/1", "128.0.0.0/1"]),
        "cluster.public_access_cidrs[0]: 0.0.0.0/1 opens",
    ),
    (
        "prod",
        "ipv6 open",
        lambda e: e["cluster"].update(public_access_cidrs=["::/0"]),
        "cluster.public_access_cidrs[0]: is IPv6",
    ),
    (
        "prod",
        "split /9s",
        lambda e: e["cluster"].update(public_access_cidrs=["8.0.0.0/9", "8.128.0.0/9", "9.0.0.0/9"]),
        "cluster.public_access_cidrs: together",
    ),
    (
        "prod",
        "51 tags",
        lambda e: e.update(tags={f"k{i}": "v" for i in range(45)}),
        "tags: 45 tags plus mlenv's",
    ),
    (
        "prod",
        "replicas over the pool",
        lambda e: e["gpu_pools"][1].update(max_size=3, min_size=3),
        "gpu_pools[1].max_size: pool 'serving' holds at most 3 nodes",
    ),
    (
        "dev",
        "gov region",
        lambda e: e.update(region="us-gov-west-1"),
        "region: is in the aws-us-gov partition",
    ),
    ("dev", "china region", lambda e: e.update(region="cn-north-1"), "region: is in the aws-cn partition"),
    (
        "dev",
        "unknown region",
        lambda e: e.update(region="eu-foo-1"),
        "region: is not an AWS region botocore knows",
    ),
]


@pytest.mark.parametrize(("stack", "case", "mutate", "expected"), FAILING, ids=[c[1] for c in FAILING])
def test_each_limit_class_is_refused_at_spec_time(
    stack: str, case: str, mutate: Mutation, expected: str
) -> None:
    env = stack_environment(stack)
    mutate(env)
    lines = problems_of(env)
    assert any(line.startswith(expected) for line in lines), lines


def test_shipped_stacks_are_within_every_limit() -> None:
    for stack in ("dev", "prod", "experiment"):
        document = yaml.safe_load(
            (Path(__file__).resolve().parents[2] / f"stacks/Pulumi.{stack}.yaml").read_text()
        )
        parse_environment(document["config"]["mlenv:environment"], source=stack)
