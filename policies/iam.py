"""IAM: no wildcard permissions, trust policies scoped to one principal, no account-wide managed policies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policies import resource_types as T
from policies.config import schema, setting_strings
from policies.policy_types import Report, ResourcePolicy
from policies.properties import get, json_document, mappings, statements, strings


def _permission_documents(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(where, raw document) of every permission document on the resource."""
    prop = T.IAM_PERMISSION_DOCUMENTS.get(args.resource_type)
    if prop is not None:
        yield prop, get(args.props, prop)
    if args.resource_type == T.IAM_ROLE:
        for inline in mappings(get(args.props, "inlinePolicies")):
            yield f"inline policy {get(inline, 'name')}", get(inline, "policy")


ACTIONS_AUTHORISED_ONLY_ON_ANY_RESOURCE = frozenset({"logs:DescribeLogGroups"})
"""Actions for which the Service Authorization Reference lists no resource type, so IAM authorises
them only with ``"Resource": "*"`` (https://docs.aws.amazon.com/service-authorization/latest/reference/
list_amazoncloudwatchlogs.html). A statement of only these actions may name ``*``."""


def _wildcard_problems(statement: Mapping[str, Any], unscopable: Sequence[str] = ()) -> list[str]:
    problems = []
    actions = strings(get(statement, "Action"))
    allowed = ACTIONS_AUTHORISED_ONLY_ON_ANY_RESOURCE | set(unscopable)
    any_resource_ok = bool(actions) and all(a in allowed for a in actions)
    if get(statement, "NotAction") is not None or get(statement, "NotResource") is not None:
        problems.append("uses NotAction/NotResource (allows everything not listed)")
    for action in strings(get(statement, "Action")):
        if action == "*" or action.endswith(":*"):
            problems.append(f"allows action {action!r}")
    if "*" in strings(get(statement, "Resource")) and not any_resource_ok:
        problems.append("allows resource '*'")
    return problems


def check_no_wildcard_iam(args: ResourceValidationArgs, report: Report) -> None:
    """Allow statements name exact actions and resources."""
    documents = list(_permission_documents(args))
    if not documents:
        return
    for where, raw in documents:
        if raw is None:
            continue
        document = json_document(raw)
        if document is None:
            report(f"{where} is not a JSON policy document; build it with json.dumps of a dict")
            continue
        for number, statement in enumerate(statements(document), start=1):
            if get(statement, "Effect") != "Allow":
                continue
            sid = get(statement, "Sid") or f"statement {number}"
            for problem in _wildcard_problems(statement, setting_strings(args, "unscopable_actions")):
                report(f"{where}, {sid} {problem}: list the exact actions and resource ARNs it needs")


no_wildcard_iam = ResourcePolicy(
    name="no-wildcard-iam",
    description="IAM policies grant exact actions on exact resources, so a leaked role cannot do everything.",
    check=check_no_wildcard_iam,
    config_schema=schema("unscopable_actions"),
)

WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"


def check_iam_trust_scoped(args: ResourceValidationArgs, report: Report) -> None:
    """Role trust policies name their principal; web-identity trust pins the token's subject."""
    if args.resource_type != T.IAM_ROLE:
        return
    document = json_document(get(args.props, "assumeRolePolicy"))
    if document is None:
        report("assume_role_policy is missing or not JSON: state who may assume the role")
        return
    for number, statement in enumerate(statements(document), start=1):
        if get(statement, "Effect") != "Allow":
            continue
        sid = get(statement, "Sid") or f"statement {number}"
        principal = get(statement, "Principal")
        if principal == "*" or "*" in strings(get(principal, "AWS")):
            report(f"{sid} lets any AWS principal assume the role: name the account, role or service")
        if WEB_IDENTITY in strings(get(statement, "Action")):
            conditions = [
                key
                for operator in ("StringEquals", "StringLike")
                for key in (get(statement, f"Condition.{operator}") or {})
            ]
            if not any(key.endswith(":sub") for key in conditions):
                report(
                    f"{sid} trusts web identity tokens of any subject: add a StringEquals condition on "
                    "<issuer>:sub naming the one service account"
                )


iam_trust_scoped = ResourcePolicy(
    name="iam-trust-scoped",
    description="Roles are assumable only by the principal they exist for (one service or service account).",
    check=check_iam_trust_scoped,
)


def check_no_broad_managed_policies(args: ResourceValidationArgs, report: Report) -> None:
    """No attachment of AWS managed policies that grant a whole account or service."""
    if args.resource_type not in T.IAM_ATTACHMENTS:
        return
    arn = get(args.props, "policyArn")
    if not isinstance(arn, str):
        args.not_applicable("the attachment names no policy ARN")
    forbidden = setting_strings(args, "forbidden_managed_policies")
    if isinstance(arn, str) and arn.rsplit("/", 1)[-1] in forbidden and ":iam::aws:policy/" in arn:
        report(f"do not attach {arn}: write a policy with the exact actions and resources needed")


no_broad_managed_policies = ResourcePolicy(
    name="no-broad-managed-policies",
    description="No role gets AdministratorAccess-like managed policies; permissions are written per need.",
    check=check_no_broad_managed_policies,
    config_schema=schema("forbidden_managed_policies"),
)
