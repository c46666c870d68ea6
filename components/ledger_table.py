"""ExperimentLedger: the DynamoDB table `mlenv exp` keeps its experiments and GPU quotas in.

The platform stack owns it, because it outlives every experiment: point-in-time recovery, SSE-KMS
with the environment's key, deletion protection, and (in a long-lived stack) protected and retained,
so neither `pulumi destroy` nor a refactor can lose the record of what is running. Its key schema is
the one ``stacks.experiments.ledger.Ledger`` reads and writes.

The table also holds the platform's experiment quotas (item ``#settings``, written here from the
stack file's ``experiments`` section): `mlenv exp` reads them from the table, so the limits travel
with the platform's reviewed code, not with whoever runs the command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pulumi
import pulumi_aws as aws

from components.tables import data_table
from components.tags import Tagging
from stacks.experiments.ledger import ledger_table_name
from stacks.experiments.quotas import PlatformQuotas
from stacks.experiments.records import LEDGER_KEY
from stacks.spec.model import ExperimentQuotasSpec

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
    quotas: PlatformQuotas = field(default_factory=PlatformQuotas)
    """Experiment quotas written into the table. Default: PlatformQuotas' defaults (8/32 GPUs, 72h)."""


def platform_quotas(spec: ExperimentQuotasSpec) -> PlatformQuotas:
    """The stack file's ``experiments`` section as the ledger stores it."""
    return PlatformQuotas(
        owner_gpu_quota=spec.owner_gpu_quota,
        global_gpu_quota=spec.global_gpu_quota,
        max_ttl=timedelta(hours=spec.max_ttl_hours),
        instance_types=tuple(sorted(set(spec.instance_types))),
        images=tuple(sorted(set(spec.images))),
        operators=tuple(sorted(set(spec.operators))),
    )


class ExperimentLedger(pulumi.ComponentResource):
    """The experiment ledger table."""

    table: aws.dynamodb.Table
    quotas: aws.dynamodb.TableItem

    def __init__(
        self, name: str, args: ExperimentLedgerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlenv:experiment:Ledger", name, None, opts)
        self.table = data_table(
            name,
            table_name=ledger_table_name(args.environment),
            hash_key=LEDGER_KEY,
            kms_key=args.kms_key,
            long_lived=args.long_lived,
            tags=args.tagging.tags(COMPONENT),
            parent=self,
        )
        self.quotas = aws.dynamodb.TableItem(
            f"{name}-quotas",
            table_name=self.table.name,
            hash_key=LEDGER_KEY,
            item=json.dumps(args.quotas.to_item()),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"table_name": self.table.name, "table_arn": self.table.arn})
