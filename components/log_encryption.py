"""LogsKey: the customer-managed key that encrypts the environment's CloudWatch log groups.

VPC flow logs and the EKS control-plane logs (audit logs included) name every peer and API caller;
CloudWatch Logs encrypts them with a customer key only when the key policy lets the logs service use
it for those log groups' ARNs (components/key_policy.py). The log group names are stated here, before
the groups exist, because the key (and its policy) must exist before the groups that use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.key_policy import key_policy_output
from components.stateful import stateful_options
from components.tags import Tagging

COMPONENT = "logs"


def flow_log_group_name(environment: str) -> str:
    """``/mlenv/<environment>/vpc-flow-logs``."""
    return f"/mlenv/{environment}/vpc-flow-logs"


def control_plane_log_group_name(cluster: str) -> str:
    """``/aws/eks/<cluster>/cluster``: the name EKS writes to (it is not configurable)."""
    return f"/aws/eks/{cluster}/cluster"


@dataclass(frozen=True)
class LogsKeyArgs:
    """Inputs of a LogsKey."""

    environment: str
    """Environment name; names the key's alias ``alias/mlenv-<environment>-logs``."""
    tagging: Tagging
    """The environment's tags; this component adds ``mlenv:component=logs``."""
    log_group_names: tuple[str, ...]
    """The log groups the logs service may encrypt with this key (nothing else may)."""
    long_lived: bool = True
    """True (default): the key is protected and retained (losing it makes the logs unreadable)."""
    deletion_window_days: int = 30
    """Waiting period before a deleted key is gone. Default 30."""


class LogsKey(pulumi.ComponentResource):
    """A rotated KMS key, with an alias, usable only by CloudWatch Logs for the named log groups."""

    key: aws.kms.Key

    def __init__(self, name: str, args: LogsKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:logs:LogsKey", name, None, opts)
        self.key = aws.kms.Key(
            f"{args.environment}-logs",
            description=f"mlenv {args.environment}: CloudWatch log groups",
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=key_policy_output(self, log_group_names=args.log_group_names),
            tags=args.tagging.tags(COMPONENT),
            opts=stateful_options(args.long_lived, parent=self),
        )
        aws.kms.Alias(
            f"{args.environment}-logs",
            name=f"alias/mlenv-{args.environment}-logs",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"key_arn": self.key.arn})
