"""Garbage collection of expired experiments, and the destroy step it shares with `mlenv exp down`.

Safety rules, in the order GC applies them to each ledger record:

1. only records whose ledger ``expires_at`` has passed are considered; a stack without a ledger
   record is destroyed only when it is named ``exp-<name>``, its own config says it is experiment
   ``<name>`` and its ``expires_at`` (every resource's ``mlenv:expires-at`` tag) has passed;
   platform stacks and unexpired stacks are never touched;
2. a record that failed ``failure_cap`` times is reported and left alone;
3. a record in progress (creating/updating/destroying) within the lease belongs to a live run;
4. the run must be logged in to the Pulumi backend the record names (``backend_problem``): another
   backend's listing proves nothing; if the stack exists there, its own config must agree: an
   experiment, this name, expired (``refusal_reason``);
5. the record is claimed with a conditional write (still expired, still below the cap, not
   claimed by someone else) before anything is destroyed;
6. the record is deleted, and its GPUs released, only after ``pulumi destroy`` and
   ``stack rm`` succeeded, or, when the creating backend no longer lists the stack, after the tag
   sweep found nothing left (``finish_destroy``). A crash in between leaves ``destroying``; once
   the lease has passed the next GC (or ``down``) takes it over and finishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from stacks.automation import OutputCallback, StackBackend
from stacks.experiments.durations import from_iso, to_iso
from stacks.experiments.errors import ExperimentError, LedgerError
from stacks.experiments.ledger import Ledger, Transition
from stacks.experiments.orphans import TaggedResource, TagSweeper
from stacks.experiments.pricing import PriceTable, estimate_cost
from stacks.experiments.records import (
    DESTROYING,
    FAILED_CREATING,
    FAILED_DESTROYING,
    FAILED_UPDATING,
    IN_PROGRESS,
    RUNNING,
    ExperimentRecord,
)
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
    """``exp-*`` stacks with no ledger record whose own expiry has not passed (or is unreadable): kept."""

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


def backend_problem(record: ExperimentRecord, backend_url: str) -> str | None:
    """Why this run cannot decide whether ``record``'s stack is gone; None when it can.

    Only the backend that created a stack can show it exists or prove it is gone: another backend's
    empty listing says nothing (the bug this guards against released a live experiment's GPUs).
    """
    if not record.backend_url:
        return (
            "its ledger record does not say which Pulumi backend created its stack, so no listing can "
            "prove the stack is gone"
        )
    if record.backend_url != backend_url:
        return (
            f"its stack was created in Pulumi backend {record.backend_url}, but this run is logged in to "
            f"{backend_url}; run again logged in there (`pulumi login {record.backend_url}` or "
            "PULUMI_BACKEND_URL)"
        )
    return None


def finish_destroy(
    ledger: Ledger,
    backend: StackBackend,
    record: ExperimentRecord,
    *,
    stack_exists: bool,
    clock: Clock,
    sweeper: TagSweeper | None,
    on_output: OutputCallback | None = None,
) -> None:
    """Destroy a claimed (``destroying``) experiment's stack, then delete its record and release its GPUs.

    Two ways to know the experiment is gone, and nothing else releases a record:

    * the stack exists in its creating backend: ``pulumi destroy`` and ``stack rm`` succeeded here;
    * the creating backend (checked by the caller with :func:`backend_problem`) no longer lists it
      (a crash after ``stack rm``, or a create that died before the stack existed): then the
      Tagging API must show no resource still tagged for the experiment.

    On a failure the record moves to ``failed-destroying`` with the error and one more failure
    counted, and the error is raised. The record is never deleted before the stack is gone.
    """
    stack = record.stack or stack_name_for(record.name)
    try:
        if stack_exists:
            backend.destroy(stack, on_output=on_output)
            backend.remove_stack(stack)
        else:
            _prove_swept(record, sweeper)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ExperimentError) else str(exc)
        recorded = ledger.transition(
            record.name,
            Transition(to=FAILED_DESTROYING, allowed_from=[DESTROYING]),
            now=clock(),
            error=message,
            count_failure=True,
        )
        if not recorded:
            raise LedgerError(
                f"{message}; and the ledger record of {record.name!r} changed meanwhile, so the failure "
                "could not be recorded: `mlenv exp ls` shows its status"
            ) from exc
        raise
    if not ledger.delete(replace(record, status=DESTROYING)):
        raise LedgerError(
            f"experiment {record.name!r} was destroyed but its ledger record changed meanwhile; "
            "`mlenv exp ls` shows it, `mlenv exp gc` or `mlenv exp down` finishes it"
        )


def _prove_swept(record: ExperimentRecord, sweeper: TagSweeper | None) -> None:
    """Raise unless the Tagging API shows nothing left tagged for ``record`` (its stack is not listed)."""
    if sweeper is None:
        raise ExperimentError(
            f"the stack of {record.name!r} is not in its backend, and without a tag sweep nothing shows "
            "its resources are gone; run with AWS access to the Resource Groups Tagging API"
        )
    leftovers = sweeper.tagged(record.name)
    if leftovers:
        listed = ", ".join(r.arn for r in leftovers[:5]) + (" ..." if len(leftovers) > 5 else "")
        raise ExperimentError(
            f"the stack of {record.name!r} is gone but {len(leftovers)} resources are still tagged "
            f"mlenv:experiment={record.name} ({listed}); delete them, then run `mlenv exp down` again"
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
        backend_url = self.backend.backend_url()
        stacks = set(self.backend.list_stacks())
        report = GcReport(now=now, dry_run=dry_run)
        for record in records:
            if record.expires_at > now:
                continue
            action = self._collect(record, now, stacks, backend_url, dry_run)
            report.actions.append(action)
        ledgered = {r.stack or stack_name_for(r.name) for r in records}
        for stack in sorted(s for s in stacks if s.startswith(STACK_PREFIX) and s not in ledgered):
            unledgered = self._collect_unledgered(stack, now, dry_run)
            if unledgered is None:
                report.unledgered_stacks.append(stack)
            else:
                report.actions.append(unledgered)
        kept = {r.name for r in records} - set(report.destroyed())
        if self.sweeper is not None:
            report.orphans.extend(self.sweeper.orphans(kept))
        return report

    def _collect_unledgered(self, stack: str, now: datetime, dry_run: bool) -> GcAction | None:
        """Destroy an ``exp-*`` stack with no ledger record once its own expiry has passed; None: keep it.

        Such a stack holds no GPUs in the ledger (its record is gone, or it was made by hand), so
        nothing is released; its config must say it is this experiment and expired (``refusal_reason``),
        which is also what every one of its resources is tagged with (``mlenv:expires-at``).
        """
        name = stack[len(STACK_PREFIX) :]
        environment = self.backend.read_environment(stack)
        section = environment.get("experiment") if environment is not None else None
        raw_expiry = section.get("expires_at") if isinstance(section, Mapping) else None
        expires_at = parse_expiry(raw_expiry)
        if expires_at is None or expires_at > now:
            return None
        stub = ExperimentRecord(name, "", 0, "", "", "", expires_at, expires_at, DESTROYING, now, stack=stack)
        if refusal_reason(environment, stub, now) is not None:
            return None
        owner = environment.get("owner", "") if environment is not None else ""

        def act(outcome: str, detail: str) -> GcAction:
            return GcAction(name, stack, outcome, detail, str(owner), 0, expires_at, None)

        if dry_run:
            return act(WOULD_DESTROY, "no ledger record; the stack's own expiry has passed")
        try:
            self.backend.destroy(stack, on_output=self.on_output)
            self.backend.remove_stack(stack)
        except Exception as exc:
            return act(FAILED, f"no ledger record; destroy failed: {exc}")
        return act(DESTROYED, "no ledger record; the stack's own expiry had passed")

    def _collect(
        self, record: ExperimentRecord, now: datetime, stacks: set[str], backend_url: str, dry_run: bool
    ) -> GcAction:
        stack = record.stack or stack_name_for(record.name)
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
        wrong_backend = backend_problem(record, backend_url)
        if wrong_backend is not None:
            return act(REFUSED, f"ledger says expired, but {wrong_backend}; left alone")
        exists = stack in stacks
        if exists:
            reason = refusal_reason(self.backend.read_environment(stack), record, now)
            if reason is not None:
                return act(REFUSED, f"ledger says expired, but {reason}; left alone")
        if dry_run:
            return act(
                WOULD_DESTROY,
                "stack exists" if exists else "no stack left; the record goes after a tag sweep",
            )
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
                sweeper=self.sweeper,
                on_output=self.on_output,
            )
        except Exception as exc:
            failures = record.failures + 1
            outcome = GAVE_UP if failures >= cap else FAILED
            return act(outcome, f"destroy failed ({failures}/{cap}): {exc}")
        return act(DESTROYED)


def parse_expiry(value: object) -> datetime | None:
    """An ISO-8601 UTC instant from a stack config, or None when it is missing or unreadable."""
    if value is None:
        return None
    try:
        return from_iso(str(value))
    except ValueError:
        return None
