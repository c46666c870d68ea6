"""The ledger tells the truth about what runs: on the moto server, with the backend double.

Seen before this change: with a second, empty Pulumi backend, `down` deleted a running experiment's
record and released its GPUs with zero destroy calls; stacks without a record never expired; the
result of the final status transition was ignored. Here: each of those, and a crash at every step
of `up` and `down`, recovered by the next `down` or GC.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from components.tags import Tagging
from stacks.experiments.errors import ExperimentConflictError, ExperimentError
from stacks.experiments.gc import DESTROYED, REFUSED
from stacks.experiments.ledger import Ledger
from stacks.experiments.lifecycle import Experiments
from stacks.experiments.orphans import TagSweeper
from stacks.experiments.records import CREATING, DESTROYING, FAILED_DESTROYING, RUNNING
from stacks.experiments.settings import ExperimentSettings
from tests.integration.experiment_fixtures import OPERATOR, FakeClock, dynamodb, ledger, sweeper, user
from tests.integration.in_memory_backend import CRASH_POINTS, InMemoryStackBackend, SimulatedCrash

pytestmark = pytest.mark.integration

__all__ = ["dynamodb", "ledger", "sweeper"]  # fixtures used by name

IMAGE = "al2023-nvidia-580-k8s1.33-20251020"
SETTINGS = ExperimentSettings()
UP_CRASHES = [p for p in CRASH_POINTS if p.endswith("up")]
DOWN_CRASHES = [p for p in CRASH_POINTS if not p.endswith("up")]


def make(ledger: Ledger, backend: InMemoryStackBackend, clock: FakeClock, sweeper: TagSweeper) -> Experiments:
    return Experiments(
        ledger, lambda: backend, SETTINGS, clock=clock, sweeper=sweeper, identity=lambda: OPERATOR
    )


def start(
    ledger: Ledger, sweeper: TagSweeper, name: str = "live", gpus: int = 4
) -> tuple[InMemoryStackBackend, FakeClock, Experiments]:
    backend, clock = InMemoryStackBackend(), FakeClock()
    exps = make(ledger, backend, clock, sweeper)
    exps.up(name, gpus=gpus, ttl=timedelta(hours=4), owner=user("ana"), image=IMAGE)
    return backend, clock, exps


def test_an_empty_second_backend_never_releases_a_live_experiment(
    ledger: Ledger, sweeper: TagSweeper
) -> None:
    backend, clock, _ = start(ledger, sweeper)
    other = InMemoryStackBackend(url="s3://someone-elses-state")  # logged in elsewhere: lists nothing
    elsewhere = make(ledger, other, clock, sweeper)
    with pytest.raises(ExperimentError, match="created in Pulumi backend file:///tmp/in-memory-backend-a"):
        elsewhere.down("live")
    clock.advance(timedelta(hours=5))  # expired: GC from the other backend refuses too
    report = elsewhere.gc()
    assert [(a.name, a.outcome) for a in report.actions] == [("live", REFUSED)]
    assert "s3://someone-elses-state" in report.actions[0].detail
    stored = ledger.get("live")
    assert stored is not None and stored.status == RUNNING
    assert ledger.usage(user("ana")) == (4, 4)
    assert other.calls == [] and backend.destroyed() == []
    # From the backend that created it, GC destroys it and only then releases the GPUs.
    report = make(ledger, backend, clock, sweeper).gc()
    assert report.destroyed() == ["live"] and backend.destroyed() == ["exp-live"]
    assert ledger.usage(user("ana")) == (0, 0)


def test_a_vanished_stack_with_tagged_leftovers_keeps_its_record(
    ledger: Ledger, sweeper: TagSweeper, boto_session: boto3.Session, moto_endpoint: str
) -> None:
    backend, _clock, exps = start(ledger, sweeper, "leaky")
    # The stack was removed behind mlenv's back (`pulumi stack rm --force`); a volume survived it.
    backend.stacks.pop("exp-leaky")
    ec2 = boto_session.client("ec2", endpoint_url=moto_endpoint)
    tags = Tagging(stack="exp-leaky", owner="ana", experiment="leaky").tags("experiment")
    volume = ec2.create_volume(
        Size=1,
        AvailabilityZone="us-east-1a",
        TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )["VolumeId"]
    with pytest.raises(ExperimentError, match="1 resources are still tagged mlenv:experiment=leaky"):
        exps.down("leaky")
    stored = ledger.get("leaky")
    assert stored is not None and stored.status == FAILED_DESTROYING and volume in stored.last_error
    assert ledger.usage(user("ana")) == (4, 4)
    ec2.delete_volume(VolumeId=volume)
    exps.down("leaky")  # proved gone by its own backend, swept clean: released
    assert ledger.get("leaky") is None and ledger.usage(user("ana")) == (0, 0)


def test_a_stack_without_a_record_is_collected_once_its_expiry_passed(
    ledger: Ledger, sweeper: TagSweeper
) -> None:
    backend, clock, exps = start(ledger, sweeper, "dropped")
    # The record vanished (deleted by hand, or a table restored from an old backup).
    ledger.client.delete_item(TableName=ledger.table, Key={"name": {"S": "dropped"}})
    report = exps.gc()
    assert report.unledgered_stacks == ["exp-dropped"] and backend.destroyed() == []  # not expired yet
    clock.advance(timedelta(hours=4, minutes=1))
    report = exps.gc()
    assert [(a.name, a.outcome) for a in report.actions] == [("dropped", DESTROYED)]
    assert backend.destroyed() == ["exp-dropped"] and "exp-dropped" not in backend.stacks


def test_an_unledgered_stack_that_is_not_an_experiment_is_never_collected(
    ledger: Ledger, sweeper: TagSweeper
) -> None:
    backend, clock, exps = start(ledger, sweeper, "mine")
    environment = backend.read_environment("exp-mine")
    assert environment is not None
    backend.add_stack("exp-platformish", {**environment, "name": "platformish", "kind": "platform"})
    backend.add_stack("exp-renamed", {**environment, "name": "someone-else"})
    ledger.client.delete_item(TableName=ledger.table, Key={"name": {"S": "mine"}})
    clock.advance(timedelta(days=2))
    report = exps.gc()
    assert report.unledgered_stacks == ["exp-platformish", "exp-renamed"]
    assert backend.destroyed() == ["exp-mine"]


def test_up_does_not_report_running_when_another_run_took_the_record_over(
    ledger: Ledger, sweeper: TagSweeper
) -> None:
    class TakenOverDuringUp(InMemoryStackBackend):
        def up(self, stack: str, environment: Any, **kwargs: Any) -> dict[str, Any]:
            outputs = super().up(stack, environment, **kwargs)
            ledger.client.update_item(
                TableName=ledger.table,
                Key={"name": {"S": "raced"}},
                UpdateExpression="SET #s = :d",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":d": {"S": DESTROYING}},
            )
            return outputs

    exps = make(ledger, TakenOverDuringUp(), FakeClock(), sweeper)
    with pytest.raises(ExperimentConflictError, match="its ledger record is now destroying"):
        exps.up("raced", gpus=1, ttl=timedelta(hours=1), owner=user("ana"), image=IMAGE)


@pytest.mark.parametrize("recover_with", ["down", "gc"])
@pytest.mark.parametrize("point", UP_CRASHES)
def test_a_crash_during_up_is_recovered(
    ledger: Ledger, sweeper: TagSweeper, point: str, recover_with: str
) -> None:
    backend, clock = InMemoryStackBackend(), FakeClock()
    exps = make(ledger, backend, clock, sweeper)
    backend.crash_at.add((point, "exp-crashy"))
    with pytest.raises(SimulatedCrash):
        exps.up("crashy", gpus=3, ttl=timedelta(hours=2), owner=user("ana"), image=IMAGE)
    stored = ledger.get("crashy")
    assert stored is not None and stored.status == CREATING and ledger.usage(user("ana")) == (3, 3)
    assert ("exp-crashy" in backend.stacks) == (point == "after-up")
    clock.advance(SETTINGS.lease + timedelta(hours=2))  # the dead run's lease and the TTL have passed
    if recover_with == "down":
        exps.down("crashy")
    else:
        assert exps.gc().destroyed() == ["crashy"]
    assert ledger.get("crashy") is None and ledger.usage(user("ana")) == (0, 0)
    assert "exp-crashy" not in backend.stacks


@pytest.mark.parametrize("recover_with", ["down", "gc"])
@pytest.mark.parametrize("point", DOWN_CRASHES)
def test_a_crash_during_down_is_recovered(
    ledger: Ledger, sweeper: TagSweeper, point: str, recover_with: str
) -> None:
    backend, clock, exps = start(ledger, sweeper, "halfway", gpus=2)
    backend.crash_at.add((point, "exp-halfway"))
    with pytest.raises(SimulatedCrash):
        exps.down("halfway")
    stored = ledger.get("halfway")
    assert stored is not None and stored.status == DESTROYING  # the record outlives the crash
    assert ledger.usage(user("ana")) == (2, 2)
    with pytest.raises(ExperimentError, match="while it is destroying"):  # within the lease: a live run
        exps.down("halfway")
    clock.advance(SETTINGS.lease + timedelta(hours=4))
    if recover_with == "down":
        exps.down("halfway")
    else:
        assert exps.gc().destroyed() == ["halfway"]
    assert ledger.get("halfway") is None and ledger.usage(user("ana")) == (0, 0)
    assert "exp-halfway" not in backend.stacks
