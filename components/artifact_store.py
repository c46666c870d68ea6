"""ArtifactStore: versioned, encrypted, object-locked S3 buckets and immutable ECR repositories.

pulumi-aws v7 splits a bucket's settings into separate resources; each bucket here gets all of
them: versioning, SSE-KMS with a bucket key, a public-access block with all four flags,
ownership controls (BucketOwnerEnforced: no ACLs), a TLS-only policy, lifecycle rules, access
logging and, for the models bucket, Object Lock. Access logs go to a log bucket encrypted with
SSE-S3, because S3 server access logging cannot deliver to an SSE-KMS bucket.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.key_policy import ARTIFACT_KEY_SERVICES, key_policy_output
from components.stateful import settings_options, stateful_options
from components.tags import Tagging
from stacks.spec.model import BucketSpec

COMPONENT = "artifacts"
LOG_BUCKET = "access-logs"
ACCESS_LOG_ABORT_MULTIPART_DAYS = 7
"""S3 server access logs are delivered whole; a multipart upload older than a week is abandoned."""


@dataclass(frozen=True)
class ArtifactStoreArgs:
    """Inputs of an ArtifactStore."""

    environment: str
    """Environment name; prefixes every resource name."""
    tagging: Tagging
    """The environment's tags; this component adds ``mlenv:component=artifacts``."""
    buckets: Sequence[BucketSpec]
    """Artifact buckets (models, datasets ...) with their lock and lifecycle settings."""
    ecr_repositories: Sequence[str] = field(default_factory=lambda: ("serving",))
    """ECR repositories for serving images. Default: one named serving."""
    long_lived: bool = True
    """True (default): stateful resources are protected and retained on delete. False
    (experiments): nothing is protected and buckets may be force-destroyed."""
    access_log_retention_days: int = 365
    """Days access logs are kept. Default 365."""
    kms_deletion_window_days: int = 30
    """Waiting period before a deleted KMS key is gone. Default 30."""


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    """Deny every request that does not use TLS (aws:SecureTransport false)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(bucket_arn: str) -> str:
    """The policy of an artifact bucket: TLS only. Access is granted by IAM roles, never here."""
    return json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement(bucket_arn)]})


def log_bucket_policy(log_bucket_arn: str, source_bucket_arns: Sequence[str], account_id: str) -> str:
    """TLS only, plus S3 log delivery for exactly our buckets in our account (ACLs are disabled)."""
    delivery = {
        "Sid": "AllowS3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{log_bucket_arn}/*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": list(source_bucket_arns)},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement(log_bucket_arn), delivery]})


def lifecycle_rules(spec: BucketSpec) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """Expire noncurrent versions, abort stale multipart uploads, optionally expire current versions
    and tier to IA."""
    rules = [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-noncurrent-versions",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=spec.noncurrent_version_expiration_days
            ),
        ),
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-multipart-uploads",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=spec.abort_incomplete_multipart_days
            ),
        ),
    ]
    if spec.expiration_days is not None:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-current-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=spec.expiration_days),
            )
        )
    if spec.transition_to_ia_days is not None:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="transition-to-standard-ia",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                transitions=[
                    aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                        days=spec.transition_to_ia_days, storage_class="STANDARD_IA"
                    )
                ],
            )
        )
    return rules


def ecr_lifecycle_policy() -> str:
    """Untagged images (superseded pushes) expire after 14 days; tagged, pinned ones stay."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "expire untagged images after 14 days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 14,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )


class ArtifactStore(pulumi.ComponentResource):
    """S3 buckets for models and datasets, their KMS key and access logs, and ECR repositories."""

    kms_key: aws.kms.Key
    buckets: dict[str, aws.s3.Bucket]
    log_bucket: aws.s3.Bucket
    repositories: dict[str, aws.ecr.Repository]

    def __init__(
        self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlenv:artifacts:ArtifactStore", name, None, opts)
        tags = args.tagging.tags(COMPONENT)
        prefix = args.environment
        child = pulumi.ResourceOptions(parent=self)
        stateful = stateful_options(args.long_lived, parent=self)
        settings = settings_options(args.long_lived, parent=self)

        self.kms_key = aws.kms.Key(
            f"{prefix}-artifacts",
            description=f"mlenv {prefix}: artifact buckets and ECR repositories",
            enable_key_rotation=True,
            deletion_window_in_days=args.kms_deletion_window_days,
            policy=key_policy_output(self, services=ARTIFACT_KEY_SERVICES),
            tags=tags,
            opts=stateful,
        )
        aws.kms.Alias(
            f"{prefix}-artifacts",
            name=f"alias/mlenv-{prefix}-artifacts",
            target_key_id=self.kms_key.key_id,
            opts=child,
        )

        self.log_bucket = self._bucket(
            f"{prefix}-{LOG_BUCKET}", args, tags, stateful, settings, object_lock=False
        )
        self._encrypt(f"{prefix}-{LOG_BUCKET}", self.log_bucket, None, settings)
        aws.s3.BucketLifecycleConfiguration(
            f"{prefix}-{LOG_BUCKET}",
            bucket=self.log_bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.access_log_retention_days
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=30
                    ),
                ),
                # Like the other buckets: parts of an upload that never completed are not kept (or billed).
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-multipart-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ACCESS_LOG_ABORT_MULTIPART_DAYS
                    ),
                ),
            ],
            opts=settings,
        )

        self.buckets = {}
        for spec in args.buckets:
            resource_name = f"{prefix}-{spec.name}"
            bucket = self._bucket(
                resource_name, args, tags, stateful, settings, object_lock=spec.object_lock is not None
            )
            self._encrypt(resource_name, bucket, self.kms_key, settings)
            aws.s3.BucketPolicy(
                resource_name, bucket=bucket.id, policy=bucket.arn.apply(bucket_policy), opts=settings
            )
            aws.s3.BucketLifecycleConfiguration(
                resource_name, bucket=bucket.id, rules=lifecycle_rules(spec), opts=settings
            )
            aws.s3.BucketLogging(
                resource_name,
                bucket=bucket.id,
                target_bucket=self.log_bucket.id,
                target_prefix=f"{spec.name}/",
                target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
                    partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                        partition_date_source="EventTime"
                    )
                ),
                opts=settings,
            )
            if spec.object_lock is not None:
                aws.s3.BucketObjectLockConfiguration(
                    resource_name,
                    bucket=bucket.id,
                    object_lock_enabled="Enabled",
                    rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                        default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                            mode=spec.object_lock.mode, days=spec.object_lock.retention_days
                        )
                    ),
                    opts=settings,
                )
            self.buckets[spec.name] = bucket

        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        aws.s3.BucketPolicy(
            f"{prefix}-{LOG_BUCKET}",
            bucket=self.log_bucket.id,
            policy=pulumi.Output.all(
                self.log_bucket.arn, account_id, *[b.arn for b in self.buckets.values()]
            ).apply(lambda values: log_bucket_policy(values[0], values[2:], values[1])),
            opts=settings,
        )

        self.repositories = {
            repo: aws.ecr.Repository(
                f"{prefix}-{repo}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=True
                ),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(
                        encryption_type="KMS", kms_key=self.kms_key.arn
                    )
                ],
                force_delete=not args.long_lived,
                tags=tags,
                opts=stateful,
            )
            for repo in args.ecr_repositories
        }
        for repo, repository in self.repositories.items():
            aws.ecr.LifecyclePolicy(
                f"{prefix}-{repo}", repository=repository.name, policy=ecr_lifecycle_policy(), opts=settings
            )

        self.register_outputs(
            {
                "buckets": {name: b.bucket for name, b in self.buckets.items()},
                "log_bucket": self.log_bucket.bucket,
                "kms_key_arn": self.kms_key.arn,
                "repositories": {name: r.repository_url for name, r in self.repositories.items()},
            }
        )

    def _bucket(
        self,
        name: str,
        args: ArtifactStoreArgs,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions,
        settings: pulumi.ResourceOptions,
        *,
        object_lock: bool,
    ) -> aws.s3.Bucket:
        bucket = aws.s3.Bucket(
            name,
            object_lock_enabled=object_lock or None,
            force_destroy=not args.long_lived,
            tags=tags,
            opts=opts,
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=settings,
        )
        aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=settings,
        )
        aws.s3.BucketVersioning(
            name,
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=settings,
        )
        return bucket

    def _encrypt(
        self, name: str, bucket: aws.s3.Bucket, key: aws.kms.Key | None, opts: pulumi.ResourceOptions
    ) -> None:
        """SSE-KMS with a bucket key when a key is given; SSE-S3 for the access-log bucket."""
        default = (
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=key.arn
            )
            if key is not None
            else aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default, bucket_key_enabled=key is not None
                )
            ],
            opts=opts,
        )
