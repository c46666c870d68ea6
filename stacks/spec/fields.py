"""The building blocks every spec model shares: the config key, field patterns and their hints,
constrained field types and the strict, frozen base model."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
)

CONFIG_NAMESPACE = "mlenv"
CONFIG_KEY = "environment"

DNS_LABEL = r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$"
IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"
INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
OWNER = r"^[A-Za-z0-9_.+@-]{1,64}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"

PATTERN_HINTS = {
    DNS_LABEL: "a lowercase DNS label of 2-30 characters (a-z, 0-9, '-'), starting with a letter",
    IDENTIFIER: "a snake_case identifier (a-z, 0-9, '_'), starting with a letter",
    INSTANCE_TYPE: "an EC2 instance type such as g6e.xlarge",
    OWNER: "a team or user name of at most 64 ASCII letters, digits and . + @ - _ (it is a label value)",
    REGION: "an AWS region such as us-east-1",
}
"""What each pattern means, for error messages (a regex is no help to a reader)."""

# Lowercase DNS label: usable in S3 bucket names, Kubernetes object names and node group names.
DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL)]
# Snake-case identifier, as Feast names projects and feature views.
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER)]
IamRoleArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$", max_length=600)
]
# AWS tag values: 256 characters of letters, digits, spaces and + - = . _ : / @
TagValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_ +\-=.:/@]*$", max_length=256)]
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_ +\-=.:/@]+$", min_length=1, max_length=128)]
InstanceType = Annotated[str, StringConstraints(pattern=INSTANCE_TYPE)]
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)
"""The retention periods CloudWatch Logs accepts (PutRetentionPolicy ``retentionInDays``,
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html),
up to seven years; the policy pack sets the floor (``min_log_retention_days``)."""


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(v) for v in LOG_RETENTION_DAYS)
        raise ValueError(f"CloudWatch Logs keeps logs for one of {allowed} days; pick the next value up")
    return value


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
