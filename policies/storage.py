"""S3: every bucket joined with its settings resources (pulumi-aws v7 splits them out).

Each policy here is a stack policy: it finds every ``Bucket`` and the settings whose ``bucket``
input came from it (policies/joins.py), so a bucket with no settings resource at all fails, as
does one whose setting is weak. Buckets that receive S3 server access logs are the one stated
exception for SSE-KMS, access logging and multipart clean-up: S3 log delivery only writes to
SSE-S3 buckets, a log bucket logging to itself would loop, and log delivery does not upload in parts.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass

from pulumi_policy import PolicyResource, StackValidationArgs

from policies import resource_types as T
from policies.config import schema, setting_strings
from policies.joins import linked, of_type, settings_of
from policies.policy_types import Report, StackPolicy
from policies.properties import get, is_true, json_document, mappings, statements, strings


@dataclass(frozen=True)
class BucketView:
    """A bucket and the settings resources that apply to it."""

    bucket: PolicyResource
    settings: dict[str, list[PolicyResource]]
    receives_access_logs: bool

    def of(self, type_: str) -> list[PolicyResource]:
        """Its settings resources of one type."""
        return self.settings.get(type_, [])


SETTING_TYPES = (
    T.BUCKET_VERSIONING,
    T.BUCKET_ENCRYPTION,
    T.BUCKET_PUBLIC_ACCESS_BLOCK,
    T.BUCKET_OWNERSHIP_CONTROLS,
    T.BUCKET_OBJECT_LOCK,
    T.BUCKET_LIFECYCLE,
    T.BUCKET_LOGGING,
    T.BUCKET_POLICY,
)


def buckets(args: StackValidationArgs) -> Iterator[BucketView]:
    """Every bucket of the stack with its settings; not applicable when there is none."""
    found = of_type(args.resources, T.BUCKET)
    if not found:
        args.not_applicable("the stack has no S3 bucket")
    joined = {t: settings_of(found, of_type(args.resources, t), "bucket", "bucket") for t in SETTING_TYPES}
    log_targets = {
        target.urn
        for logging in of_type(args.resources, T.BUCKET_LOGGING)
        for target in linked(logging, "targetBucket")
    }
    for bucket in found:
        yield BucketView(
            bucket,
            {t: joined[t].get(bucket.urn, []) for t in SETTING_TYPES},
            bucket.urn in log_targets,
        )


def check_s3_versioning(args: StackValidationArgs, report: Report) -> None:
    """Every bucket has a BucketVersioning with status Enabled."""
    for view in buckets(args):
        settings = view.of(T.BUCKET_VERSIONING)
        if not settings:
            report(
                f"bucket {view.bucket.name} has no BucketVersioning resource: add "
                "aws.s3.BucketVersioning(bucket=bucket.id, versioning_configuration={'status': 'Enabled'})",
                view.bucket.urn,
            )
        elif not any(get(s.props, "versioningConfiguration.status") == "Enabled" for s in settings):
            report(
                f"bucket {view.bucket.name}: versioning is not Enabled; set versioning_configuration.status "
                "to 'Enabled'",
                view.bucket.urn,
            )


s3_versioning_enabled = StackPolicy(
    name="s3-versioning-enabled",
    description="S3 buckets keep every object version, so an overwritten model or dataset can be recovered.",
    check=check_s3_versioning,
)

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def check_s3_public_access_block(args: StackValidationArgs, report: Report) -> None:
    """Every bucket has a public-access block with all four flags true."""
    for view in buckets(args):
        settings = view.of(T.BUCKET_PUBLIC_ACCESS_BLOCK)
        if not settings:
            report(
                f"bucket {view.bucket.name} has no BucketPublicAccessBlock: add one with "
                + ", ".join(f"{flag}=True" for flag in PUBLIC_ACCESS_FLAGS),
                view.bucket.urn,
            )
            continue
        if any(all(get(s.props, flag) is True for flag in PUBLIC_ACCESS_FLAGS) for s in settings):
            continue
        off = [flag for flag in PUBLIC_ACCESS_FLAGS if get(settings[0].props, flag) is not True]
        report(
            f"bucket {view.bucket.name}: set {', '.join(off)} to true in its public-access block",
            view.bucket.urn,
        )


s3_public_access_blocked = StackPolicy(
    name="s3-public-access-blocked",
    description="S3 buckets block public ACLs and policies (all four flags), so no object can become public.",
    check=check_s3_public_access_block,
)

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def check_s3_sse_kms(args: StackValidationArgs, report: Report) -> None:
    """Every bucket encrypts with a KMS key (log buckets: SSE-S3 or KMS)."""
    for view in buckets(args):
        settings = view.of(T.BUCKET_ENCRYPTION)
        if not settings:
            report(
                f"bucket {view.bucket.name} has no BucketServerSideEncryptionConfiguration: add one with "
                "sse_algorithm 'aws:kms' and the environment's KMS key",
                view.bucket.urn,
            )
            continue
        defaults = [
            get(rule, "applyServerSideEncryptionByDefault")
            for s in settings
            for rule in mappings(get(s.props, "rules"))
        ]
        kms = [d for d in defaults if get(d, "sseAlgorithm") in KMS_ALGORITHMS and get(d, "kmsMasterKeyId")]
        sse_s3 = [d for d in defaults if get(d, "sseAlgorithm") == "AES256"]
        if kms or (view.receives_access_logs and sse_s3):
            continue
        report(
            f"bucket {view.bucket.name}: default encryption must be sse_algorithm 'aws:kms' with "
            "kms_master_key_id set to a customer-managed key (only access-log buckets may use AES256)",
            view.bucket.urn,
        )


s3_sse_kms = StackPolicy(
    name="s3-sse-kms",
    description="S3 buckets encrypt with a customer-managed KMS key, so access to data also needs the key.",
    check=check_s3_sse_kms,
)


def _is_tls_deny(statement: object) -> bool:
    if get(statement, "Effect") != "Deny":
        return False
    secure = get(statement, "Condition.Bool")
    flag = get(secure, "aws:SecureTransport") if secure is not None else None
    if flag not in ("false", False, ["false"]):
        return False
    actions = strings(get(statement, "Action"))
    resources = strings(get(statement, "Resource"))
    return (
        bool({"s3:*", "*"} & set(actions))
        and any(r.endswith("/*") for r in resources)
        and any(not r.endswith("/*") for r in resources)
    )


def check_s3_tls_only(args: StackValidationArgs, report: Report) -> None:
    """Every bucket has a policy denying requests without TLS on the bucket and its objects."""
    for view in buckets(args):
        documents = [json_document(get(p.props, "policy")) for p in view.of(T.BUCKET_POLICY)]
        if any(doc is not None and any(_is_tls_deny(s) for s in statements(doc)) for doc in documents):
            continue
        report(
            f"bucket {view.bucket.name}: add a BucketPolicy statement that denies s3:* on the bucket and "
            "bucket/* when aws:SecureTransport is false",
            view.bucket.urn,
        )


s3_tls_only = StackPolicy(
    name="s3-tls-only",
    description="S3 buckets refuse requests that do not use TLS, so artifacts never travel in clear text.",
    check=check_s3_tls_only,
)


def check_s3_object_lock(args: StackValidationArgs, report: Report) -> None:
    """Model buckets have Object Lock enabled and a default retention."""
    patterns = setting_strings(args, "model_bucket_patterns")
    models = [v for v in buckets(args) if any(fnmatch.fnmatchcase(v.bucket.name, p) for p in patterns)]
    if not models:
        args.not_applicable(f"no bucket's name matches the model bucket patterns {patterns}")
    for view in models:
        if not is_true(get(view.bucket.props, "objectLockEnabled")):
            report(
                f"model bucket {view.bucket.name}: create it with object_lock_enabled=True", view.bucket.urn
            )
            continue
        locks = view.of(T.BUCKET_OBJECT_LOCK)
        retained = [
            lock
            for lock in locks
            if get(lock.props, "objectLockEnabled") == "Enabled"
            and get(lock.props, "rule.defaultRetention.mode") in ("GOVERNANCE", "COMPLIANCE")
            and (
                get(lock.props, "rule.defaultRetention.days")
                or get(lock.props, "rule.defaultRetention.years")
            )
        ]
        if not retained:
            report(
                f"model bucket {view.bucket.name}: add a BucketObjectLockConfiguration with a "
                "default retention "
                "(mode GOVERNANCE or COMPLIANCE and days or years)",
                view.bucket.urn,
            )


s3_object_lock_on_model_buckets = StackPolicy(
    name="s3-object-lock-on-model-buckets",
    description=(
        "Model buckets lock object versions for a retention period, so a released model cannot be deleted."
    ),
    check=check_s3_object_lock,
    config_schema=schema("model_bucket_patterns"),
)


def _enabled_rules(view: BucketView) -> list[object]:
    return [
        rule
        for lifecycle in view.of(T.BUCKET_LIFECYCLE)
        for rule in mappings(get(lifecycle.props, "rules"))
        if get(rule, "status") == "Enabled"
    ]


def check_s3_lifecycle(args: StackValidationArgs, report: Report) -> None:
    """Every bucket expires noncurrent versions; buckets written by clients also abort stale uploads."""
    for view in buckets(args):
        rules = _enabled_rules(view)
        if not view.of(T.BUCKET_LIFECYCLE):
            report(
                f"bucket {view.bucket.name} has no BucketLifecycleConfiguration: add one that expires "
                "noncurrent versions and aborts incomplete multipart uploads",
                view.bucket.urn,
            )
            continue
        if not any(get(rule, "noncurrentVersionExpiration.noncurrentDays") for rule in rules):
            report(
                f"bucket {view.bucket.name}: add an Enabled lifecycle rule with "
                "noncurrent_version_expiration "
                "(versioned buckets otherwise keep every old version forever)",
                view.bucket.urn,
            )
        if not view.receives_access_logs and not any(
            get(rule, "abortIncompleteMultipartUpload.daysAfterInitiation") for rule in rules
        ):
            report(
                f"bucket {view.bucket.name}: add an Enabled lifecycle rule with "
                "abort_incomplete_multipart_upload (stale parts of large uploads are billed until aborted)",
                view.bucket.urn,
            )


s3_lifecycle_configured = StackPolicy(
    name="s3-lifecycle-configured",
    description="S3 buckets expire old versions and stale uploads, so storage does not grow without bound.",
    check=check_s3_lifecycle,
)


def check_s3_access_logging(args: StackValidationArgs, report: Report) -> None:
    """Every bucket except log buckets delivers server access logs to a log bucket of the stack."""
    for view in buckets(args):
        if view.receives_access_logs:
            continue
        if not any(
            linked(logging, "targetBucket") or get(logging.props, "targetBucket")
            for logging in view.of(T.BUCKET_LOGGING)
        ):
            report(
                f"bucket {view.bucket.name}: add an aws.s3.BucketLogging that delivers its access "
                "logs to the "
                "environment's access-log bucket",
                view.bucket.urn,
            )


s3_access_logging = StackPolicy(
    name="s3-access-logging",
    description="S3 buckets log every access to a log bucket, so reads of models and data can be audited.",
    check=check_s3_access_logging,
)


def check_s3_ownership(args: StackValidationArgs, report: Report) -> None:
    """Every bucket disables ACLs (object ownership BucketOwnerEnforced)."""
    for view in buckets(args):
        owned = [
            s
            for s in view.of(T.BUCKET_OWNERSHIP_CONTROLS)
            if get(s.props, "rule.objectOwnership") == "BucketOwnerEnforced"
        ]
        if not owned:
            report(
                f"bucket {view.bucket.name}: add an aws.s3.BucketOwnershipControls with object_ownership "
                "'BucketOwnerEnforced' (disables ACLs)",
                view.bucket.urn,
            )


s3_acls_disabled = StackPolicy(
    name="s3-acls-disabled",
    description="S3 buckets disable ACLs, so access is decided by IAM and bucket policies only.",
    check=check_s3_ownership,
)
