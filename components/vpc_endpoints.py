"""Interface VPC endpoints: AWS services at private addresses in the VPC, HTTPS from the VPC only.

Workloads' network policies then allow egress to the VPC CIDR instead of to any address. Which
services get an endpoint is decided from the spec (``NetworkArgs.interface_services``); how each
one resolves is a fact about the service, kept in ``INTERFACE_ENDPOINTS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.errors import ComponentError
from components.security_groups import tcp_ingress_group

HTTPS = 443


@dataclass(frozen=True)
class InterfaceEndpoint:
    """How one AWS service's interface endpoint is set up."""

    private_dns: bool
    """Whether the service's own name (``sts.<region>.amazonaws.com``) resolves to the endpoint.
    Without it clients must be given the endpoint's DNS name (``service_endpoint_url``)."""
    inbound_resolver_only: bool | None = None
    """S3 only: whether its private DNS answers only inbound Resolver endpoints. Default None: the
    option does not apply to the service."""


INTERFACE_ENDPOINTS: dict[str, InterfaceEndpoint] = {
    # S3 (model artifacts) keeps its gateway endpoint for nodes; its interface endpoint answers the
    # S3 names for every resolver in the VPC (``private_dns_only_for_inbound_resolver_endpoint=False``,
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/privatelink-interface-endpoints.html#private-dns),
    # which needs the gateway endpoint to exist first.
    "s3": InterfaceEndpoint(private_dns=True, inbound_resolver_only=False),
    # STS: IRSA credentials.
    "sts": InterfaceEndpoint(private_dns=True),
    # DynamoDB (the Feast online store): PrivateLink for DynamoDB does not support private DNS, and
    # AWS rejects an endpoint that asks for it ("Considerations when using AWS PrivateLink for Amazon
    # DynamoDB", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/privatelink-interface-endpoints.html;
    # aws-cdk sets privateDnsDefault false for it, https://github.com/aws/aws-cdk/pull/30162).
    "dynamodb": InterfaceEndpoint(private_dns=False),
}
"""The AWS services mlenv reaches through interface endpoints, and how each resolves."""

ALWAYS = ("s3", "sts")
"""Every network has these: model servers read artifacts (S3) with IRSA credentials (STS)."""


def interface_services(extra: Sequence[str]) -> tuple[str, ...]:
    """``ALWAYS`` then ``extra``, each once; ComponentError naming a service without an entry."""
    unknown = sorted(set(extra) - set(INTERFACE_ENDPOINTS))
    if unknown:
        raise ComponentError(
            f"no interface endpoint settings for {unknown}; known: {sorted(INTERFACE_ENDPOINTS)} "
            "(add the service to components/vpc_endpoints.py INTERFACE_ENDPOINTS)"
        )
    return tuple(dict.fromkeys((*ALWAYS, *extra)))


def regional_dns_name(names: Sequence[str], service: str) -> str:
    """The endpoint's regional name among its DNS entries, by shape, not position.

    An interface endpoint reports ``vpce-<id>-<suffix>.<service>.<region>.vpce.amazonaws.com``
    (regional), the same with ``-<az>`` after the suffix per AZ (zonal), and, with private DNS, the
    service's own names (https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html#interface-endpoint-dns-hostnames).
    """
    shape = re.compile(
        rf"^vpce-[0-9a-f]+-[0-9a-z]+\.{re.escape(service)}\.[a-z0-9-]+\.vpce\.amazonaws\.com(\.cn)?$"
    )
    found = [name for name in names if shape.match(name)]
    if len(found) != 1:
        raise ComponentError(
            f"expected one regional {service} endpoint name among {list(names)}, found {found}"
        )
    return found[0]


def service_endpoint_url(endpoint: aws.ec2.VpcEndpoint, service: str) -> pulumi.Output[str]:
    """``https://<regional DNS name>``: what an SDK is pointed at when the service's name does not
    resolve to the endpoint (``AWS_ENDPOINT_URL_<SERVICE>``)."""
    return endpoint.dns_entries.apply(
        lambda entries: f"https://{regional_dns_name([e.dns_name for e in entries if e.dns_name], service)}"
    )


@dataclass(frozen=True)
class EndpointPlacement:
    """Where a network's interface endpoints go."""

    prefix: str
    region: str
    vpc: aws.ec2.Vpc
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    gateway: aws.ec2.VpcEndpoint
    """The S3 gateway endpoint, created before the interface endpoints (S3's private DNS needs it)."""


def create_interface_endpoints(
    placement: EndpointPlacement,
    services: Sequence[str],
    named: Callable[[str], dict[str, str]],
    parent: pulumi.Resource,
) -> dict[str, aws.ec2.VpcEndpoint]:
    """One interface endpoint per service in the private subnets, behind one group: HTTPS from the VPC."""
    p = placement
    group = tcp_ingress_group(
        f"{p.prefix}-endpoints",
        description=f"mlenv {p.prefix}: interface endpoints, HTTPS from the VPC only",
        vpc_id=p.vpc.id,
        port=HTTPS,
        cidrs=[p.vpc_cidr],
        rule_description="HTTPS from the VPC",
        tags=named("endpoints"),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    endpoints = {}
    for service in services:
        settings = INTERFACE_ENDPOINTS[service]
        endpoints[service] = aws.ec2.VpcEndpoint(
            f"{p.prefix}-{service}-interface",
            vpc_id=p.vpc.id,
            service_name=f"com.amazonaws.{p.region}.{service}",
            vpc_endpoint_type="Interface",
            subnet_ids=list(p.subnet_ids),
            security_group_ids=[group.id],
            private_dns_enabled=settings.private_dns,
            dns_options=(
                aws.ec2.VpcEndpointDnsOptionsArgs(
                    private_dns_only_for_inbound_resolver_endpoint=settings.inbound_resolver_only
                )
                if settings.inbound_resolver_only is not None
                else None
            ),
            tags=named(f"{service}-interface"),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[p.gateway]),
        )
    return endpoints
