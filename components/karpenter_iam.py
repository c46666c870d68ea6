"""The Karpenter controller's IAM policy, as pure data: what Karpenter 1.14 needs, scoped to one cluster.

Written from Karpenter's reference CloudFormation template (``getting-started`` cloudformation.yaml of
aws/karpenter-provider-aws v1.14.1: NodeLifecyclePolicy, IAMIntegrationPolicy, EKSIntegrationPolicy,
InterruptionPolicy, ZonalShiftPolicy, ResourceDiscoveryPolicy), statement by statement, with the same
tag conditions (``kubernetes.io/cluster/<cluster>: owned``, ``karpenter.sh/nodepool``,
``karpenter.k8s.aws/ec2nodeclass``) so the controller can only touch instances, launch templates and
instance profiles it tagged for this cluster. Narrower than the reference:

- no ``ssm:GetParameter``: every EC2NodeClass names its AMI by id (images/catalog.yaml), so Karpenter
  never resolves an SSM alias;
- ``ec2:RunInstances``/``CreateFleet`` on images only for the catalog AMIs of the stack's region, not
  ``image/*``, and not on capacity reservations or placement groups (no pool selects either);
- ``iam:PassRole`` only for the one node role, passed only to EC2 (as the reference).

Statements whose actions IAM cannot scope to a resource (``ec2:Describe*``, ``pricing:GetProducts``,
``iam:ListInstanceProfiles``; Service Authorization Reference: no resource types) keep ``"*"`` as the
reference does; the pack's no-wildcard-iam lists exactly these actions as unscopable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

REGIONAL_READ_ACTIONS: Final = (
    "ec2:DescribeCapacityReservations",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribePlacementGroups",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribeSubnets",
)
"""ResourceDiscoveryPolicy's AllowRegionalReadActions: list/describe calls without resource types."""

UNSCOPED_ACTIONS: Final = (
    *REGIONAL_READ_ACTIONS,
    "pricing:GetProducts",
    "iam:ListInstanceProfiles",
    "arc-zonal-shift:GetManagedResource",
)
"""Actions granted on ``"*"`` as the reference does: IAM has no resource type for the first ones, and
the zonal-shift read is scoped by its ``ResourceIdentifier`` condition to this cluster instead."""


def _arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def controller_policy(
    *,
    cluster_name: str,
    region: str,
    account: str,
    partition: str,
    node_role_arn: str,
    queue_arn: str,
    ami_ids: Sequence[str],
) -> dict[str, Any]:
    """The controller's permission document for ``cluster_name`` in ``region`` of ``account``."""

    def ec2(resource: str) -> str:
        return _arn(partition, "ec2", region, "*", resource)

    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    request_owned = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster_name,
    }
    tagged_kinds = [
        ec2(f"{kind}/*")
        for kind in (
            "fleet",
            "instance",
            "volume",
            "network-interface",
            "launch-template",
            "spot-instances-request",
        )
    ]
    profile = f"arn:{partition}:iam::{account}:instance-profile/*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Resource": [
                *(f"arn:{partition}:ec2:{region}::image/{ami}" for ami in sorted(set(ami_ids))),
                f"arn:{partition}:ec2:{region}::snapshot/*",
                ec2("security-group/*"),
                ec2("subnet/*"),
            ],
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Resource": ec2("launch-template/*"),
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Condition": {
                "StringEquals": owned,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Resource": tagged_kinds,
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Condition": {
                "StringEquals": request_owned,
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Resource": tagged_kinds,
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {
                    **request_owned,
                    "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                },
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Resource": ec2("instance/*"),
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": owned,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Resource": [ec2("instance/*"), ec2("launch-template/*")],
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Condition": {
                "StringEquals": owned,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Resource": node_role_arn,
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}},
        },
        {
            "Sid": "AllowScopedInstanceProfileCreationActions",
            "Effect": "Allow",
            "Resource": profile,
            "Action": ["iam:CreateInstanceProfile"],
            "Condition": {
                "StringEquals": {**request_owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileTagActions",
            "Effect": "Allow",
            "Resource": profile,
            "Action": ["iam:TagInstanceProfile"],
            "Condition": {
                "StringEquals": {
                    **owned,
                    "aws:ResourceTag/topology.kubernetes.io/region": region,
                    **request_owned,
                    "aws:RequestTag/topology.kubernetes.io/region": region,
                },
                "StringLike": {
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileActions",
            "Effect": "Allow",
            "Resource": profile,
            "Action": [
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            "Condition": {
                "StringEquals": {**owned, "aws:ResourceTag/topology.kubernetes.io/region": region},
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            "Sid": "AllowInstanceProfileReadActions",
            "Effect": "Allow",
            "Resource": profile,
            "Action": "iam:GetInstanceProfile",
        },
        {
            "Sid": "AllowAPIServerEndpointDiscovery",
            "Effect": "Allow",
            "Resource": _arn(partition, "eks", region, account, f"cluster/{cluster_name}"),
            "Action": "eks:DescribeCluster",
        },
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Resource": queue_arn,
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        },
        {
            "Sid": "AllowZonalShiftStatusReadOnly",
            "Effect": "Allow",
            "Resource": "*",
            "Action": ["arc-zonal-shift:GetManagedResource"],
            "Condition": {
                "StringEquals": {
                    "arc-zonal-shift:ResourceIdentifier": _arn(
                        partition, "eks", region, account, f"cluster/{cluster_name}"
                    )
                }
            },
        },
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": list(REGIONAL_READ_ACTIONS),
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "AllowPricingReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": "pricing:GetProducts",
        },
        {
            "Sid": "AllowUnscopedInstanceProfileListAction",
            "Effect": "Allow",
            "Resource": "*",
            "Action": "iam:ListInstanceProfiles",
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def controller_policy_json(**kwargs: Any) -> str:
    """:func:`controller_policy` as the JSON string an ``aws.iam.RolePolicy`` takes."""
    return json.dumps(controller_policy(**kwargs))
