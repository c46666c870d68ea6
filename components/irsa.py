"""IAM trust policies: roles for Kubernetes service accounts (IRSA), and roles AWS services assume.

A pod gets AWS credentials by assuming a role whose trust policy names the cluster's OIDC
provider and pins both the audience (``sts.amazonaws.com``) and the exact subject
(``system:serviceaccount:<namespace>:<name>``), so no other service account, namespace or cluster
can assume it. Policies stay in the components that know what the role needs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

IRSA_AUDIENCE = "sts.amazonaws.com"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
"""The annotation the EKS pod identity webhook reads from a service account."""


@dataclass(frozen=True)
class ServiceAccountRef:
    """A Kubernetes service account, by namespace and name."""

    namespace: str
    name: str

    @property
    def subject(self) -> str:
        """The ``sub`` claim of its projected token."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


@dataclass(frozen=True)
class OidcProviderRef:
    """A cluster's IAM OIDC provider known only by its outputs (an experiment reads its platform's)."""

    arn: pulumi.Input[str]
    url: pulumi.Input[str]


def issuer_host(oidc_url: str) -> str:
    """IAM condition keys use the issuer without its scheme: ``oidc.eks.<region>.amazonaws.com/id/X``."""
    return oidc_url.removeprefix("https://").rstrip("/")


def irsa_trust_policy(provider_arn: str, oidc_url: str, account: ServiceAccountRef) -> str:
    """Only this service account's web identity tokens, issued for STS, may assume the role."""
    host = issuer_host(oidc_url)
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {f"{host}:sub": account.subject, f"{host}:aud": IRSA_AUDIENCE},
        },
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def service_trust_policy(service: str, actions: Sequence[str] = ("sts:AssumeRole",)) -> str:
    """The AWS service ``service`` (``ec2.amazonaws.com`` ...) may assume the role."""
    action: str | list[str] = actions[0] if len(actions) == 1 else list(actions)
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": action}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def irsa_role(
    name: str,
    *,
    oidc_provider: aws.iam.OpenIdConnectProvider | OidcProviderRef,
    account: ServiceAccountRef,
    description: str,
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """A role that exactly one service account of the cluster can assume."""
    policy = pulumi.Output.all(oidc_provider.arn, oidc_provider.url).apply(
        lambda values: irsa_trust_policy(values[0], values[1], account)
    )
    return aws.iam.Role(
        name,
        description=description,
        assume_role_policy=policy,
        max_session_duration=3600,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )
