"""The IAM policies of a feature store, as pure functions of the ARNs they are scoped to.

Two roles: a reader (online serving: read feature values and the registry) and a writer (``feast
apply`` and materialization: write the online tables and the registry, run offline queries).
Every statement names exact actions and exact resources: the tables of this store, the
registry object, the store's prefix of the datasets bucket, its Glue database and Athena
workgroup. KMS use is limited to calls made through the services that store the data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DYNAMODB_READ = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:DescribeTable")
# Feast's apply calls CreateTable on each table and ignores ResourceInUseException: the tables
# exist (owned here, protected), so scoped to their exact ARNs the call can create nothing.
DYNAMODB_WRITE = (
    "dynamodb:BatchWriteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:DescribeTable",
    "dynamodb:CreateTable",
)
ATHENA_QUERY = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "athena:GetWorkGroup",
)
GLUE_READ = ("glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions")
GLUE_WRITE = ("glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable", "glue:BatchCreatePartition")


@dataclass(frozen=True)
class FeatureStoreArns:
    """Resolved names and ARNs the policies are scoped to."""

    region: str
    account: str
    table_arns: Sequence[str]
    """DynamoDB online tables (empty with a Redis online store)."""
    bucket_arn: str
    """The datasets bucket, which holds the registry and the offline data."""
    prefix: str
    """The store's key prefix in that bucket, without a trailing slash."""
    registry_key: str
    kms_key_arn: str
    workgroup_arn: str
    glue_database: str


def _statement(sid: str, actions: Sequence[str], resources: Sequence[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources), **extra}


def _kms(arns: FeatureStoreArns, actions: Sequence[str], services: Sequence[str]) -> dict[str, Any]:
    via = [f"{service}.{arns.region}.amazonaws.com" for service in services]
    return _statement(
        "UseStoreKeyThroughItsServices",
        actions,
        [arns.kms_key_arn],
        Condition={"StringEquals": {"kms:ViaService": via}},
    )


def _glue_arns(arns: FeatureStoreArns) -> list[str]:
    base = f"arn:aws:glue:{arns.region}:{arns.account}"
    return [
        f"{base}:catalog",
        f"{base}:database/{arns.glue_database}",
        f"{base}:table/{arns.glue_database}/*",
    ]


def reader_policy(arns: FeatureStoreArns) -> str:
    """Online reads: feature values from the tables and the registry object. Nothing else."""
    statements = [
        _statement("ReadRegistry", ["s3:GetObject"], [f"{arns.bucket_arn}/{arns.registry_key}"]),
    ]
    services = ["s3"]
    if arns.table_arns:
        statements.insert(0, _statement("ReadOnlineTables", DYNAMODB_READ, arns.table_arns))
        services.append("dynamodb")
    statements.append(_kms(arns, ["kms:Decrypt"], services))
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def writer_policy(arns: FeatureStoreArns) -> str:
    """``feast apply`` and materialization: online writes, the store's prefix, its Athena and Glue."""
    prefix_objects = f"{arns.bucket_arn}/{arns.prefix}/*"
    statements = [
        _statement(
            "ReadWriteStorePrefix",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            [prefix_objects],
        ),
        _statement(
            "ListStorePrefix",
            ["s3:ListBucket"],
            [arns.bucket_arn],
            Condition={"StringLike": {"s3:prefix": [f"{arns.prefix}/*", arns.prefix]}},
        ),
        # Athena asks where the results bucket is; that request carries no s3:prefix key.
        _statement("LocateBucket", ["s3:GetBucketLocation"], [arns.bucket_arn]),
        _statement("QueryOfflineStore", ATHENA_QUERY, [arns.workgroup_arn]),
        _statement("ReadWriteOfflineCatalog", GLUE_READ + GLUE_WRITE, _glue_arns(arns)),
    ]
    # The Glue Data Catalog is KMS-encrypted too: catalog calls decrypt with the caller's rights.
    services = ["s3", "glue"]
    if arns.table_arns:
        statements.insert(0, _statement("WriteOnlineTables", DYNAMODB_WRITE, arns.table_arns))
        services.append("dynamodb")
    statements.append(_kms(arns, ["kms:Decrypt", "kms:GenerateDataKey"], services))
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
