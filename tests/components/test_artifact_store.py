"""ArtifactStore, asserted on what the real program registered for the dev and prod stacks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.tags import REQUIRED_TAGS, TAG_COMPONENT, TAG_MANAGED_BY, TAG_OWNER, TAG_STACK, Tagging
from stacks.offline.plan import Plan, PlannedResource
from stacks.spec.model import BucketSpec, ObjectLockSpec
from tests.oracles.botocore_models import assert_allowed, member_enum
from tests.oracles.pulumi_schema import aws_takes_tags

BUCKET = "aws:s3/bucket:Bucket"
SETTINGS = {
    "versioning": "aws:s3/bucketVersioning:BucketVersioning",
    "encryption": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "public_access": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "ownership": "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "policy": "aws:s3/bucketPolicy:BucketPolicy",
    "lifecycle": "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "logging": "aws:s3/bucketLogging:BucketLogging",
    "object_lock": "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
}


def setting(plan: Plan, bucket: PlannedResource, kind: str) -> PlannedResource | None:
    """The settings resource of one kind attached to a bucket (joined by the bucket's id)."""
    found = [r for r in plan.of_type(SETTINGS[kind]) if r.inputs.get("bucket") == bucket.id]
    assert len(found) <= 1, f"{len(found)} {kind} resources on {bucket.name}"
    return found[0] if found else None


def required(plan: Plan, bucket: PlannedResource, kind: str) -> dict[str, Any]:
    found = setting(plan, bucket, kind)
    assert found is not None, f"bucket {bucket.name} has no {kind} resource"
    return found.plain_inputs()


def artifact_buckets(plan: Plan) -> list[PlannedResource]:
    return [b for b in plan.of_type(BUCKET) if not b.name.endswith("access-logs")]


def log_bucket(plan: Plan) -> PlannedResource:
    (bucket,) = [b for b in plan.of_type(BUCKET) if b.name.endswith("access-logs")]
    return bucket


def test_one_bucket_per_spec_entry_plus_the_log_bucket(dev_plan: Plan, prod_plan: Plan) -> None:
    assert sorted(b.name for b in artifact_buckets(dev_plan)) == [
        "dev-datasets",
        "dev-experiments",
        "dev-models",
    ]
    assert sorted(b.name for b in artifact_buckets(prod_plan)) == [
        "prod-datasets",
        "prod-experiments",
        "prod-models",
    ]


def test_every_bucket_is_versioned_private_and_owner_enforced(plan: Plan) -> None:
    for bucket in plan.of_type(BUCKET):
        status = required(plan, bucket, "versioning")["versioningConfiguration"]["status"]
        assert status == "Enabled"
        assert_allowed(status, "s3", "BucketVersioningStatus")
        block = required(plan, bucket, "public_access")
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        assert {flag: block.get(flag) for flag in flags} == dict.fromkeys(flags, True)
        ownership = required(plan, bucket, "ownership")["rule"]["objectOwnership"]
        assert ownership == "BucketOwnerEnforced"
        assert_allowed(ownership, "s3", "ObjectOwnership")


def test_artifact_buckets_use_sse_kms_with_the_rotating_key_and_a_bucket_key(plan: Plan) -> None:
    (key,) = [k for k in plan.of_type("aws:kms/key:Key") if k.parent and "ArtifactStore" in k.parent]
    key_inputs = key.plain_inputs()
    assert key_inputs["enableKeyRotation"] is True
    key_arn = plan.outputs["artifacts_kms_key_arn"]
    for bucket in artifact_buckets(plan):
        (rule,) = required(plan, bucket, "encryption")["rules"]
        default = rule["applyServerSideEncryptionByDefault"]
        assert default["sseAlgorithm"] == "aws:kms"
        assert default["kmsMasterKeyId"] == key_arn
        assert rule["bucketKeyEnabled"] is True
        assert_allowed(default["sseAlgorithm"], "s3", "ServerSideEncryption")


def test_log_bucket_uses_sse_s3_because_access_logging_cannot_deliver_to_kms(plan: Plan) -> None:
    (rule,) = required(plan, log_bucket(plan), "encryption")["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert_allowed("AES256", "s3", "ServerSideEncryption")


def test_bucket_policies_deny_every_request_without_tls(plan: Plan) -> None:
    for bucket in plan.of_type(BUCKET):
        arn = f"arn:aws:s3:::{bucket.id}"
        document = json.loads(required(plan, bucket, "policy")["policy"])
        deny = [s for s in document["Statement"] if s["Effect"] == "Deny"]
        assert deny == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
        allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
        assert all(s["Principal"] != "*" and s["Principal"] != {"AWS": "*"} for s in allows)


def test_log_delivery_is_limited_to_our_buckets_and_account(prod_plan: Plan) -> None:
    document = json.loads(required(prod_plan, log_bucket(prod_plan), "policy")["policy"])
    (allow,) = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert sorted(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(
        f"arn:aws:s3:::{b.id}" for b in artifact_buckets(prod_plan)
    )


def test_lifecycle_and_logging_follow_the_spec(prod_plan: Plan) -> None:
    expected_noncurrent = {"prod-models": 365, "prod-datasets": 90, "prod-experiments": 7}
    # Only the experiments bucket expires current objects (experiments' throw-away checkpoints).
    expected_expiration = {"prod-models": None, "prod-datasets": None, "prod-experiments": {"days": 30}}
    statuses = member_enum("s3", "LifecycleRule", "Status")
    for bucket in artifact_buckets(prod_plan):
        rules = {r["id"]: r for r in required(prod_plan, bucket, "lifecycle")["rules"]}
        assert all(r["status"] in statuses for r in rules.values())
        noncurrent = rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"]
        assert noncurrent == expected_noncurrent[bucket.name]
        current = rules.get("expire-current-versions", {}).get("expiration")
        assert current == expected_expiration[bucket.name]
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
            "daysAfterInitiation": 7
        }
        logging = required(prod_plan, bucket, "logging")
        assert logging["targetBucket"] == log_bucket(prod_plan).id
    datasets = next(b for b in artifact_buckets(prod_plan) if b.name == "prod-datasets")
    rules = {r["id"]: r for r in required(prod_plan, datasets, "lifecycle")["rules"]}
    assert rules["transition-to-standard-ia"]["transitions"] == [{"days": 60, "storageClass": "STANDARD_IA"}]


@pytest.mark.parametrize(("stack", "mode", "days"), [("dev", "GOVERNANCE", 7), ("prod", "COMPLIANCE", 365)])
def test_models_bucket_is_object_locked_as_the_spec_says(
    stack: str, mode: str, days: int, request: pytest.FixtureRequest
) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    for bucket in plan.of_type(BUCKET):
        lock = setting(plan, bucket, "object_lock")
        if bucket.name == f"{stack}-models":
            assert bucket.plain_inputs()["objectLockEnabled"] is True
            assert lock is not None
            retention = lock.plain_inputs()["rule"]["defaultRetention"]
            assert retention == {"mode": mode, "days": days}
            assert_allowed(retention["mode"], "s3", "ObjectLockRetentionMode")
        else:
            assert lock is None
            assert "objectLockEnabled" not in bucket.plain_inputs()


def test_ecr_repositories_are_immutable_scanned_and_kms_encrypted(plan: Plan) -> None:
    key_arn = plan.outputs["artifacts_kms_key_arn"]
    repositories = plan.of_type("aws:ecr/repository:Repository")
    assert repositories
    for repository in repositories:
        inputs = repository.plain_inputs()
        assert inputs["imageTagMutability"] == "IMMUTABLE"
        assert_allowed(inputs["imageTagMutability"], "ecr", "ImageTagMutability")
        assert inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn}]
        assert_allowed("KMS", "ecr", "EncryptionType")
        assert inputs["forceDelete"] is False


def test_platform_stacks_protect_and_retain_stateful_resources(plan: Plan) -> None:
    stateful = {BUCKET, "aws:kms/key:Key", "aws:ecr/repository:Repository"}
    store = plan.of_type("mlenv:artifacts:ArtifactStore")[0]
    for resource in plan.descendants(store.urn):
        assert resource.retain_on_delete or resource.type == "aws:kms/alias:Alias", resource.urn
        assert resource.protect == (resource.type in stateful), resource.urn
    assert all(b.plain_inputs()["forceDestroy"] is False for b in plan.of_type(BUCKET))


def test_every_taggable_resource_carries_the_mlenv_tags(plan: Plan) -> None:
    taggable = [
        r for r in plan.resources if r.custom and r.type.startswith("aws:") and aws_takes_tags(r.type)
    ]
    assert len(taggable) >= 5
    for resource in taggable:
        tags = resource.plain_inputs().get("tags", {})
        assert set(REQUIRED_TAGS) <= set(tags), (resource.urn, tags)
        assert tags[TAG_STACK] == plan.stack
        assert tags[TAG_OWNER] == "ml-platform"
        assert tags[TAG_MANAGED_BY] == "pulumi"
        assert tags["cost-center"] == f"ml-{plan.stack}"
    artifacts = [r for r in taggable if r.parent and "ArtifactStore" in r.parent]
    assert artifacts and all(r.plain_inputs()["tags"][TAG_COMPONENT] == "artifacts" for r in artifacts)


def experiment_store() -> ArtifactStore:
    return ArtifactStore(
        "exp",
        ArtifactStoreArgs(
            environment="exp-a",
            tagging=Tagging(stack="exp-a", owner="me", expires_at="2026-11-23T00:00:00Z", experiment="exp-a"),
            buckets=(BucketSpec(name="models", object_lock=ObjectLockSpec(retention_days=1)),),
            ecr_repositories=(),
            long_lived=False,
        ),
    )


def test_experiment_stores_are_disposable(run_offline: Callable[[Callable[[], Any]], Plan]) -> None:
    plan = run_offline(experiment_store)
    buckets = plan.of_type(BUCKET)
    assert len(buckets) == 2
    for resource in plan.resources:
        assert not resource.protect and not resource.retain_on_delete, resource.urn
    assert all(b.plain_inputs()["forceDestroy"] is True for b in buckets)
    tags = buckets[0].plain_inputs()["tags"]
    assert tags["mlenv:expires-at"] == "2026-11-23T00:00:00Z"
    assert tags["mlenv:experiment"] == "exp-a"
