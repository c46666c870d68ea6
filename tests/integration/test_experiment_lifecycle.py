"""The experiment lifecycle against the moto server: ledger, quotas, TTLs, statuses, concurrency."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from stacks.experiments.errors import (
    ExperimentBusyError,
    ExperimentError,
    ExperimentExistsError,
    QuotaExceededError,
    TtlTooLongError,
    UnknownExperimentError,
)
from stacks.experiments.identity import CallerIdentity, NotAnOperatorError
from stacks.experiments.ledger import Ledger
from stacks.experiments.lifecycle import Experiments
from stacks.experiments.orphans import TagSweeper
from stacks.experiments.quotas import PlatformQuotas
from stacks.experiments.records import FAILED_CREATING, FAILED_DESTROYING, RUNNING
from stacks.experiments.settings import ExperimentSettings
from stacks.offline.engine import plan_stack
from tests.integration.experiment_fixtures import (
    OPERATOR,
    FakeClock,
    dynamodb,
    ledger,
    new_ledger,
    user,
)
from tests.integration.in_memory_backend import InMemoryStackBackend, SimulatedCrash

pytestmark = pytest.mark.integration

__all__ = ["dynamodb", "ledger"]  # fixtures used by name

IMAGE = "al2023-nvidia-580-k8s1.33-20251020"
SETTINGS = ExperimentSettings()


def make(
    ledger: Ledger,
    backend: InMemoryStackBackend | None = None,
    clock: FakeClock | None = None,
    sweeper: TagSweeper | None = None,
    identity: CallerIdentity = OPERATOR,
) -> Experiments:
    chosen = backend or InMemoryStackBackend()
    return Experiments(
        ledger,
        lambda: chosen,
        SETTINGS,
        clock=clock or FakeClock(),
        identity=lambda: identity,
        sweeper=sweeper,
    )


def test_up_records_running_experiment_with_config_and_reserved_gpus(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    exps = make(ledger, backend)
    record = exps.up("churn-v7", gpus=4, ttl=timedelta(hours=8), owner=user("ana"), image=IMAGE)

    stored = ledger.get("churn-v7")
    assert stored is not None and stored.status == RUNNING == record.status
    assert stored.instance_type == "g6e.12xlarge"  # cheapest g6e with 4 GPUs in the shipped table
    assert stored.pool == "exp-churn-v7-pool-a1b2"  # from the stack's gpu_pool output
    env = backend.read_environment("exp-churn-v7")
    assert env is not None and env["kind"] == "experiment"
    assert env["experiment"]["expires_at"] == "2026-11-22T20:00:00Z"
    assert env["experiment"]["ttl_hours"] == 8
    assert ledger.usage(user("ana")) == (4, 4)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"gpus": 9}, QuotaExceededError),  # over the per-owner quota on its own
        ({"ttl": timedelta(hours=25)}, TtlTooLongError),
    ],
)
def test_up_rejects_bad_requests_before_reserving_anything(
    ledger: Ledger, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    args: dict[str, Any] = {
        "gpus": 1,
        "ttl": timedelta(hours=1),
        "owner": user("ana"),
        "image": IMAGE,
    } | kwargs
    with pytest.raises(error):
        make(ledger).up("exp-one", **args)
    assert ledger.list_experiments() == []
    assert ledger.usage(user("ana")) == (0, 0)


def test_quota_counts_across_experiments_and_is_released_by_down(ledger: Ledger) -> None:
    exps = make(ledger)
    exps.up("first", gpus=6, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    with pytest.raises(
        QuotaExceededError, match=r"per-owner \(ana\) GPU quota \(6 already in use, limit 8\)"
    ):
        exps.up("second", gpus=4, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    exps.up("third", gpus=6, ttl=timedelta(hours=1), owner=user("bo"), image=IMAGE)
    with pytest.raises(QuotaExceededError, match="global GPU quota"):
        exps.up("fourth", gpus=1, ttl=timedelta(hours=1), owner=user("cy"), image=IMAGE)
    exps.down("first")
    assert ledger.get("first") is None
    assert ledger.usage(user("ana")) == (0, 6)
    exps.up("second", gpus=4, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)


def test_same_name_twice_is_a_conflict(ledger: Ledger) -> None:
    exps = make(ledger)
    exps.up("twice", gpus=1, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    with pytest.raises(ExperimentExistsError, match="already exists") as raised:
        exps.up("twice", gpus=1, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    assert raised.value.exit_code == 3
    assert ledger.usage(user("ana")) == (1, 1)  # the refused create reserved nothing


def test_failed_up_leaves_failed_creating_and_a_retry_resumes_it(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    backend.fail_up.add("exp-flaky")
    exps = make(ledger, backend)
    with pytest.raises(ExperimentError, match="status now failed-creating") as raised:
        exps.up("flaky", gpus=2, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    assert "simulated up failure" in str(raised.value)
    stored = ledger.get("flaky")
    assert stored is not None and stored.status == FAILED_CREATING and "simulated" in stored.last_error
    assert ledger.usage(user("ana")) == (2, 2)

    backend.fail_up.clear()
    assert exps.up("flaky", gpus=2, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE).status == RUNNING
    assert ledger.usage(user("ana")) == (2, 2)  # resumed, not reserved twice


def test_extend_is_bounded_by_total_lifetime_and_retags(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    clock = FakeClock()
    exps = make(ledger, backend, clock)
    exps.up("long", gpus=1, ttl=timedelta(hours=20), owner=user("ana"), image=IMAGE)
    clock.advance(timedelta(hours=10))
    with pytest.raises(TtlTooLongError, match="total lifetime after extension of 25h"):
        exps.extend("long", timedelta(hours=5))
    record = exps.extend("long", timedelta(hours=4))
    assert record.expires_at - record.created_at == timedelta(hours=24)
    env = backend.read_environment("exp-long")
    assert env is not None and env["experiment"]["expires_at"] == "2026-11-23T12:00:00Z"
    with pytest.raises(UnknownExperimentError):
        exps.extend("nope", timedelta(hours=1))


def test_down_failure_is_recorded_and_a_retry_finishes(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    exps = make(ledger, backend)
    exps.up("sticky", gpus=1, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    backend.fail_destroy.add("exp-sticky")
    with pytest.raises(ExperimentError, match="simulated destroy failure"):
        exps.down("sticky")
    stored = ledger.get("sticky")
    assert stored is not None and stored.status == FAILED_DESTROYING and stored.failures == 1
    backend.fail_destroy.clear()
    exps.down("sticky")
    assert ledger.get("sticky") is None and "exp-sticky" not in backend.stacks


def test_down_refuses_a_stack_that_is_not_this_experiment(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    exps = make(ledger, backend)
    exps.up("hijack", gpus=1, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    backend.add_stack("exp-hijack", {"name": "hijack", "kind": "platform"})
    with pytest.raises(ExperimentError, match="kind 'platform'"):
        exps.down("hijack")
    assert backend.destroyed() == []


def test_busy_experiment_is_a_conflict(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    clock = FakeClock()
    exps = make(ledger, backend, clock)
    exps.up("busy", gpus=1, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    ledger.client.update_item(
        TableName=ledger.table,
        Key={"name": {"S": "busy"}},
        UpdateExpression="SET #s = :d",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":d": {"S": "destroying"}},
    )
    with pytest.raises(ExperimentBusyError) as raised:
        exps.down("busy")
    assert raised.value.exit_code == 3
    clock.advance(SETTINGS.lease + timedelta(minutes=1))  # the other run is dead: take over
    exps.down("busy")
    assert ledger.get("busy") is None


def test_a_create_whose_run_died_is_resumed_only_after_the_lease(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    clock = FakeClock()
    exps = make(ledger, backend, clock)

    class DiesInUp(InMemoryStackBackend):
        def up(self, stack: str, environment: Any, **_: Any) -> dict[str, Any]:
            raise SimulatedCrash("killed during pulumi up")

    with pytest.raises(SimulatedCrash):
        make(ledger, DiesInUp(), clock).up(
            "orphan", gpus=2, ttl=timedelta(hours=4), owner=user("ana"), image=IMAGE
        )
    stored = ledger.get("orphan")
    assert stored is not None and stored.status == "creating"
    with pytest.raises(ExperimentExistsError, match="status creating"):  # the run may still be alive
        exps.up("orphan", gpus=2, ttl=timedelta(hours=4), owner=user("ana"), image=IMAGE)
    clock.advance(SETTINGS.lease + timedelta(minutes=1))
    with pytest.raises(ExperimentExistsError):  # a different request never takes it over
        exps.up("orphan", gpus=3, ttl=timedelta(hours=4), owner=user("ana"), image=IMAGE)
    assert exps.up("orphan", gpus=2, ttl=timedelta(hours=4), owner=user("ana"), image=IMAGE).status == RUNNING
    assert ledger.usage(user("ana")) == (2, 2)  # reserved once


def test_the_ledger_table_the_platform_creates_is_the_one_the_ledger_uses(dynamodb: Any) -> None:
    """Create the table and its quota item from the dev plan's registered inputs on moto; the
    lifecycle runs on it under the quotas the platform wrote (the dev stack's defaults)."""
    resources = plan_stack("dev").resources
    table = next(
        r.plain_inputs()
        for r in resources
        if r.type == "aws:dynamodb/table:Table" and r.name.endswith("-experiment-ledger")
    )
    quota_item = next(r.plain_inputs() for r in resources if r.type == "aws:dynamodb/tableItem:TableItem")
    dynamodb.create_table(
        TableName=table["name"],
        KeySchema=[{"AttributeName": table["hashKey"], "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in table["attributes"]
        ],
        BillingMode=table["billingMode"],
    )
    dynamodb.put_item(TableName=table["name"], Item=json.loads(quota_item["item"]))
    platform = Ledger(dynamodb, table["name"])
    assert platform.quotas() == PlatformQuotas()  # the dev stack file keeps the defaults
    exps = make(platform)
    with pytest.raises(NotAnOperatorError, match="may not create experiments for others"):
        exps.up("on-platform", gpus=1, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
    exps = make(platform, identity=CallerIdentity(user("ana")))
    exps.up("on-platform", gpus=1, ttl=timedelta(hours=1), image=IMAGE)
    exps.down("on-platform")
    assert exps.ledger.list_experiments() == [] and exps.ledger.usage(user("ana")) == (0, 0)


# -- concurrency: real HTTP requests in parallel against one table ------------------------------------


def test_many_threads_creating_one_name_exactly_one_wins(dynamodb: Any) -> None:
    ledger = new_ledger(dynamodb)
    exps = make(ledger)

    def attempt(_: int) -> str:
        try:
            exps.up("contested", gpus=1, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
        except ExperimentExistsError as exc:
            assert "already exists" in str(exc)
            return "exists"
        return "created"

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(attempt, range(12)))
    assert results.count("created") == 1
    assert results.count("exists") == 11
    assert ledger.usage(user("ana")) == (1, 1)


def test_parallel_creates_never_exceed_the_global_quota(dynamodb: Any) -> None:
    ledger = new_ledger(dynamodb)
    exps = make(ledger)  # global quota 12, 3 GPUs each: exactly 4 of 10 fit

    def attempt(i: int) -> str:
        try:
            exps.up(f"par-{i}", gpus=3, ttl=timedelta(hours=1), owner=user(f"user{i}"), image=IMAGE)
        except QuotaExceededError:
            return "quota"
        return "created"

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))
    assert results.count("created") == 4
    records = ledger.list_experiments()
    assert sum(r.gpus for r in records) == 12
    assert ledger.usage(user("nobody"))[1] == 12


def test_parallel_creates_of_one_owner_never_exceed_the_owner_quota(dynamodb: Any) -> None:
    ledger = new_ledger(dynamodb)
    exps = make(ledger)  # owner quota 8, 3 GPUs each: exactly 2 of 8 fit

    def attempt(i: int) -> str:
        try:
            exps.up(f"own-{i}", gpus=3, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)
        except QuotaExceededError as exc:
            assert "per-owner (ana) GPU quota" in str(exc)
            return "quota"
        return "created"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count("created") == 2 and results.count("quota") == 6
    assert ledger.usage(user("ana")) == (6, 6)
    assert sum(r.gpus for r in ledger.list_experiments()) == 6
