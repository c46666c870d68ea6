"""Garbage collection of expired experiments, and the destroy step it shares with `mlenv exp down`.

Safety rules, in the order GC applies them to each ledger record:

1. only records whose ledger ``expires_at`` has passed are considered; GC never lists stacks to
   find work, so a stack without a ledger record (a platform stack, someone's experiment
   created by hand) is never touched, only reported when it is named like an experiment;
2. a record that failed ``failure_cap`` times is reported and left alone;
3. a record in progress (creating/updating/destroying) within the lease belongs to a live run;
4. if the ``exp-<name>`` stack exists, its own config must agree: an experiment, this name,
   expired (``refusal_reason``);
5. the record is claimed with a conditional write (still expired, still below the cap, not
   claimed by someone else) before anything is destroyed;
6. the record is deleted, and its GPUs released, only after ``pulumi destroy`` and
   ``stack rm`` succeeded. A crash in between leaves ``destroying``; once the lease has passed
   the next GC takes it over and finishes (destroy on an empty or missing stack is a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from stacks.automation import OutputCallback, StackBackend
from stacks.experiments.durations import to_iso
from stacks.experiments.errors import ExperimentError, LedgerError
from stacks.experiments.ledger import (
    DESTROYING,
    FAILED_CREATING,
    FAILED_DESTROYING,
    FAILED_UPDATING,
    IN_PROGRESS,
    RUNNING,
    ExperimentRecord,
    Ledger,
    Transition,
)
from stacks.experiments.orphans import TaggedResource, TagSweeper
from stacks.experiments.pricing import PriceTable, estimate_cost
from stacks.experiments.settings import (
    STACK_PREFIX,
    Clock,
    ExperimentSettings,
    refusal_reason,
    stack_name_for,
)

DESTROYABLE = (RUNNING, FAILED_CREATING, FAILED_UPDATING, FAILED_DESTROYING)
"""Statuses from which a destroy may start without taking over another run."""

DESTROYED = "destroyed"
WOULD_DESTROY = "would-destroy"
FAILED = "failed"
GAVE_UP = "gave-up"
REFUSED = "refused"
BUSY = "busy"
CHANGED = "changed"
PROBLEM_OUTCOMES = (FAILED, GAVE_UP, REFUSED)
"""Outcomes that need a human; `mlenv exp gc` exits non-zero when any occurs."""


@dataclass(frozen=True)
class GcAction:
    """What GC did (or, with --dry-run, would do) about one expired experiment."""

    name: str
    stack: str
    outcome: str
    detail: str = ""
    owner: str = ""
    gpus: int = 0
    expired_at: datetime | None = None
    cost_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able form for ``--json``."""
        return {
            "name": self.name,
            "stack": self.stack,
            "outcome": self.outcome,
            "detail": self.detail,
            "owner": self.owner,
            "gpus": self.gpus,
            "expired_at": to_iso(self.expired_at) if self.expired_at else None,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 2),
        }


@dataclass(frozen=True)
class GcReport:
    """Everything one GC run found and did."""

    now: datetime
    dry_run: bool
    actions: list[GcAction] = field(default_factory=list)
    orphans: list[TaggedResource] = field(default_factory=list)
    """Resources tagged for an experiment the ledger no longer (or never) held."""
    unledgered_stacks: list[str] = field(default_factory=list)
    """``exp-*`` stacks with no ledger record: never touched, reported for a human."""

    @property
    def problems(self) -> list[GcAction]:
        """Actions that need a human (failed, gave up, refused)."""
        return [a for a in self.actions if a.outcome in PROBLEM_OUTCOMES]

    def destroyed(self) -> list[str]:
        """Names destroyed in this run."""
        return [a.name for a in self.actions if a.outcome == DESTROYED]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able form for ``--json``."""
        return {
            "now": to_iso(self.now),
            "dry_run": self.dry_run,
            "actions": [a.to_json() for a in self.actions],
            "orphans": [{"arn": o.arn, "experiment": o.experiment, "tags": o.tags} for o in self.orphans],
            "unledgered_stacks": self.unledgered_stacks,
            "ok": not self.problems,
        }


def finish_destroy(
    ledger: Ledger,
    backend: StackBackend,
    record: ExperimentRecord,
    *,
    stack_exists: bool,
    clock: Clock,
    on_output: OutputCallback | None = None,
) -> None:
    """Destroy a claimed (``destroying``) experiment's stack, then delete its record and release its GPUs.

    On a destroy failure the record moves to ``failed-destroying`` with the error and one more
    failure counted, and the error is re-raised. The record is never deleted before the stack is gone.
    """
    stack = stack_name_for(record.name)
    try:
        if stack_exists:
            backend.destroy(stack, on_output=on_output)
            backend.remove_stack(stack)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ExperimentError) else str(exc)
        ledger.transition(
            record.name,
            Transition(to=FAILED_DESTROYING, allowed_from=[DESTROYING]),
            now=clock(),
            error=message,
            count_failure=True,
        )
        raise
    if not ledger.delete(replace(record, status=DESTROYING)):
        raise LedgerError(
            f"experiment {record.name!r} was destroyed but its ledger record changed meanwhile; "
            "`mlenv exp ls` shows it, `mlenv exp gc` or `mlenv exp down` finishes it"
        )


class GarbageCollector:
    """Destroys expired experiments following the safety rules in this module's docstring."""

    def __init__(
        self,
        ledger: Ledger,
        backend: StackBackend,
        settings: ExperimentSettings,
        *,
        clock: Clock,
        prices: PriceTable | None = None,
        sweeper: TagSweeper | None = None,
        on_output: OutputCallback | None = None,
    ) -> None:
        self.ledger = ledger
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self.prices = prices
        self.sweeper = sweeper
        self.on_output = on_output

    def run(self, *, dry_run: bool = False) -> GcReport:
        """One GC pass; with ``dry_run`` nothing is claimed or destroyed, only reported."""
        now = self.clock()
        records = self.ledger.list_experiments()
        stacks = set(self.backend.list_stacks())
        report = GcReport(now=now, dry_run=dry_run)
        for record in records:
            if record.expires_at > now:
                continue
            action = self._collect(record, now, stacks, dry_run)
            report.actions.append(action)
        kept = {r.name for r in records} - set(report.destroyed())
        ledgered = {stack_name_for(r.name) for r in records}
        report.unledgered_stacks.extend(
            sorted(s for s in stacks if s.startswith(STACK_PREFIX) and s not in ledgered)
        )
        if self.sweeper is not None:
            report.orphans.extend(self.sweeper.orphans(kept))
        return report

    def _collect(self, record: ExperimentRecord, now: datetime, stacks: set[str], dry_run: bool) -> GcAction:
        stack = stack_name_for(record.name)
        cost = (
            estimate_cost(record.gpus, record.instance_type, now - record.created_at, self.prices)
            if (self.prices)
            else None
        )

        def act(outcome: str, detail: str = "") -> GcAction:
            return GcAction(
                record.name, stack, outcome, detail, record.owner, record.gpus, record.expires_at, cost
            )

        cap = self.settings.failure_cap
        if record.failures >= cap:
            return act(
                GAVE_UP, f"{record.failures} failed destroys (cap {cap}); last error: {record.last_error}"
            )
        if record.status in IN_PROGRESS and record.updated_at > now - self.settings.lease:
            return act(BUSY, f"{record.status} by another run since {to_iso(record.updated_at)}")
        exists = stack in stacks
        if exists:
            reason = refusal_reason(self.backend.read_environment(stack), record, now)
            if reason is not None:
                return act(REFUSED, f"ledger says expired, but {reason}; left alone")
        if dry_run:
            return act(WOULD_DESTROY, "stack exists" if exists else "no stack left; only the record remains")
        claim = Transition(
            to=DESTROYING,
            allowed_from=DESTROYABLE,
            takeover_before=now - self.settings.lease,
            expired_at=now,
            failures_below=cap,
        )
        if not self.ledger.transition(record.name, claim, now=now):
            return act(CHANGED, "the record changed since it was read (extended, claimed or removed)")
        try:
            finish_destroy(
                self.ledger,
                self.backend,
                record,
                stack_exists=exists,
                clock=self.clock,
                on_output=self.on_output,
            )
        except Exception as exc:
            failures = record.failures + 1
            outcome = GAVE_UP if failures >= cap else FAILED
            return act(outcome, f"destroy failed ({failures}/{cap}): {exc}")
        return act(DESTROYED)
