"""Ephemeral experiment stacks: create, list, extend, bring down, garbage-collect. The ledger is the truth.

Lifecycle of one experiment (statuses in the ledger)::

    up:      (none) -> creating -> running            failure: -> failed-creating (GPUs stay reserved)
    extend:  running | failed-updating -> updating -> running       failure: -> failed-updating
    down/gc: running | failed-* -> destroying -> (record deleted, GPUs released)
                                                       failure: -> failed-destroying, failures + 1

Every failure leaves a status a later run resumes: ``up`` with the same settings retries a
``failed-creating`` experiment, ``extend`` retries ``failed-updating``, ``down`` and ``gc`` retry
``failed-destroying`` (gc up to ``failure_cap`` times). A run that died mid-way leaves an in-progress
status that another run may take over once ``lease`` has passed.

TTL rule: the *total lifetime* (creation to expiry) never exceeds the platform's ``max_ttl``, for
``up`` and for every ``extend`` (an extension adds to the current expiry). Bounding the total, not
the remainder, means repeated extensions cannot keep GPUs forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from stacks.automation import OutputCallback, StackBackend
from stacks.experiments.durations import hours, to_iso
from stacks.experiments.errors import (
    ExperimentBusyError,
    ExperimentConflictError,
    ExperimentError,
    ExperimentExistsError,
    ExperimentInputError,
    ExperimentRequestError,
    TtlTooLongError,
    UnknownExperimentError,
)
from stacks.experiments.gc import DESTROYABLE, GarbageCollector, GcReport, backend_problem, finish_destroy
from stacks.experiments.identity import CallerIdentity, owner_for
from stacks.experiments.ledger import Ledger, Transition
from stacks.experiments.orphans import TaggedResource, TagSweeper
from stacks.experiments.pricing import PriceTable, estimate_cost, load_price_table
from stacks.experiments.records import (
    CREATING,
    DESTROYING,
    FAILED_CREATING,
    FAILED_UPDATING,
    IN_PROGRESS,
    RUNNING,
    UPDATING,
    ExperimentRecord,
)
from stacks.experiments.settings import (
    Clock,
    ExperimentSettings,
    default_instance_type,
    experiment_config,
    identity_problem,
    pool_name_for,
    stack_name_for,
    utc_now,
    validate_gpus,
    validate_name,
    validate_owner,
)
from stacks.spec.experiment_rules import request_problems

__all__ = ["DownResult", "ExperimentSettings", "ExperimentView", "Experiments", "GcReport"]

POOL_OUTPUT = "gpu_pool"
"""Stack output naming the experiment's node pool; recorded in the ledger when present."""


@dataclass(frozen=True)
class ExperimentView:
    """One row of `mlenv exp ls`: the record plus what follows from it at ``now``."""

    record: ExperimentRecord
    now: datetime
    cost_usd: float | None

    @property
    def expires_in(self) -> timedelta:
        """Time left (negative once expired)."""
        return self.record.expires_at - self.now

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able form for ``--json``."""
        r = self.record
        return {
            "name": r.name,
            "stack": stack_name_for(r.name),
            "owner": r.owner,
            "owner_arn": r.owner_arn,
            "created_by": r.created_by,
            "backend_url": r.backend_url,
            "gpus": r.gpus,
            "instance_type": r.instance_type,
            "image": r.image,
            "pool": r.pool,
            "status": r.status,
            "created_at": to_iso(r.created_at),
            "expires_at": to_iso(r.expires_at),
            "expires_in_hours": round(hours(self.expires_in), 3),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 2),
            "failures": r.failures,
            "last_error": r.last_error,
        }


@dataclass(frozen=True)
class DownResult:
    """What `mlenv exp down` did: the experiment it removed and any resources still tagged for it."""

    record: ExperimentRecord
    cost_usd: float | None
    orphans: list[TaggedResource] = field(default_factory=list)


class Experiments:
    """The experiment lifecycle over a ledger, a stack backend, a price table and a clock."""

    def __init__(
        self,
        ledger: Ledger,
        backend_factory: Callable[[], StackBackend],
        settings: ExperimentSettings,
        *,
        prices: PriceTable | None = None,
        clock: Clock = utc_now,
        sweeper: TagSweeper | None = None,
        on_output: OutputCallback | None = None,
        identity: Callable[[], CallerIdentity] | None = None,
    ) -> None:
        """``backend_factory`` is called only by operations that run Pulumi, so ``ls`` needs no CLI;
        ``identity`` (the caller's STS identity) only by ``up``."""
        self.ledger = ledger
        self._identity = identity
        self._backend_factory = backend_factory
        self._backend: StackBackend | None = None
        self.settings = settings
        self.prices = prices if prices is not None else load_price_table()
        self.clock = clock
        self.sweeper = sweeper
        self.on_output = on_output

    @property
    def backend(self) -> StackBackend:
        """The stack backend, created on first use."""
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    # -- up ------------------------------------------------------------------------------------------

    def up(
        self,
        name: str,
        *,
        gpus: int,
        ttl: timedelta,
        owner: str | None = None,
        instance_type: str | None = None,
        image: str | None = None,
    ) -> ExperimentRecord:
        """Reserve the name and GPUs in the ledger, then ``pulumi up`` the ``exp-<name>`` stack.

        The owner is the caller's AWS identity; ``owner`` (a principal ARN) only when the caller is
        one of the platform's operators. Quotas, the maximum TTL and the allowed instance types and
        images are the platform's (``Ledger.quotas``). Retries a ``failed-creating`` experiment of the
        same owner, GPUs, instance type and image, or one left ``creating`` by a run that died more
        than ``lease`` ago (its original expiry stands). The request is checked against the catalog
        and EC2's instance data first: a request that cannot run reserves nothing.
        """
        validate_name(name)
        validate_gpus(gpus)
        quotas = self.ledger.quotas()
        if self._identity is None:
            raise ExperimentError("internal: no caller identity source configured for `up`")
        caller = self._identity()
        who = owner_for(caller, owner, quotas.operators)
        validate_owner(who.name)
        if ttl > quotas.max_ttl:
            raise TtlTooLongError(hours(ttl), hours(quotas.max_ttl))
        image = image or self.settings.default_image
        if not image:
            raise ExperimentInputError(
                "no image given: pass --image ID (an id from images/catalog.yaml) or set MLENV_EXP_IMAGE"
            )
        chosen_type = instance_type or default_instance_type(
            gpus, self.prices, self.settings.default_instance_family
        )
        options = {"instance_type": "--instance-type", "image": "--image"}
        problems = [
            (options[p.path], p.message)
            for p in request_problems(instance_type=chosen_type, image=image, region=self.settings.region)
        ]
        problems += quotas.request_problems(instance_type=chosen_type, image=image)
        if problems:
            raise ExperimentRequestError(problems)
        backend = self.backend  # fail on a missing Pulumi CLI before anything is reserved
        backend_url = backend.backend_url()
        now = self.clock()
        record = ExperimentRecord(
            name=name,
            owner=who.name,
            gpus=gpus,
            instance_type=chosen_type,
            image=image,
            pool=pool_name_for(name),
            created_at=now,
            expires_at=now + ttl,
            status=CREATING,
            updated_at=now,
            owner_arn=who.arn,
            created_by=caller.arn,
            backend_url=backend_url,
            stack=stack_name_for(name),
        )
        try:
            self.ledger.create(
                record, owner_limit=quotas.owner_gpu_quota, global_limit=quotas.global_gpu_quota
            )
        except ExperimentExistsError:
            record = self._resume_create(record, now)
        return self._apply(backend, record, ok=RUNNING, failed=FAILED_CREATING, action="create")

    def _resume_create(self, wanted: ExperimentRecord, now: datetime) -> ExperimentRecord:
        existing = self.ledger.get(wanted.name)
        same = existing is not None and (
            existing.quota_owner,
            existing.backend_url,
            existing.gpus,
            existing.instance_type,
            existing.image,
        ) == (
            wanted.quota_owner,
            wanted.backend_url,
            wanted.gpus,
            wanted.instance_type,
            wanted.image,
        )
        abandoned = (
            existing is not None
            and existing.status == CREATING
            and existing.updated_at < now - self.settings.lease
        )
        if existing is None or not same or not (existing.status == FAILED_CREATING or abandoned):
            raise ExperimentExistsError(wanted.name, existing.status if existing else None)
        # A create whose run died (still `creating` after the lease) is resumed like a failed one.
        resume = Transition(
            to=CREATING,
            allowed_from=[FAILED_CREATING],
            takeover_before=now - self.settings.lease,
            takeover_statuses=[CREATING],
        )
        if not self.ledger.transition(wanted.name, resume, now=now):
            raise ExperimentExistsError(wanted.name, CREATING)
        return replace(existing, status=CREATING, updated_at=now)

    # -- ls ------------------------------------------------------------------------------------------

    def list(self) -> list[ExperimentView]:
        """Every experiment in the ledger with time left and estimated cost so far."""
        now = self.clock()
        return [ExperimentView(r, now, self._cost(r, now)) for r in self.ledger.list_experiments()]

    # -- extend --------------------------------------------------------------------------------------

    def extend(self, name: str, by: timedelta) -> ExperimentRecord:
        """Push the expiry out by ``by`` (total lifetime within ``max_ttl``); re-tags via ``pulumi up``."""
        record = self._get(name)
        if record.status in IN_PROGRESS:
            raise ExperimentBusyError(name, record.status, "extend")
        if record.status not in (RUNNING, FAILED_UPDATING):
            raise ExperimentConflictError(
                f"cannot extend experiment {name!r} in status {record.status}: "
                f"`mlenv exp up {name}` retries a failed create, `mlenv exp down {name}` removes it"
            )
        new_expiry = record.expires_at + by
        lifetime = new_expiry - record.created_at
        max_ttl = self.ledger.quotas().max_ttl
        if lifetime > max_ttl:
            raise TtlTooLongError(hours(lifetime), hours(max_ttl), "total lifetime after extension")
        backend = self.backend
        now = self.clock()
        change = Transition(
            to=UPDATING,
            allowed_from=[RUNNING, FAILED_UPDATING],
            expires_at_is=record.expires_at,
            new_expires_at=new_expiry,
        )
        if not self.ledger.transition(name, change, now=now):
            current = self._get(name)
            raise ExperimentBusyError(name, current.status, "extend (it changed while extending)")
        updated = replace(record, expires_at=new_expiry, status=UPDATING, updated_at=now)
        return self._apply(backend, updated, ok=RUNNING, failed=FAILED_UPDATING, action="extend")

    # -- down ----------------------------------------------------------------------------------------

    def down(self, name: str) -> DownResult:
        """Destroy the experiment's stack, then delete its record and release its GPUs; sweep for orphans.

        Refuses when this run is not logged in to the Pulumi backend that created the stack: only
        that backend can show the stack exists or prove it is gone (``backend_problem``).
        """
        record = self._get(name)
        backend = self.backend
        wrong_backend = backend_problem(record, backend.backend_url())
        if wrong_backend is not None:
            raise ExperimentError(f"refusing to bring down {name!r}: {wrong_backend}; nothing was released")
        stack = record.stack or stack_name_for(name)
        exists = stack in backend.list_stacks()
        now = self.clock()
        if exists:
            # `down` is explicit, so expiry does not matter; being this experiment does.
            problem = identity_problem(backend.read_environment(stack), name)
            if problem is not None:
                raise ExperimentError(f"refusing to destroy stack {stack!r}: {problem}")
        claim = Transition(to=DESTROYING, allowed_from=DESTROYABLE, takeover_before=now - self.settings.lease)
        if not self.ledger.transition(name, claim, now=now):
            current = self._get(name)
            raise ExperimentBusyError(name, current.status, "bring down")
        claimed = replace(record, status=DESTROYING, updated_at=now)
        finish_destroy(
            self.ledger,
            backend,
            claimed,
            stack_exists=exists,
            clock=self.clock,
            sweeper=self.sweeper,
            on_output=self.on_output,
        )
        orphans = self.sweeper.tagged(name) if self.sweeper is not None else []
        return DownResult(record=record, cost_usd=self._cost(record, self.clock()), orphans=orphans)

    # -- gc ------------------------------------------------------------------------------------------

    def gc(self, *, dry_run: bool = False) -> GcReport:
        """Destroy every expired experiment that is safe to destroy; report everything else."""
        collector = GarbageCollector(
            self.ledger,
            self.backend,
            self.settings,
            clock=self.clock,
            prices=self.prices,
            sweeper=self.sweeper,
            on_output=self.on_output,
        )
        return collector.run(dry_run=dry_run)

    # -- plumbing ------------------------------------------------------------------------------------

    def _get(self, name: str) -> ExperimentRecord:
        validate_name(name)
        record = self.ledger.get(name)
        if record is None:
            raise UnknownExperimentError(name)
        return record

    def _cost(self, record: ExperimentRecord, now: datetime) -> float | None:
        return estimate_cost(record.gpus, record.instance_type, now - record.created_at, self.prices)

    def _apply(
        self, backend: StackBackend, record: ExperimentRecord, *, ok: str, failed: str, action: str
    ) -> ExperimentRecord:
        """``pulumi up`` the record's config; move ``record.status`` to ``ok`` or, on failure, ``failed``.

        Both transitions are conditional on the status this run set; when one does not apply (another
        run took the record over), the caller is told instead of being shown a success.
        """
        stack = record.stack or stack_name_for(record.name)
        try:
            outputs = backend.up(stack, experiment_config(record, self.settings), on_output=self.on_output)
        except (Exception, KeyboardInterrupt) as exc:
            # Ctrl-C too: a user who interrupts `up` gets a status the next `up` or `down` resumes.
            message = str(exc) if isinstance(exc, ExperimentError) else f"{type(exc).__name__}: {exc}"
            recorded = self.ledger.transition(
                record.name,
                Transition(to=failed, allowed_from=[record.status]),
                now=self.clock(),
                error=message,
            )
            if isinstance(exc, KeyboardInterrupt):
                raise
            retry = (
                f"`mlenv exp up {record.name}` with the same settings retries"
                if failed == FAILED_CREATING
                else f"`mlenv exp extend {record.name}` retries"
            )
            status = (
                f"status now {failed}"
                if recorded
                else f"its ledger record changed meanwhile, so it is not {failed}; `mlenv exp ls` shows it"
            )
            raise ExperimentError(
                f"could not {action} experiment {record.name!r} ({status}): {message}\n"
                f"{retry}; `mlenv exp down {record.name}` removes it and releases its GPUs"
            ) from None
        pool = outputs.get(POOL_OUTPUT)
        pool_name = pool if isinstance(pool, str) and pool else None
        now = self.clock()
        if not self.ledger.transition(
            record.name, Transition(to=ok, allowed_from=[record.status], pool=pool_name), now=now
        ):
            current = self.ledger.get(record.name)
            state = f"is now {current.status}" if current is not None else "is gone"
            raise ExperimentConflictError(
                f"pulumi {action} of {stack!r} succeeded, but its ledger record {state} (another run took "
                f"it over), so it was not marked {ok}; `mlenv exp ls` shows it, `mlenv exp down "
                f"{record.name}` removes it"
            )
        return replace(record, status=ok, pool=pool_name or record.pool, updated_at=now)
