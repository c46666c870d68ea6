"""GC safety against the moto server, with hypothesis over random ledgers, clocks and stack lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.experiments.durations import to_iso
from stacks.experiments.gc import BUSY, DESTROYED, GAVE_UP, REFUSED, GarbageCollector
from stacks.experiments.ledger import Ledger
from stacks.experiments.orphans import TagSweeper
from stacks.experiments.records import DESTROYING, FAILED_DESTROYING, IN_PROGRESS, STATUSES, ExperimentRecord
from stacks.experiments.settings import ExperimentSettings, experiment_config, stack_name_for
from tests.integration.experiment_fixtures import T0, FakeClock, dynamodb, ledger, new_ledger, sweeper
from tests.integration.in_memory_backend import InMemoryStackBackend, SimulatedCrash

pytestmark = pytest.mark.integration

__all__ = ["dynamodb", "ledger", "sweeper"]  # fixtures used by name

SETTINGS = ExperimentSettings(failure_cap=3, lease=timedelta(hours=1))
BACKEND_URL = InMemoryStackBackend().url
NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
# What the exp-<name> stack looks like next to its ledger record.
STACK_SHAPES = ["consistent", "missing", "platform-kind", "no-config", "config-not-expired", "other-name"]
NON_EXPERIMENT_STACKS = {
    "dev": {"name": "dev", "kind": "platform", "owner": "platform", "region": "us-east-1"},
    "prod": {"name": "prod", "kind": "platform", "owner": "platform", "region": "us-east-1"},
}


@dataclass(frozen=True)
class Case:
    record: ExperimentRecord
    shape: str


@st.composite
def cases(draw: st.DrawFn) -> list[Case]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    result = []
    for name in names:
        created = T0 + timedelta(minutes=draw(st.integers(-72 * 60, 0)))
        expires = created + timedelta(minutes=draw(st.integers(1, 48 * 60)))
        updated = created + timedelta(minutes=draw(st.integers(0, 72 * 60)))
        record = ExperimentRecord(
            name=name,
            owner=draw(st.sampled_from(["ana", "bo"])),
            gpus=draw(st.integers(1, 8)),
            instance_type="g6e.xlarge",
            image="cuda12-l40s",
            pool=f"exp-{name}-gpu",
            created_at=created,
            expires_at=expires,
            status=draw(st.sampled_from(STATUSES)),
            updated_at=min(updated, T0),
            failures=draw(st.integers(0, 4)),
            backend_url=BACKEND_URL,
            stack=f"exp-{name}",
        )
        result.append(Case(record, draw(st.sampled_from(STACK_SHAPES))))
    return result


def seed(ledger: Ledger, backend: InMemoryStackBackend, world: list[Case]) -> None:
    """Write records and matching GPU counters straight into the ledger; build the stacks."""
    for case in world:
        ledger.client.put_item(TableName=ledger.table, Item=case.record.to_item())
        for key in (f"#quota:owner:{case.record.owner}", "#quota:global"):
            ledger.client.update_item(
                TableName=ledger.table,
                Key={"name": {"S": key}},
                UpdateExpression="ADD used_gpus :g",
                ExpressionAttributeValues={":g": {"N": str(case.record.gpus)}},
            )
        env = experiment_config(case.record, SETTINGS)
        stack = stack_name_for(case.record.name)
        if case.shape == "consistent":
            backend.add_stack(stack, env)
        elif case.shape == "platform-kind":
            backend.add_stack(stack, env | {"kind": "platform"})
        elif case.shape == "no-config":
            backend.add_stack(stack, None)
        elif case.shape == "config-not-expired":
            later = env["experiment"] | {"expires_at": to_iso(T0 + timedelta(days=30))}
            backend.add_stack(stack, env | {"experiment": later})
        elif case.shape == "other-name":
            backend.add_stack(stack, env | {"name": "someone-else"})
    for name, env in NON_EXPERIMENT_STACKS.items():
        backend.add_stack(name, env)
    # Named like an experiment, expired by its own config, but not in the ledger: GC destroys it.
    ghost = experiment_config(
        ExperimentRecord(
            "ghost",
            "x",
            1,
            "g6e.xlarge",
            "i",
            "p",
            T0 - timedelta(days=3),
            T0 - timedelta(days=2),
            "running",
            T0,
        ),
        SETTINGS,
    )
    backend.add_stack("exp-ghost", ghost)
    # Not in the ledger and not expired yet: GC keeps it and reports it.
    young = experiment_config(
        ExperimentRecord(
            "young",
            "x",
            1,
            "g6e.xlarge",
            "i",
            "p",
            T0 - timedelta(days=1),
            T0 + timedelta(days=3),
            "running",
            T0,
        ),
        SETTINGS,
    )
    backend.add_stack("exp-young", young)


def eligible(case: Case, now: Any) -> bool:
    """The oracle: what GC may destroy, from the rules stated in the issue."""
    r = case.record
    return (
        r.expires_at <= now
        and r.failures < SETTINGS.failure_cap
        and not (r.status in IN_PROGRESS and r.updated_at > now - SETTINGS.lease)
        and case.shape in ("consistent", "missing")
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=cases(), clock_offset_minutes=st.integers(-60, 24 * 60), fail=st.sets(st.sampled_from(NAMES)))
def test_gc_destroys_exactly_the_expired_experiments_and_nothing_else(
    dynamodb: Any, sweeper: TagSweeper, world: list[Case], clock_offset_minutes: int, fail: set[str]
) -> None:
    ledger = new_ledger(dynamodb)
    backend = InMemoryStackBackend()
    seed(ledger, backend, world)
    backend.fail_destroy = {stack_name_for(n) for n in fail}
    clock = FakeClock(T0 + timedelta(minutes=clock_offset_minutes))
    before = {name: (stack.environment, stack.resources) for name, stack in backend.stacks.items()}

    report = GarbageCollector(ledger, backend, SETTINGS, clock=clock, sweeper=sweeper).run()

    by_name = {c.record.name: c for c in world}
    should = {c.record.name for c in world if eligible(c, clock.now)}
    # Only eligible experiments' stacks ever see a destroy; never a platform stack or an unledgered one.
    destroyed_stacks = set(backend.destroyed())
    assert destroyed_stacks - {"exp-ghost"} <= {
        stack_name_for(n) for n in should if by_name[n].shape == "consistent"
    }
    for stack in [*NON_EXPERIMENT_STACKS, "exp-young"]:
        assert backend.stacks[stack].environment == before[stack][0]
        assert backend.stacks[stack].resources == before[stack][1]
    assert report.unledgered_stacks == ["exp-young"]
    # The unledgered stack whose own expiry passed is destroyed and removed (nothing to release).
    assert "exp-ghost" not in backend.stacks and "exp-ghost" in destroyed_stacks

    remaining = {r.name: r for r in ledger.list_experiments()}
    succeeded = {
        n for n in should if stack_name_for(n) not in backend.fail_destroy or by_name[n].shape == "missing"
    }
    assert set(report.destroyed()) == succeeded | {"ghost"}
    for case in world:
        name = case.record.name
        if name in succeeded:
            assert name not in remaining and stack_name_for(name) not in backend.stacks
        elif name in should:  # destroy failed: recorded, one more failure, GPUs still reserved
            assert remaining[name].status == FAILED_DESTROYING
            assert remaining[name].failures == case.record.failures + 1
        else:  # untouched: same status, same expiry
            assert (remaining[name].status, remaining[name].expires_at) == (
                case.record.status,
                case.record.expires_at,
            )
        if not eligible(case, clock.now) and case.record.expires_at <= clock.now:
            outcome = next(a.outcome for a in report.actions if a.name == name)
            assert outcome in (BUSY, GAVE_UP, REFUSED)
    # Quota counters stay equal to the GPUs of the records that remain.
    assert ledger.usage("ana")[1] == sum(r.gpus for r in remaining.values())
    for owner in ("ana", "bo"):
        held = sum(r.gpus for r in remaining.values() if r.owner == owner)
        assert ledger.usage(owner)[0] == held


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    world=cases(), crash_point=st.sampled_from(["after-destroy", "after-stack-rm"]), pick=st.integers(0, 100)
)
def test_a_crash_between_destroy_and_record_deletion_is_finished_by_the_next_gc(
    dynamodb: Any, sweeper: TagSweeper, world: list[Case], crash_point: str, pick: int
) -> None:
    candidates = [c for c in world if eligible(c, T0) and c.shape == "consistent"]
    if not candidates:
        return
    victim = candidates[pick % len(candidates)].record.name
    ledger = new_ledger(dynamodb)
    backend = InMemoryStackBackend()
    seed(ledger, backend, world)
    clock = FakeClock(T0)

    class DiesBeforeDelete(Ledger):
        def delete(self, record: ExperimentRecord) -> bool:
            if record.name == victim:
                raise SimulatedCrash("died after stack rm, before the ledger delete")
            return super().delete(record)

    crashing_ledger: Ledger = ledger
    if crash_point == "after-destroy":
        backend.crash_in_remove.add(stack_name_for(victim))
    else:
        crashing_ledger = DiesBeforeDelete(ledger.client, ledger.table)
    with pytest.raises(SimulatedCrash):
        GarbageCollector(crashing_ledger, backend, SETTINGS, clock=clock, sweeper=sweeper).run()
    left = ledger.get(victim)
    assert left is not None and left.status == DESTROYING  # the record survives the stack

    clock.advance(SETTINGS.lease + timedelta(minutes=1))  # the crashed run's lease has run out
    report = GarbageCollector(ledger, backend, SETTINGS, clock=clock, sweeper=sweeper).run()
    assert victim in report.destroyed()
    assert ledger.get(victim) is None
    assert stack_name_for(victim) not in backend.stacks


def test_a_destroy_that_keeps_failing_stops_at_the_cap_and_is_reported(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    record = ExperimentRecord(
        "stuck",
        "ana",
        2,
        "g6e.xlarge",
        "img",
        "p",
        T0 - timedelta(hours=5),
        T0 - timedelta(hours=1),
        "running",
        T0,
        backend_url=BACKEND_URL,
    )
    seed(ledger, backend, [Case(record, "consistent")])
    backend.fail_destroy.add("exp-stuck")
    clock = FakeClock(T0)
    outcomes = []
    for _ in range(SETTINGS.failure_cap + 2):
        report = GarbageCollector(ledger, backend, SETTINGS, clock=clock).run()
        outcomes.append(report.actions[0].outcome)
        assert report.problems  # every run reports it
        clock.advance(timedelta(minutes=15))
    assert backend.destroyed().count("exp-stuck") == SETTINGS.failure_cap
    assert outcomes == ["failed", "failed", "gave-up", "gave-up", "gave-up"]
    stuck = ledger.get("stuck")
    assert stuck is not None and stuck.failures == SETTINGS.failure_cap
    assert "simulated destroy failure" in stuck.last_error


def test_dry_run_reports_and_changes_nothing(ledger: Ledger) -> None:
    backend = InMemoryStackBackend()
    record = ExperimentRecord(
        "old",
        "ana",
        1,
        "g6e.xlarge",
        "img",
        "p",
        T0 - timedelta(hours=5),
        T0 - timedelta(hours=1),
        "running",
        T0,
        backend_url=BACKEND_URL,
    )
    seed(ledger, backend, [Case(record, "consistent")])
    report = GarbageCollector(ledger, backend, SETTINGS, clock=FakeClock(T0)).run(dry_run=True)
    assert [(a.name, a.outcome) for a in report.actions] == [
        ("old", "would-destroy"),
        ("ghost", "would-destroy"),
    ]
    assert backend.destroyed() == []
    stored = ledger.get("old")
    assert stored is not None and stored.status == "running"
    assert DESTROYED not in {a.outcome for a in report.actions}
