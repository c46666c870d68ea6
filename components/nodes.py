"""What every managed node group shares: a minimal node role and the launch-template hardening.

The system node group (components/cluster.py) and the GPU pools (components/gpu_node_pool.py)
both use these, so the two kinds of node cannot drift apart on IMDS, disk encryption or IAM.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.irsa import service_trust_policy

NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
)
"""AWS managed policies a node needs to join, pull images and run the VPC CNI. No
AmazonSSMManagedInstanceCore: nodes have no interactive access (no SSH, no Session Manager)."""

ROOT_DEVICE = "/dev/xvda"
"""The root device name of Amazon Linux 2023 AMIs."""

IMDS_HOP_LIMIT = 1
"""Hop limit 1: pods on the pod network cannot reach the instance metadata (and the node role)."""


def managed_policy_arn(name: str, partition: str = "aws") -> str:
    """``arn:aws:iam::aws:policy/<name>``."""
    return f"arn:{partition}:iam::aws:policy/{name}"


@dataclass(frozen=True)
class NodeRole:
    """A node role and its policy attachments (a node group must wait for both)."""

    role: aws.iam.Role
    attachments: tuple[aws.iam.RolePolicyAttachment, ...]


def node_role(name: str, *, description: str, tags: dict[str, str], parent: pulumi.Resource) -> NodeRole:
    """A node role with exactly ``NODE_POLICIES`` attached.

    Managed node groups create the role's EKS access entry (type EC2_LINUX) themselves when the
    cluster uses the API authentication mode, so none is declared here.
    """
    role = aws.iam.Role(
        name,
        assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
        description=description,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    attachments = tuple(
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy}",
            role=role.name,
            policy_arn=managed_policy_arn(policy),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for policy in NODE_POLICIES
    )
    return NodeRole(role=role, attachments=attachments)


def metadata_options() -> aws.ec2.LaunchTemplateMetadataOptionsArgs:
    """IMDSv2 only, hop limit 1, tags not exposed through IMDS."""
    return aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_endpoint="enabled",
        http_tokens="required",
        http_put_response_hop_limit=IMDS_HOP_LIMIT,
        instance_metadata_tags="disabled",
    )


def root_volume(disk_size_gib: int) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgs:
    """An encrypted gp3 root volume deleted with the instance."""
    return aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name=ROOT_DEVICE,
        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_size=disk_size_gib,
            volume_type="gp3",
            encrypted="true",
            delete_on_termination="true",
        ),
    )


def instance_tag_specifications(tags: dict[str, str]) -> list[aws.ec2.LaunchTemplateTagSpecificationArgs]:
    """Instances and their volumes carry the environment's tags too (drift sweeps find them)."""
    return [
        aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
        for kind in ("instance", "volume", "network-interface")
    ]
