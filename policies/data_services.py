"""Registries and data stores: ECR repositories, DynamoDB tables, ElastiCache Redis, resource policies."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs

from policies import resource_types as T
from policies.policy_types import Report, ResourcePolicy
from policies.properties import get, has_key, is_true, json_document, mappings, statements, strings


def check_ecr_immutable_tags(args: ResourceValidationArgs, report: Report) -> None:
    """ECR repositories refuse to overwrite a tag."""
    if args.resource_type != T.ECR_REPOSITORY:
        return
    if get(args.props, "imageTagMutability") != "IMMUTABLE":
        report(
            "set image_tag_mutability='IMMUTABLE' (the default, MUTABLE, lets a push replace a deployed tag)"
        )


ecr_immutable_tags = ResourcePolicy(
    name="ecr-immutable-tags",
    description="ECR tags cannot be overwritten, so an image reference always means the same image.",
    check=check_ecr_immutable_tags,
)


def check_ecr_scan_on_push(args: ResourceValidationArgs, report: Report) -> None:
    """ECR repositories scan every pushed image."""
    if args.resource_type != T.ECR_REPOSITORY:
        return
    if get(args.props, "imageScanningConfiguration.scanOnPush") is not True:
        report("set image_scanning_configuration.scan_on_push=True")


ecr_scan_on_push = ResourcePolicy(
    name="ecr-scan-on-push",
    description="ECR scans every pushed image for known vulnerabilities before anything runs it.",
    check=check_ecr_scan_on_push,
)


def check_ecr_kms(args: ResourceValidationArgs, report: Report) -> None:
    """ECR repositories encrypt with a customer-managed KMS key."""
    if args.resource_type != T.ECR_REPOSITORY:
        return
    configs = list(mappings(get(args.props, "encryptionConfigurations")))
    if not any(get(c, "encryptionType") == "KMS" and get(c, "kmsKey") for c in configs):
        report(
            "set encryption_configurations=[{encryption_type: 'KMS', kms_key: <the environment's key ARN>}]"
        )


ecr_kms_encryption = ResourcePolicy(
    name="ecr-kms-encryption",
    description="ECR repositories encrypt images with a customer-managed KMS key the environment controls.",
    check=check_ecr_kms,
)


def check_dynamodb_pitr(args: ResourceValidationArgs, report: Report) -> None:
    """DynamoDB tables have point-in-time recovery."""
    if args.resource_type != T.DYNAMODB_TABLE:
        return
    if get(args.props, "pointInTimeRecovery.enabled") is not True:
        report("set point_in_time_recovery={'enabled': True}")


dynamodb_pitr = ResourcePolicy(
    name="dynamodb-pitr",
    description="DynamoDB tables keep 35 days of point-in-time recovery, so a bad write can be rolled back.",
    check=check_dynamodb_pitr,
)


def check_dynamodb_kms(args: ResourceValidationArgs, report: Report) -> None:
    """DynamoDB tables encrypt with a customer-managed KMS key."""
    if args.resource_type != T.DYNAMODB_TABLE:
        return
    sse = get(args.props, "serverSideEncryption")
    if not (get(sse, "enabled") is True and get(sse, "kmsKeyArn")):
        report("set server_side_encryption={'enabled': True, 'kms_key_arn': <the environment's key ARN>}")


dynamodb_kms = ResourcePolicy(
    name="dynamodb-kms",
    description="DynamoDB tables encrypt with a customer-managed KMS key, not the AWS-owned default key.",
    check=check_dynamodb_kms,
)


def check_redis(args: ResourceValidationArgs, report: Report) -> None:
    """Redis is encrypted at rest with KMS, in transit with TLS, and needs credentials."""
    if args.resource_type != T.REDIS_REPLICATION_GROUP:
        return
    props = args.props
    if not (is_true(get(props, "atRestEncryptionEnabled")) and get(props, "kmsKeyId")):
        report("set at_rest_encryption_enabled=True and kms_key_id to the environment's key")
    if not is_true(get(props, "transitEncryptionEnabled")):
        report("set transit_encryption_enabled=True (clients connect with TLS)")
    # Presence is what matters: a generated token is unknown at preview but will be set.
    if not (has_key(props, "authToken") or strings(get(props, "userGroupIds"))):
        report("set auth_token (or user_group_ids for RBAC) so clients must authenticate")


redis_encrypted_with_auth = ResourcePolicy(
    name="redis-encrypted-with-auth",
    description="Redis online stores encrypt at rest and in transit and require authentication.",
    check=check_redis,
)

PUBLIC_PRINCIPALS = ("*",)


def _public_principal(principal: Any) -> bool:
    if isinstance(principal, str):
        return principal in PUBLIC_PRINCIPALS
    return any(value in PUBLIC_PRINCIPALS for value in strings(get(principal, "AWS")))


def check_no_public_principal(args: ResourceValidationArgs, report: Report) -> None:
    """Bucket and repository policies allow named principals only."""
    if args.resource_type not in (T.BUCKET_POLICY, T.ECR_REPOSITORY_POLICY):
        return
    raw = get(args.props, "policy")
    document = json_document(raw)
    if document is None:
        report("the policy is not a JSON policy document; write it with json.dumps of a dict")
        return
    for number, statement in enumerate(statements(document), start=1):
        if get(statement, "Effect") == "Allow" and _public_principal(get(statement, "Principal")):
            sid = get(statement, "Sid") or f"statement {number}"
            report(f"{sid} allows Principal '*': name the principals (roles, services) instead")


no_public_principal = ResourcePolicy(
    name="no-public-principal",
    description=(
        "Bucket and registry policies never allow everyone ('*'); access is granted to named principals."
    ),
    check=check_no_public_principal,
)
