"""KMS key policies and log encryption, asserted on what the real program registered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.key_policy import ADMIN_ACTIONS
from stacks.offline.mocks import ACCOUNT_ID
from stacks.offline.plan import Plan
from tests.components.compute_helpers import only, spec_of
from tests.oracles.arn_formats import arn_pattern

KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _statements(key_inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(key_inputs["policy"])["Statement"]}


def test_every_key_has_a_policy_that_allows_nothing_to_everyone(plan: Plan) -> None:
    keys = plan.of_type(KEY)
    assert len(keys) >= 3
    for key in keys:
        statements = _statements(key.plain_inputs())
        admin = statements["KeyAdministration"]
        assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
        assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(admin["Action"])
        assert set(admin["Action"]) == set(ADMIN_ACTIONS)
        for sid, statement in statements.items():
            assert statement["Principal"] != "*" and "*" not in statement["Principal"].values(), sid
            if sid != "KeyAdministration":
                assert statement["Condition"], sid


@pytest.mark.parametrize(
    ("key_suffix", "services"),
    [("artifacts", {"dynamodb", "ecr", "elasticache", "glue", "s3"}), ("eks-secrets", {"eks"})],
)
def test_keys_are_used_only_through_their_services_by_this_account(
    plan: Plan, key_suffix: str, services: set[str]
) -> None:
    spec = spec_of(plan)
    key = only([k for k in plan.of_type(KEY) if k.name == f"{spec.name}-{key_suffix}"])
    statements = _statements(key.plain_inputs())
    for sid in ("UseThroughServices", "GrantsForServiceResources"):
        condition = statements[sid]["Condition"]["StringEquals"]
        assert condition["kms:CallerAccount"] == ACCOUNT_ID
        assert set(condition["kms:ViaService"]) == {f"{s}.{spec.region}.amazonaws.com" for s in services}
    grants = statements["GrantsForServiceResources"]
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert "CloudWatchLogsForNamedGroups" not in statements


def test_logs_key_serves_exactly_the_environment_log_groups(plan: Plan) -> None:
    spec = spec_of(plan)
    key = only([k for k in plan.of_type(KEY) if k.name == f"{spec.name}-logs"])
    statements = _statements(key.plain_inputs())
    assert set(statements) == {"KeyAdministration", "CloudWatchLogsForNamedGroups"}
    logs = statements["CloudWatchLogsForNamedGroups"]
    assert logs["Principal"] == {"Service": f"logs.{spec.region}.amazonaws.com"}
    arns = logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
    groups = plan.of_type(LOG_GROUP)
    assert len(arns) == len(groups) == 2
    for arn in arns:
        assert arn_pattern(LOG_GROUP).match(arn), arn
    assert {arn.split(":log-group:", 1)[1] for arn in arns} == {g.inputs["name"] for g in groups}
    for group in groups:
        assert group.property_dependencies["kmsKeyId"] == [key.urn]


def test_control_plane_logs_kept_as_the_spec_says(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.cluster is not None
    group = only([g for g in plan.of_type(LOG_GROUP) if g.inputs["name"].startswith("/aws/eks/")])
    assert group.inputs["retentionInDays"] == spec.cluster.log_retention_days


def test_access_log_bucket_aborts_incomplete_multipart_uploads(plan: Plan) -> None:
    spec = spec_of(plan)
    lifecycle = only(
        [
            c
            for c in plan.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
            if c.name == f"{spec.name}-access-logs"
        ]
    )
    rules = {r["id"]: r for r in lifecycle.plain_inputs()["rules"]}
    abort = rules["abort-incomplete-multipart-uploads"]
    assert abort["status"] == "Enabled"
    assert abort["abortIncompleteMultipartUpload"]["daysAfterInitiation"] >= 1
