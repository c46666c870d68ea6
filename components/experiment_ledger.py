"""ExperimentLedger: the DynamoDB table `mlenv exp` keeps its experiments and GPU quotas in.

The platform stack owns it, because it outlives every experiment: point-in-time recovery, SSE-KMS
with the environment's key, deletion protection, and (in a long-lived stack) protected and retained,
so neither `pulumi destroy` nor a refactor can lose the record of what is running. Its key schema is
the one ``stacks.experiment_ledger.Ledger`` reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.stateful import stateful_options
from components.tags import Tagging
from stacks.experiment_ledger import LEDGER_KEY, ledger_table_name

COMPONENT = "experiments"


@dataclass(frozen=True)
class ExperimentLedgerArgs:
    """Inputs of an ExperimentLedger."""

    environment: str
    """Platform environment name; the table is ``mlenv-<environment>-experiments``."""
    tagging: Tagging
    """The environment's tags; this component adds ``mlenv:component=experiments``."""
    kms_key: aws.kms.Key
    """Customer-managed key the table is encrypted with (the environment's artifacts key)."""
    long_lived: bool = True
    """True (default): deletion protection on, and the table protected and retained on delete."""


class ExperimentLedger(pulumi.ComponentResource):
    """The experiment ledger table."""

    table: aws.dynamodb.Table

    def __init__(
        self, name: str, args: ExperimentLedgerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlenv:experiment:Ledger", name, None, opts)
        self.table = aws.dynamodb.Table(
            name,
            name=ledger_table_name(args.environment),
            billing_mode="PAY_PER_REQUEST",
            hash_key=LEDGER_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=LEDGER_KEY, type="S")],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=args.kms_key.arn
            ),
            deletion_protection_enabled=args.long_lived,
            tags=args.tagging.tags(COMPONENT),
            opts=stateful_options(args.long_lived, parent=self),
        )
        self.register_outputs({"table_name": self.table.name, "table_arn": self.table.arn})
