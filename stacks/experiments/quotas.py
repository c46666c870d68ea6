"""The platform's experiment quotas: owned by the platform stack, read from its ledger, never from flags.

The platform stack writes one item, ``#settings``, into its ledger table
(components/ledger_table.py, from the stack file's ``experiments`` section) and exports the same
values as the output ``experiment_quotas``. `mlenv exp` reads the item with a strongly consistent
read on every ``up`` and ``extend``: a caller can only lower what they ask for, never raise a limit,
because no option or environment variable feeds these numbers. Changing a quota is a reviewed change
of the platform stack file and a ``pulumi up``.

Who may write the item is the ledger table's IAM: experiment users need ``dynamodb:UpdateItem`` and
``TransactWriteItems`` on the record and counter items only, which IAM can express with the
``dynamodb:LeadingKeys`` condition (DynamoDB developer guide, "Using IAM policy conditions for
fine-grained access control").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

SETTINGS_KEY = "#settings"
"""Ledger item holding the quotas (``#`` cannot start an experiment name)."""
SETTINGS_RECORD_TYPE = "settings"


@dataclass(frozen=True)
class PlatformQuotas:
    """What experiments on one platform may use; the platform stack file's ``experiments`` section."""

    owner_gpu_quota: int = 8
    """GPUs one owner (AWS principal) may hold across all their experiments. Default 8."""
    global_gpu_quota: int = 32
    """GPUs all experiments together may hold. Default 32."""
    max_ttl: timedelta = timedelta(hours=72)
    """Longest total lifetime (creation to expiry, extensions included). Default 72h."""
    instance_types: tuple[str, ...] = ()
    """Instance types experiments may use. Default empty: any the catalog rules accept."""
    images: tuple[str, ...] = ()
    """Catalog image ids experiments may use. Default empty: any catalog image that fits."""
    operators: tuple[str, ...] = field(default_factory=tuple)
    """IAM principal ARNs (roles or users) that may create experiments for others (``--owner``)."""

    def to_item(self) -> dict[str, Any]:
        """The ledger item (DynamoDB attribute-value format)."""
        item: dict[str, Any] = {
            "name": {"S": SETTINGS_KEY},
            "record_type": {"S": SETTINGS_RECORD_TYPE},
            "owner_gpu_quota": {"N": str(self.owner_gpu_quota)},
            "global_gpu_quota": {"N": str(self.global_gpu_quota)},
            "max_ttl_minutes": {"N": str(int(self.max_ttl.total_seconds() // 60))},
        }
        # DynamoDB rejects empty sets; an absent attribute means "no restriction" / "nobody".
        for key, values in (
            ("instance_types", self.instance_types),
            ("images", self.images),
            ("operators", self.operators),
        ):
            if values:
                item[key] = {"SS": sorted(values)}
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> PlatformQuotas:
        """Read the ledger item back."""

        def strings(key: str) -> tuple[str, ...]:
            return tuple(sorted(item[key]["SS"])) if key in item else ()

        return cls(
            owner_gpu_quota=int(item["owner_gpu_quota"]["N"]),
            global_gpu_quota=int(item["global_gpu_quota"]["N"]),
            max_ttl=timedelta(minutes=int(item["max_ttl_minutes"]["N"])),
            instance_types=strings("instance_types"),
            images=strings("images"),
            operators=strings("operators"),
        )

    def request_problems(self, *, instance_type: str, image: str) -> list[tuple[str, str]]:
        """(option, message) for an instance type or image the platform does not allow."""
        problems = []
        if self.instance_types and instance_type not in self.instance_types:
            problems.append(
                (
                    "--instance-type",
                    f"{instance_type} is not allowed on this platform; "
                    f"allowed: {', '.join(self.instance_types)}",
                )
            )
        if self.images and image not in self.images:
            problems.append(
                ("--image", f"{image} is not allowed on this platform; allowed: {', '.join(self.images)}")
            )
        return problems


def publish_quotas(client: Any, table: str, quotas: PlatformQuotas) -> None:
    """Write the settings item, as the platform stack does; for local development and tests on moto."""
    client.put_item(TableName=table, Item=quotas.to_item())
