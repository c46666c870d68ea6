"""DynamoDB tables that hold data, hardened the same way wherever mlenv creates one.

On-demand billing, point-in-time recovery, SSE-KMS with the environment's key, deletion protection
and (through ``components.stateful``) protected and retained in long-lived stacks. The experiment
ledger and the feature store's online tables both use it, so the two cannot drift apart.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.stateful import stateful_options


def data_table(
    name: str,
    *,
    table_name: str,
    hash_key: str,
    kms_key: aws.kms.Key,
    long_lived: bool,
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> aws.dynamodb.Table:
    """A table keyed by the string attribute ``hash_key``; deletion-protected when ``long_lived``."""
    return aws.dynamodb.Table(
        name,
        name=table_name,
        billing_mode="PAY_PER_REQUEST",
        hash_key=hash_key,
        attributes=[aws.dynamodb.TableAttributeArgs(name=hash_key, type="S")],
        point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
        server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
            enabled=True, kms_key_arn=kms_key.arn
        ),
        deletion_protection_enabled=long_lived,
        tags=tags,
        opts=stateful_options(long_lived, parent=parent),
    )
