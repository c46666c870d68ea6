"""The experiment ledger: a DynamoDB table that is the source of truth for which experiments exist.

One item per experiment (partition key ``name``) plus GPU usage counters (``#quota:global`` and
``#quota:owner:<owner>``; ``#`` cannot start an experiment name). Every state change is a conditional
write, so two runs can never both believe they own the same transition:

* create = one ``TransactWriteItems``: put the record if the name is free, and add the GPUs to the
  owner's and the global counter if each stays within its limit;
* delete = one transaction: delete the record if it is still ``destroying``, and give the GPUs back.

The record, its statuses and its item format are in stacks/experiments/records.py; the platform's
quotas (item ``#settings``) in stacks/experiments/quotas.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from stacks.errors import CREDENTIALS_HELP
from stacks.experiments.durations import to_iso
from stacks.experiments.errors import ExperimentExistsError, LedgerError, QuotaExceededError
from stacks.experiments.quotas import SETTINGS_KEY, PlatformQuotas
from stacks.experiments.records import (
    DESTROYING,
    GLOBAL_QUOTA_KEY,
    IN_PROGRESS,
    LEDGER_KEY,
    OWNER_QUOTA_PREFIX,
    RECORD_TYPE,
    ExperimentRecord,
)

# Real DynamoDB cancels a transaction that races another one on the same item (TransactionConflict);
# such a cancel says nothing about the data, so it is retried.
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_ATTEMPTS = 6


@dataclass(frozen=True)
class Transition:
    """A conditional status change: from which statuses, under which extra conditions, to what."""

    to: str
    allowed_from: Sequence[str]
    takeover_before: datetime | None = None
    """Also allow an in-progress status whose ``updated_at`` is older than this (an abandoned run)."""
    takeover_statuses: Sequence[str] = IN_PROGRESS
    """Which in-progress statuses ``takeover_before`` may take over. Default: all of them."""
    expired_at: datetime | None = None
    """Only when the record's ``expires_at`` is at or before this instant (GC's claim)."""
    failures_below: int | None = None
    """Only when ``failures`` is below this cap."""
    expires_at_is: datetime | None = None
    """Only when ``expires_at`` still has this value (optimistic check for extend)."""
    new_expires_at: datetime | None = None
    pool: str | None = None
    reset_failures: bool = False


class Ledger:
    """Conditional reads and writes of the ledger table through a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, name: str) -> ExperimentRecord | None:
        """The record of ``name`` (strongly consistent read), or None."""
        response = self._call(
            "read", lambda: self.client.get_item(TableName=self.table, Key=_key(name), ConsistentRead=True)
        )
        item = response.get("Item")
        return ExperimentRecord.from_item(item) if item else None

    def list_experiments(self) -> list[ExperimentRecord]:
        """Every experiment record (quota counters left out), sorted by name."""
        records = [ExperimentRecord.from_item(item) for item in self._scan()]
        return sorted(records, key=lambda r: r.name)

    def quotas(self) -> PlatformQuotas:
        """The platform's quotas (item ``#settings``, strongly consistent); missing is a platform problem."""
        response = self._call(
            "read",
            lambda: self.client.get_item(TableName=self.table, Key=_key(SETTINGS_KEY), ConsistentRead=True),
        )
        item = response.get("Item")
        if not item:
            raise LedgerError(
                f"ledger table {self.table!r} holds no experiment quotas (item {SETTINGS_KEY!r}); the "
                "platform stack writes them from its experiments section: `pulumi up` the platform stack"
            )
        try:
            return PlatformQuotas.from_item(item)
        except (KeyError, ValueError) as exc:
            raise LedgerError(
                f"ledger table {self.table!r}: item {SETTINGS_KEY!r} is malformed ({exc!r}); "
                "`pulumi up` on the platform stack rewrites it"
            ) from None

    def usage(self, owner: str) -> tuple[int, int]:
        """GPUs in use by ``owner`` (its quota key, the principal ARN) and in total, from the counters."""
        owner_item = self._call(
            "read",
            lambda: self.client.get_item(
                TableName=self.table, Key=_key(OWNER_QUOTA_PREFIX + owner), ConsistentRead=True
            ),
        ).get("Item", {})
        global_item = self._call(
            "read",
            lambda: self.client.get_item(
                TableName=self.table, Key=_key(GLOBAL_QUOTA_KEY), ConsistentRead=True
            ),
        ).get("Item", {})
        return int(owner_item.get("used_gpus", {}).get("N", 0)), int(
            global_item.get("used_gpus", {}).get("N", 0)
        )

    # -- writes --------------------------------------------------------------------------------------

    def create(self, record: ExperimentRecord, *, owner_limit: int, global_limit: int) -> None:
        """Put a new record and reserve its GPUs, atomically; raise Exists/QuotaExceeded otherwise."""
        gpus = record.gpus
        for scope, limit in (("per-owner", owner_limit), ("global", global_limit)):
            if gpus > limit:
                raise QuotaExceededError(scope, gpus, None, limit)
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": record.to_item(),
                    "ConditionExpression": "attribute_not_exists(#k)",
                    "ExpressionAttributeNames": {"#k": LEDGER_KEY},
                }
            },
            _reserve(self.table, OWNER_QUOTA_PREFIX + record.quota_owner, gpus, owner_limit),
            _reserve(self.table, GLOBAL_QUOTA_KEY, gpus, global_limit),
        ]
        reasons = self._transact(items)
        if reasons is None:
            return
        if reasons[0] == "ConditionalCheckFailed":
            existing = self.get(record.name)
            raise ExperimentExistsError(record.name, existing.status if existing else None)
        owner_used, global_used = self.usage(record.quota_owner)
        if reasons[1] == "ConditionalCheckFailed":
            raise QuotaExceededError(f"per-owner ({record.owner})", gpus, owner_used, owner_limit)
        if reasons[2] == "ConditionalCheckFailed":
            raise QuotaExceededError("global", gpus, global_used, global_limit)
        raise LedgerError(f"ledger table {self.table!r}: create of {record.name!r} was cancelled: {reasons}")

    def transition(
        self,
        name: str,
        change: Transition,
        *,
        now: datetime,
        error: str | None = None,
        count_failure: bool = False,
    ) -> bool:
        """Apply ``change`` if its conditions hold; False when they did not (someone else changed it).

        ``error`` is kept as ``last_error``; ``count_failure`` adds one to ``failures`` (failed destroys).
        """
        # Every attribute goes through a placeholder: DynamoDB reserves words such as status and pool.
        names = {
            "#k": LEDGER_KEY,
            "#s": "status",
            "#upd": "updated_at",
            "#exp": "expires_at",
            "#fail": "failures",
            "#err": "last_error",
            "#pool": "pool",
        }
        values: dict[str, Any] = {":to": {"S": change.to}, ":now": {"S": to_iso(now)}}
        sets = ["#s = :to", "#upd = :now"]
        allowed = _in_list("#s", "from", change.allowed_from, values)
        if change.takeover_before is not None:
            values[":stale"] = {"S": to_iso(change.takeover_before)}
            abandoned = _in_list("#s", "busy", change.takeover_statuses, values)
            allowed = f"({allowed} OR ({abandoned} AND #upd < :stale))"
        conditions = ["attribute_exists(#k)", allowed]
        if change.expired_at is not None:
            values[":expired_at"] = {"S": to_iso(change.expired_at)}
            conditions.append("#exp <= :expired_at")
        if change.failures_below is not None:
            values[":cap"] = {"N": str(change.failures_below)}
            conditions.append("(attribute_not_exists(#fail) OR #fail < :cap)")
        if change.expires_at_is is not None:
            values[":old_exp"] = {"S": to_iso(change.expires_at_is)}
            conditions.append("#exp = :old_exp")
        if change.new_expires_at is not None:
            values[":new_exp"] = {"S": to_iso(change.new_expires_at)}
            sets.append("#exp = :new_exp")
        if change.pool is not None:
            values[":pool"] = {"S": change.pool}
            sets.append("#pool = :pool")
        if change.reset_failures:
            values[":zero"] = {"N": "0"}
            values[":empty"] = {"S": ""}
            sets += ["#fail = :zero", "#err = :empty"]
        if error is not None:
            values[":err"] = {"S": error[:2000]}
            sets.append("#err = :err")
        if count_failure:
            values[":one"] = {"N": "1"}
            values[":zero0"] = {"N": "0"}
            sets.append("#fail = if_not_exists(#fail, :zero0) + :one")
        update = "SET " + ", ".join(sets)
        condition = " AND ".join(conditions)
        return self._conditional(
            lambda: self.client.update_item(
                TableName=self.table,
                Key=_key(name),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in names.items() if k in update or k in condition},
                ExpressionAttributeValues=values,
            )
        )

    def delete(self, record: ExperimentRecord) -> bool:
        """Delete a ``destroying`` record and release its GPUs in one transaction; False if not destroying."""
        items = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": _key(record.name),
                    "ConditionExpression": "#s = :destroying",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":destroying": {"S": DESTROYING}},
                }
            },
            _release(self.table, OWNER_QUOTA_PREFIX + record.quota_owner, record.gpus),
            _release(self.table, GLOBAL_QUOTA_KEY, record.gpus),
        ]
        reasons = self._transact(items)
        if reasons is None:
            return True
        if reasons[0] == "ConditionalCheckFailed":
            return False
        raise LedgerError(f"ledger table {self.table!r}: delete of {record.name!r} was cancelled: {reasons}")

    # -- plumbing ------------------------------------------------------------------------------------

    def _scan(self) -> Iterator[Mapping[str, Any]]:
        paginator = self.client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table,
            ConsistentRead=True,
            FilterExpression="record_type = :t",
            ExpressionAttributeValues={":t": {"S": RECORD_TYPE}},
        )
        try:
            for page in pages:
                yield from page.get("Items", [])
        except (ClientError, BotoCoreError) as exc:
            raise self._ledger_error("scan", exc) from None

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction; None on success, else the per-item cancellation codes."""
        for attempt in range(_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items)
                return None
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise self._ledger_error("write", exc) from None
                reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
                reasons += ["None"] * (len(items) - len(reasons))
                if not set(reasons) & _RETRYABLE_REASONS or attempt == _ATTEMPTS - 1:
                    return reasons
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
            except BotoCoreError as exc:
                raise self._ledger_error("write", exc) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    def _conditional(self, call: Any) -> bool:
        try:
            call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise self._ledger_error("write", exc) from None
        except BotoCoreError as exc:
            raise self._ledger_error("write", exc) from None
        return True

    def _call(self, what: str, call: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = call()
        except (ClientError, BotoCoreError) as exc:
            raise self._ledger_error(what, exc) from None
        return result

    def _ledger_error(self, what: str, exc: Exception) -> LedgerError:
        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
        if isinstance(exc, NoCredentialsError):
            return LedgerError(f"could not {what} the ledger table {self.table!r}: {CREDENTIALS_HELP}")
        if code == "ResourceNotFoundException":
            return LedgerError(
                f"ledger table {self.table!r} does not exist in this account/region; the platform stack "
                "creates it (see its outputs), or name another with --ledger-table / MLENV_LEDGER_TABLE"
            )
        return LedgerError(f"could not {what} the ledger table {self.table!r}: {exc}")


def ledger_table_name(environment: str) -> str:
    """The ledger table platform ``environment`` creates: ``mlenv-<environment>-experiments``."""
    return f"mlenv-{environment}-experiments"


def create_ledger_table(client: Any, table: str) -> None:
    """Create a ledger table with the key schema mlenv expects, and wait until it is active.

    In production the platform stack owns the table (with PITR and KMS); this exists for local
    development against a moto server and for tests.
    """
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": LEDGER_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": LEDGER_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def _key(name: str) -> dict[str, Any]:
    return {LEDGER_KEY: {"S": name}}


def _in_list(attribute: str, prefix: str, options: Sequence[str], values: dict[str, Any]) -> str:
    placeholders = []
    for i, option in enumerate(options):
        placeholder = f":{prefix}{i}"
        values[placeholder] = {"S": option}
        placeholders.append(placeholder)
    return f"{attribute} IN ({', '.join(placeholders)})"


def _reserve(table: str, key: str, gpus: int, limit: int) -> dict[str, Any]:
    # DynamoDB conditions cannot add, so "used + gpus <= limit" is written as "used <= limit - gpus".
    return {
        "Update": {
            "TableName": table,
            "Key": _key(key),
            "UpdateExpression": "SET used_gpus = if_not_exists(used_gpus, :zero) + :gpus",
            "ConditionExpression": "attribute_not_exists(used_gpus) OR used_gpus <= :max_before",
            "ExpressionAttributeValues": {
                ":zero": {"N": "0"},
                ":gpus": {"N": str(gpus)},
                ":max_before": {"N": str(limit - gpus)},
            },
        }
    }


def _release(table: str, key: str, gpus: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": _key(key),
            "UpdateExpression": "SET used_gpus = if_not_exists(used_gpus, :gpus) - :gpus",
            "ExpressionAttributeValues": {":gpus": {"N": str(gpus)}},
        }
    }
