"""Who owns an experiment: the caller's AWS identity, as STS reports it, never a name they type.

``sts:GetCallerIdentity`` needs no permission and cannot be refused (AWS STS API reference,
GetCallerIdentity: "No permissions are required to perform this operation"), so every caller that can
reach the ledger has one. Its ARN is the owner's key in the ledger (the per-owner GPU counter); a
short name derived from it goes into tags and the stack config.

The ARN shapes it returns (IAM User Guide, "IAM identifiers", ARNs):

=================  ===================================================  ======================
principal          ARN                                                  owner key (principal)
=================  ===================================================  ======================
IAM user           ``arn:aws:iam::123456789012:user/path/alice``        the user ARN
assumed role       ``arn:aws:sts::123456789012:assumed-role/R/session``  role R + session name
root               ``arn:aws:iam::123456789012:root``                   the root ARN
federated user     ``arn:aws:sts::123456789012:federated-user/bob``     the federated ARN
=================  ===================================================  ======================

An assumed-role session name is chosen by whoever calls AssumeRole unless the role's trust policy
pins it (condition key ``sts:RoleSessionName``, e.g. to ``${aws:username}``; IAM Identity Center
sets it to the user name). Platforms that share one role between people should pin it, or two people
could share one owner key; that is a property of the account's IAM, stated in the README.

``--owner`` (acting for someone else) is allowed only to callers whose principal (the role for an
assumed role) is listed in the platform's ``experiments.operators`` setting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stacks.experiments.errors import ExperimentError, ExperimentInputError

ARN_PATTERN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$"
)
OWNER_NAME_MAX = 64
"""stacks/spec/model.py OWNER allows at most 64 characters."""


class IdentityError(ExperimentError):
    """STS could not tell who the caller is (no credentials, no network)."""


class NotAnOperatorError(ExperimentInputError):
    """``--owner`` was given by a caller the platform does not allow to act for others."""


@dataclass(frozen=True)
class CallerIdentity:
    """One AWS principal: its ARN as STS reports it, and what mlenv derives from it."""

    arn: str

    def __post_init__(self) -> None:
        if ARN_PATTERN.match(self.arn) is None:
            raise ExperimentInputError(
                f"{self.arn!r} is not an IAM or STS principal ARN "
                "(e.g. arn:aws:iam::123456789012:user/alice or arn:aws:iam::123456789012:role/ml-ops)"
            )

    @property
    def account(self) -> str:
        """The 12-digit account id."""
        return self._parts()["account"]

    @property
    def principal(self) -> str:
        """The IAM principal behind the ARN: an assumed-role session is reported as its role's ARN."""
        parts = self._parts()
        resource = parts["resource"]
        if parts["service"] == "sts" and resource.startswith("assumed-role/"):
            role = resource.split("/")[1]
            return f"arn:{parts['partition']}:iam::{parts['account']}:role/{role}"
        return self.arn

    @property
    def name(self) -> str:
        """A short, tag- and spec-safe owner name: the user, session or federated name (or root)."""
        resource = self._parts()["resource"]
        last = resource.rsplit("/", 1)[-1] if "/" in resource else resource
        cleaned = re.sub(r"[^\w.+@-]", "-", last)[:OWNER_NAME_MAX]
        return cleaned or "unknown"

    def _parts(self) -> dict[str, str]:
        match = ARN_PATTERN.match(self.arn)
        assert match is not None  # checked in __post_init__
        return match.groupdict()


def caller_identity(sts: Any) -> CallerIdentity:
    """The caller's identity from ``sts:GetCallerIdentity`` (a boto3 STS client)."""
    try:
        arn = sts.get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError) as exc:
        raise IdentityError(
            f"could not ask AWS STS who you are ({exc}); experiments are owned by your AWS identity: "
            "configure credentials (aws configure / AWS_PROFILE / SSO login) and retry"
        ) from None
    return CallerIdentity(str(arn))


def owner_for(caller: CallerIdentity, requested: str | None, operators: Sequence[str]) -> CallerIdentity:
    """The experiment's owner: the caller, or ``requested`` when the caller may act for others."""
    if requested is None or requested == caller.arn:
        return caller
    if caller.principal not in operators and caller.arn not in operators:
        allowed = ", ".join(operators) if operators else "none"
        raise NotAnOperatorError(
            f"--owner {requested}: {caller.arn} may not create experiments for others; only the "
            f"platform's experiments.operators may (currently: {allowed}). Drop --owner to own it yourself"
        )
    return CallerIdentity(requested)
