"""One experiment as the ledger holds it: its record, its statuses, and the item format.

Timestamps are stored as ISO-8601 UTC strings with whole seconds (``2026-11-22T18:00:00Z``), which
order the same as the instants, so ledger conditions can compare them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from stacks.experiments.durations import from_iso, to_iso

LEDGER_KEY = "name"
"""Partition key (string) of the ledger table; the platform stack must create the table with it."""
RECORD_TYPE = "experiment"
GLOBAL_QUOTA_KEY = "#quota:global"
OWNER_QUOTA_PREFIX = "#quota:owner:"

CREATING = "creating"
RUNNING = "running"
UPDATING = "updating"
DESTROYING = "destroying"
FAILED_CREATING = "failed-creating"
FAILED_UPDATING = "failed-updating"
FAILED_DESTROYING = "failed-destroying"
IN_PROGRESS = (CREATING, UPDATING, DESTROYING)
"""Statuses owned by a run in progress; another run may take them over only after the lease."""
STATUSES = (CREATING, RUNNING, UPDATING, DESTROYING, FAILED_CREATING, FAILED_UPDATING, FAILED_DESTROYING)


@dataclass(frozen=True)
class ExperimentRecord:
    """One experiment as the ledger holds it."""

    name: str
    owner: str
    gpus: int
    instance_type: str
    image: str
    pool: str
    created_at: datetime
    expires_at: datetime
    status: str
    updated_at: datetime
    failures: int = 0
    """Consecutive failed destroys; GC stops trying at the configured cap."""
    last_error: str = ""
    owner_arn: str = ""
    """The owner's AWS principal ARN (STS): the per-owner quota key. ``owner`` is its short name."""
    created_by: str = ""
    """The caller's ARN when an operator created the experiment for ``owner_arn``; else the same."""
    backend_url: str = ""
    """The Pulumi backend the stack was created in: only it can prove the stack is gone."""
    stack: str = ""
    """The experiment's Pulumi stack name in that backend."""

    @property
    def quota_owner(self) -> str:
        """The key of the per-owner GPU counter: the owner's ARN (its name only for records without one)."""
        return self.owner_arn or self.owner

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item (low-level attribute-value format)."""
        return {
            LEDGER_KEY: {"S": self.name},
            "record_type": {"S": RECORD_TYPE},
            "owner": {"S": self.owner},
            "gpus": {"N": str(self.gpus)},
            "instance_type": {"S": self.instance_type},
            "image": {"S": self.image},
            "pool": {"S": self.pool},
            "created_at": {"S": to_iso(self.created_at)},
            "expires_at": {"S": to_iso(self.expires_at)},
            "status": {"S": self.status},
            "updated_at": {"S": to_iso(self.updated_at)},
            "failures": {"N": str(self.failures)},
            "last_error": {"S": self.last_error},
            "owner_arn": {"S": self.owner_arn},
            "created_by": {"S": self.created_by},
            "backend_url": {"S": self.backend_url},
            "stack": {"S": self.stack},
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ExperimentRecord:
        """Read a ledger item back."""

        def s(key: str, default: str = "") -> str:
            return str(item[key]["S"]) if key in item else default

        def n(key: str) -> int:
            return int(item[key]["N"]) if key in item else 0

        return cls(
            name=s(LEDGER_KEY),
            owner=s("owner"),
            gpus=n("gpus"),
            instance_type=s("instance_type"),
            image=s("image"),
            pool=s("pool"),
            created_at=from_iso(s("created_at")),
            expires_at=from_iso(s("expires_at")),
            status=s("status"),
            updated_at=from_iso(s("updated_at", s("created_at"))),
            failures=n("failures"),
            last_error=s("last_error"),
            owner_arn=s("owner_arn"),
            created_by=s("created_by"),
            backend_url=s("backend_url"),
            stack=s("stack"),
        )


def with_status(record: ExperimentRecord, status: str, now: datetime) -> ExperimentRecord:
    """A copy of ``record`` with a new status, as the ledger holds it after a successful transition."""
    return replace(record, status=status, updated_at=now)
