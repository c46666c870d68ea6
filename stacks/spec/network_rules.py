"""Spec rules for addresses and places: the VPC block, the public API endpoint's CIDRs, the region.

AWS answers a VPC on a loopback block, or an EKS cluster whose VPC overlaps its service CIDR, only
minutes into ``pulumi up``; an endpoint "restricted" to 0.0.0.0/1 and 128.0.0.0/1 is open. These
rules compare address sets with ``ipaddress``, never strings, and read their limits from
``stacks.spec.limits``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

from stacks.errors import SpecProblem
from stacks.spec.limits import (
    MAX_PUBLIC_ACCESS_CIDRS,
    PARTITION,
    WIDEST_PUBLIC_ACCESS_ADDRESSES,
    partition_of,
    partition_regions,
)

if TYPE_CHECKING:
    from stacks.spec.model import EnvironmentSpec

SERVICE_CIDR = ipaddress.IPv4Network("172.20.0.0/16")
"""The cluster's Kubernetes service CIDR (components/cluster.py SERVICE_CIDR); EKS refuses a
service CIDR that overlaps the VPC (API_KubernetesNetworkConfigRequest serviceIpv4Cidr)."""
ENDPOINT_DOC = "docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html"


def vpc_clear_of_service_cidr(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """The VPC block and the cluster's service CIDR do not overlap."""
    if spec.network is None:
        return
    try:
        vpc = ipaddress.IPv4Network(spec.network.cidr)
    except ValueError:
        return  # the model has reported it
    if vpc.overlaps(SERVICE_CIDR):
        yield SpecProblem(
            "network.cidr",
            spec.network.cidr,
            f"overlaps the cluster's service CIDR {SERVICE_CIDR}, which EKS refuses; use e.g. 10.0.0.0/16",
        )


def public_endpoint_restricted(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Public endpoint CIDRs: public IPv4 blocks, at most 40, together narrower than a /8."""
    if spec.cluster is None:
        return
    cidrs = spec.cluster.public_access_cidrs
    if len(cidrs) > MAX_PUBLIC_ACCESS_CIDRS:
        yield SpecProblem(
            "cluster.public_access_cidrs",
            len(cidrs),
            f"{len(cidrs)} CIDRs; EKS allows at most {MAX_PUBLIC_ACCESS_CIDRS} on a public endpoint",
        )
    networks: list[ipaddress.IPv4Network] = []
    for i, cidr in enumerate(cidrs):
        path = f"cluster.public_access_cidrs[{i}]"
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            continue  # the model has reported it
        if isinstance(network, ipaddress.IPv6Network):
            yield SpecProblem(
                path, cidr, f"is IPv6; the cluster is IPv4 and EKS refuses IPv6 CIDRs on it ({ENDPOINT_DOC})"
            )
        elif network.num_addresses > WIDEST_PUBLIC_ACCESS_ADDRESSES:
            yield SpecProblem(path, cidr, _open_message(cidr))
        elif not network.is_global:
            yield SpecProblem(
                path, cidr, "is not a public address block; the public endpoint is reached from the internet"
            )
        else:
            networks.append(network)
    total = sum(n.num_addresses for n in ipaddress.collapse_addresses(networks))
    if total > WIDEST_PUBLIC_ACCESS_ADDRESSES:
        message = _open_message(f"together ({total} addresses)")
        yield SpecProblem("cluster.public_access_cidrs", cidrs, message)


def _open_message(what: str) -> str:
    return (
        f"{what} opens the Kubernetes API to the internet (more than a /8 of it); "
        "list your office/VPN CIDRs or leave the list empty for a private endpoint"
    )


@cache
def _regions() -> frozenset[str]:
    return partition_regions()


def region_in_partition(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """The region is a known region of the one partition whose ARNs mlenv writes."""
    if spec.region in _regions():
        return
    partition = partition_of(spec.region)
    if partition not in (None, PARTITION):
        why = f"is in the {partition} partition; mlenv builds ARNs for the {PARTITION} partition only"
    else:
        why = "is not an AWS region botocore knows"
    yield SpecProblem("region", spec.region, f"{why}; use one of {', '.join(sorted(_regions()))}")
