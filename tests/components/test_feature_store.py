"""FeatureStore under the offline engine: what the real SDK registered, checked against AWS's models."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
import yaml

from components.feature_store import FeatureStore, FeatureStoreArgs, RedisNetwork, table_name
from components.tags import Tagging
from stacks.offline.plan import Plan, PlannedResource, is_secret
from stacks.spec.model import FeatureViewSpec
from tests.components.conftest import ProgramRunner
from tests.oracles.botocore_models import assert_allowed, member_enum

OIDC_URL = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
VIEWS = (
    FeatureViewSpec(name="customer_stats", entities=["customer_id"]),
    FeatureViewSpec(name="txn", entities=["id"]),
)


def program(online: str = "dynamodb", long_lived: bool = True) -> Any:
    def run() -> None:
        key = aws.kms.Key("key")
        bucket = aws.s3.Bucket("datasets", bucket="mlenv-test-datasets")
        oidc = aws.iam.OpenIdConnectProvider("oidc", url=OIDC_URL, client_id_lists=["sts.amazonaws.com"])
        store = FeatureStore(
            "fs",
            FeatureStoreArgs(
                environment="test",
                stack="test",
                tagging=Tagging(stack="test", owner="ml"),
                region="us-east-1",
                project="fraud",
                feature_views=VIEWS,
                datasets_bucket=bucket,
                kms_key=key,
                oidc_provider=oidc,
                online_store=online,
                redis_network=RedisNetwork(
                    vpc_id="vpc-1", subnet_ids=["subnet-1"], client_cidrs=["10.0.0.0/16"]
                ),
                long_lived=long_lived,
            ),
        )
        pulumi.export("feature_store_yaml", store.config_yaml)

    return run


@pytest.fixture(scope="module")
def plan() -> Plan:
    from stacks.offline.engine import run_program

    return run_program(program(), config={}, secret_keys=[], stack="test", region="us-east-1")


def one(plan: Plan, type_: str, name: str) -> PlannedResource:
    return next(r for r in plan.of_type(type_) if r.name == name)


def test_tables_are_on_demand_with_pitr_sse_and_deletion_protection(plan: Plan) -> None:
    tables = plan.of_type("aws:dynamodb/table:Table")
    assert sorted(t.inputs["name"] for t in tables) == sorted(
        table_name("test", "fraud", v.name) for v in VIEWS
    )
    key_arn = plan.of_type("aws:kms/key:Key")[0].inputs
    for table in tables:
        inputs = table.plain_inputs()
        assert_allowed(inputs["billingMode"], "dynamodb", "BillingMode")
        assert inputs["billingMode"] == "PAY_PER_REQUEST"
        assert inputs["pointInTimeRecovery"] == {"enabled": True}
        assert inputs["serverSideEncryption"]["enabled"] is True
        assert inputs["serverSideEncryption"]["kmsKeyArn"].startswith("arn:aws:kms:")
        assert inputs["deletionProtectionEnabled"] is True
        assert table.protect and table.retain_on_delete
        for attribute in inputs["attributes"]:
            assert_allowed(attribute["type"], "dynamodb", "ScalarAttributeType")
    assert key_arn is not None


def test_experiment_tables_are_not_protected(run_offline: ProgramRunner) -> None:
    plan = run_offline(program(long_lived=False))
    for table in plan.of_type("aws:dynamodb/table:Table"):
        assert table.inputs["deletionProtectionEnabled"] is False
        assert not table.protect


def test_athena_results_are_kms_encrypted_and_enforced(plan: Plan) -> None:
    (workgroup,) = plan.of_type("aws:athena/workgroup:Workgroup")
    config = workgroup.plain_inputs()["configuration"]
    assert config["enforceWorkgroupConfiguration"] is True
    encryption = config["resultConfiguration"]["encryptionConfiguration"]
    assert_allowed(encryption["encryptionOption"], "athena", "EncryptionOption")
    assert encryption["encryptionOption"] == "SSE_KMS"
    assert encryption["kmsKeyArn"].startswith("arn:aws:kms:")
    assert config["resultConfiguration"]["outputLocation"].startswith(
        "s3://mlenv-test-datasets/feature-store/fraud/"
    )
    assert_allowed(workgroup.inputs["state"], "athena", "WorkGroupState")


def test_glue_catalog_is_kms_encrypted(plan: Plan) -> None:
    (settings,) = plan.of_type("aws:glue/dataCatalogEncryptionSettings:DataCatalogEncryptionSettings")
    at_rest = settings.plain_inputs()["dataCatalogEncryptionSettings"]["encryptionAtRest"]
    assert at_rest["catalogEncryptionMode"] in member_enum(
        "glue", "EncryptionAtRest", "CatalogEncryptionMode"
    )
    assert at_rest["catalogEncryptionMode"] == "SSE-KMS"
    (database,) = plan.of_type("aws:glue/catalogDatabase:CatalogDatabase")
    assert database.inputs["locationUri"] == "s3://mlenv-test-datasets/feature-store/fraud/offline/"


def policy(plan: Plan, name: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(one(plan, "aws:iam/policy:Policy", name).inputs["policy"])[
        "Statement"
    ]
    return statements


@pytest.mark.parametrize("name", ["test-fs-reader", "test-fs-writer"])
def test_policies_name_exact_actions_and_resources(plan: Plan, name: str) -> None:
    for statement in policy(plan, name):
        assert all("*" not in action for action in statement["Action"]), statement
        for resource in statement["Resource"]:
            # Only object keys under the store's own prefix or Glue tables of its own database.
            assert not resource.endswith(":*") and resource != "*", statement
            if resource.endswith("*"):
                assert resource.endswith(("/feature-store/fraud/*", ":table/mlenv_test_fraud/*")), resource


def test_reader_reads_tables_and_registry_only(plan: Plan) -> None:
    statements = {s["Sid"]: s for s in policy(plan, "test-fs-reader")}
    tables = {t.inputs["name"] for t in plan.of_type("aws:dynamodb/table:Table")}
    online = statements["ReadOnlineTables"]
    assert {a.split(":")[1] for a in online["Action"]} <= {"BatchGetItem", "GetItem", "DescribeTable"}
    assert {r.split("table/")[1] for r in online["Resource"]} == tables
    assert statements["ReadRegistry"]["Resource"] == [
        "arn:aws:s3:::mlenv-test-datasets/feature-store/fraud/registry.pb"
    ]
    assert "s3:PutObject" not in json.dumps(statements)


def test_roles_trust_one_service_account_through_the_oidc_provider(plan: Plan) -> None:
    host = OIDC_URL.removeprefix("https://")
    expected = {"test-fs-reader": "serving:feast-reader", "test-fs-writer": "feature-store:feast-materialize"}
    for name, subject in expected.items():
        trust = json.loads(one(plan, "aws:iam/role:Role", name).inputs["assumeRolePolicy"])
        (statement,) = trust["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"]["Federated"].startswith("arn:aws:iam:")
        assert statement["Condition"]["StringEquals"] == {
            f"{host}:sub": f"system:serviceaccount:{subject}",
            f"{host}:aud": "sts.amazonaws.com",
        }


def test_feature_store_yaml_has_feasts_required_fields(plan: Plan) -> None:
    document = yaml.safe_load(plan.outputs["feature_store_yaml"])
    # Feast's RepoConfig: project, provider, registry, online_store, offline_store (docs.feast.dev).
    assert document["project"] == "fraud"
    assert document["provider"] == "aws"
    assert document["registry"]["path"] == "s3://mlenv-test-datasets/feature-store/fraud/registry.pb"
    assert document["online_store"] == {
        "type": "dynamodb",
        "region": "us-east-1",
        "table_name_template": "mlenv-test.{project}.{table_name}",
    }
    offline = document["offline_store"]
    assert offline["type"] == "athena" and offline["data_source"] == "AwsDataCatalog"
    database = plan.of_type("aws:glue/catalogDatabase:CatalogDatabase")[0].inputs["name"]
    workgroup = plan.of_type("aws:athena/workgroup:Workgroup")[0].inputs["name"]
    assert (offline["database"], offline["workgroup"]) == (database, workgroup)
    assert offline["s3_staging_location"].startswith("s3://mlenv-test-datasets/feature-store/fraud/")
    # The template's table names are the tables that exist.
    for view in VIEWS:
        name = document["online_store"]["table_name_template"].format(project="fraud", table_name=view.name)
        assert name in {t.inputs["name"] for t in plan.of_type("aws:dynamodb/table:Table")}


def test_redis_store_is_encrypted_with_a_secret_token(run_offline: ProgramRunner) -> None:
    plan = run_offline(program(online="redis"))
    assert not plan.of_type("aws:dynamodb/table:Table")
    (group,) = plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert group.inputs["atRestEncryptionEnabled"] is True
    assert group.inputs["transitEncryptionEnabled"] is True
    assert group.inputs["snapshotRetentionLimit"] > 0
    assert group.protect
    (token,) = plan.of_type("pulumi-python:dynamic:Resource")
    assert "token" in token.additional_secret_outputs
    assert (
        "authToken" not in group.inputs
        or not isinstance(group.inputs["authToken"], str)
        or is_secret(group.inputs["authToken"])
    )
