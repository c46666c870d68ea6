"""KMS key policies and CloudWatch log groups.

A key without a key policy gets AWS's default one, which hands ``kms:*`` to the account root: then
whoever IAM grants KMS rights can decrypt models, datasets and Kubernetes secrets directly
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html). Log groups hold flow
logs and the control plane's audit trail: encrypted with a customer key and kept at least a floor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policies import resource_types as T
from policies.config import schema, setting
from policies.policy_types import Report, ResourcePolicy
from policies.properties import get, json_document, statements, strings

CRYPTO_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo")
"""Actions that use a key's material; ``kms:*`` and ``kms:<prefix>*`` wildcards match them too."""


def _grants_crypto(actions: list[str]) -> bool:
    for action in actions:
        if action == "*" or any(
            action == c or (action.endswith("*") and c.startswith(action[:-1])) for c in CRYPTO_ACTIONS
        ):
            return True
    return False


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = get(statement, "Principal")
    if isinstance(principal, str):
        return [principal]
    if isinstance(principal, Mapping):
        return [p for value in principal.values() for p in strings(value)]
    return []


def _key_policy_problems(statement: Mapping[str, Any]) -> list[str]:
    if get(statement, "Effect") != "Allow":
        return []
    problems = []
    if "*" in _principals(statement) or get(statement, "NotPrincipal") is not None:
        problems.append("allows principal '*' (or uses NotPrincipal)")
    if get(statement, "NotAction") is not None:
        problems.append("uses NotAction")
    actions = strings(get(statement, "Action"))
    if _grants_crypto(actions) and not get(statement, "Condition"):
        problems.append(
            "grants cryptographic use without a condition: add kms:ViaService and kms:CallerAccount "
            "(or the log group's kms:EncryptionContext:aws:logs:arn)"
        )
    return problems


def check_kms_key_policy(args: ResourceValidationArgs, report: Report) -> None:
    """Every KMS key has an explicit key policy; no one gets unconditioned use, nobody is ``*``."""
    if args.resource_type != T.KMS_KEY:
        return
    raw = get(args.props, "policy")
    if raw is None:
        report(
            "set policy: without a key policy AWS's default gives the account root kms:*, so any IAM "
            "principal granted KMS rights can decrypt; use components/key_policy.py key_policy_output"
        )
        return
    document = json_document(raw)
    if document is None:
        report("policy is not a JSON key policy document; build it with components/key_policy.py")
        return
    for number, statement in enumerate(statements(document), start=1):
        sid = get(statement, "Sid") or f"statement {number}"
        for problem in _key_policy_problems(statement):
            report(f"key policy {sid} {problem}")


kms_keys_have_key_policy = ResourcePolicy(
    name="kms-keys-have-key-policy",
    description=(
        "KMS keys carry a key policy that allows use only through the services that need them, "
        "never to everyone and never to every IAM principal."
    ),
    check=check_kms_key_policy,
)


def check_log_groups(args: ResourceValidationArgs, report: Report) -> None:
    """Log groups are encrypted with a customer-managed key and kept at least the floor."""
    if args.resource_type != T.LOG_GROUP:
        return
    if not get(args.props, "kmsKeyId"):
        report("set kms_key_id to the environment's logs key (components/log_encryption.py)")
    floor = int(setting(args, "min_log_retention_days"))
    days = get(args.props, "retentionInDays")
    if days is None or days == 0:
        return  # kept forever
    # Numbers arrive as floats through the analyzer protocol (protobuf Struct).
    if isinstance(days, bool) or not isinstance(days, int | float) or days < floor:
        shown = int(days) if isinstance(days, float) and days.is_integer() else days
        report(f"retention_in_days is {shown}: keep logs at least {floor} days (min_log_retention_days)")


log_groups_encrypted_and_retained = ResourcePolicy(
    name="log-groups-encrypted-and-retained",
    description=(
        "CloudWatch log groups are encrypted with a customer key and kept at least the retention floor."
    ),
    check=check_log_groups,
    config_schema=schema("min_log_retention_days"),
)
