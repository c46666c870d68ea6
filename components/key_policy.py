"""Explicit KMS key policies: administration through IAM, use only through the services that need it.

Without a key policy AWS attaches its default one, which gives the account root ``kms:*``: any
principal that IAM grants ``kms:Decrypt`` could then decrypt models, datasets, feature tables or
Kubernetes secrets directly. The policies built here split the two concerns the KMS developer guide
describes (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html):

- administration (describe, rotate, tag, schedule deletion, change the policy) for the account's
  IAM-authorised administrators, without any cryptographic action;
- use (encrypt, decrypt, data keys, grants for AWS resources) only *through* the AWS services the
  key is for (``kms:ViaService``) and only by callers of this account (``kms:CallerAccount``), and
  for CloudWatch Logs only for the named log groups (``kms:EncryptionContext:aws:logs:arn``).

Nothing is granted to ``*``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import pulumi
import pulumi_aws as aws

ADMIN_ACTIONS: Final = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
"""The key-administrator actions of the KMS developer guide ("Allows key administrators to
administer the KMS key", key-policy-default.html#key-policy-default-allow-administrators), spelled
out; no Encrypt/Decrypt/GenerateDataKey among them."""

USE_ACTIONS: Final = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
"""Cryptographic use (key-policy-default.html#key-policy-default-allow-users)."""

GRANT_ACTIONS: Final = ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant")
"""Grants that integrated services (EBS, ElastiCache, EKS) create for themselves; allowed only when
``kms:GrantIsForAWSResource`` is true."""

VIA_SERVICE_PREFIXES: Final = frozenset({"dynamodb", "ecr", "eks", "elasticache", "glue", "s3"})
"""Services whose calls mlenv's keys accept, each named in the ``kms:ViaService`` table of the KMS
developer guide (conditions-kms.html#conditions-kms-via-service) as ``<service>.<region>.amazonaws.com``."""

ARTIFACT_KEY_SERVICES: Final = ("dynamodb", "ecr", "elasticache", "glue", "s3")
"""Where the artifacts key is used: buckets (S3, also for Athena results), ECR repositories, the
DynamoDB tables (ledger, feature store), the Glue catalog and the ElastiCache online store."""

EKS_SECRETS_KEY_SERVICES: Final = ("eks",)
"""The EKS secrets key is used by EKS envelope encryption only."""


def via_service(service: str, region: str) -> str:
    """``s3`` in ``us-east-1`` -> ``s3.us-east-1.amazonaws.com``, the ``kms:ViaService`` value."""
    if service not in VIA_SERVICE_PREFIXES:
        raise ValueError(
            f"{service!r} is not in VIA_SERVICE_PREFIXES ({', '.join(sorted(VIA_SERVICE_PREFIXES))})"
        )
    return f"{service}.{region}.amazonaws.com"


def key_policy(
    *,
    account: str,
    region: str,
    services: Sequence[str] = (),
    log_group_arns: Sequence[str] = (),
) -> str:
    """The key policy document (JSON) of a key used through ``services`` and by ``log_group_arns``."""
    root = f"arn:aws:iam::{account}:root"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "KeyAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": list(ADMIN_ACTIONS),
            "Resource": "*",
        }
    ]
    if services:
        through = {
            "kms:CallerAccount": account,
            "kms:ViaService": sorted(via_service(s, region) for s in services),
        }
        statements.append(
            {
                "Sid": "UseThroughServices",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": list(USE_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": through},
            }
        )
        statements.append(
            {
                "Sid": "GrantsForServiceResources",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": list(GRANT_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": through, "Bool": {"kms:GrantIsForAWSResource": "true"}},
            }
        )
    if log_group_arns:
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        statements.append(
            {
                "Sid": "CloudWatchLogsForNamedGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": list(USE_ACTIONS),
                "Resource": "*",
                "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": sorted(log_group_arns)}},
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def log_group_arn(account: str, region: str, name: str) -> str:
    """``arn:aws:logs:<region>:<account>:log-group:<name>``, the ARN CloudWatch Logs reports."""
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def key_policy_output(
    parent: pulumi.Resource, *, services: Sequence[str] = (), log_group_names: Sequence[str] = ()
) -> pulumi.Output[str]:
    """``key_policy`` for the deploying account and the provider's region (both from invokes)."""
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    region = aws.get_region_output(opts=invoke).region
    return pulumi.Output.all(account, region).apply(
        lambda v: key_policy(
            account=v[0],
            region=v[1],
            services=services,
            log_group_arns=[log_group_arn(v[0], v[1], name) for name in log_group_names],
        )
    )
