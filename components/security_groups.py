"""Security groups that admit one TCP port from named CIDRs and nothing else inbound."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws


def tcp_ingress_group(
    name: str,
    *,
    description: str,
    vpc_id: pulumi.Input[str],
    port: int,
    cidrs: Sequence[pulumi.Input[str]],
    rule_description: str,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ec2.SecurityGroup:
    """A group whose only ingress rule is TCP ``port`` from ``cidrs`` (egress: AWS's default)."""
    return aws.ec2.SecurityGroup(
        name,
        description=description,
        vpc_id=vpc_id,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_blocks=list(cidrs),
                description=rule_description,
            )
        ],
        tags=tags,
        opts=opts,
    )
