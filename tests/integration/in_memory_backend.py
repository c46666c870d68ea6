"""InMemoryStackBackend: the test double for stacks.automation.StackBackend, and nothing else.

It replaces Pulumi exactly at the adapter boundary, so everything above it (ledger, quotas, GC) runs
for real against the moto server. Each instance is one Pulumi backend with its own URL; two instances
are two backends. Faults are injected by name: a failing up or destroy, or a simulated process crash
(a BaseException, which no `except Exception` in the code under test catches) at a named step.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.automation import OutputCallback
from stacks.experiments.errors import StackOperationError


class SimulatedCrash(BaseException):
    """The process died here (kill -9, OOM, lost node)."""


@dataclass
class FakeStack:
    """A stack's state as the Pulumi backend would hold it."""

    environment: dict[str, Any] | None
    resources: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)


CRASH_POINTS = ("before-up", "after-up", "before-destroy", "after-destroy", "after-remove")
"""Where a run can die inside the backend: before/after ``up`` changed the stack, before ``destroy``,
after ``destroy`` (before ``stack rm``), after ``stack rm`` (before the caller deletes the record)."""


class InMemoryStackBackend:
    """A StackBackend holding stacks in a dict, thread-safe, with fault injection and a call log."""

    def __init__(self, url: str = "file:///tmp/in-memory-backend-a") -> None:
        self.url = url
        self.crash_at: set[tuple[str, str]] = set()
        """(crash point, stack) pairs; each fires once."""
        self.stacks: dict[str, FakeStack] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_up: set[str] = set()
        self.fail_destroy: set[str] = set()
        self.crash_in_remove: set[str] = set()
        self._lock = threading.Lock()

    def add_stack(self, stack: str, environment: Mapping[str, Any] | None, resources: int = 3) -> None:
        """Seed a stack that already exists (e.g. a platform stack, or an experiment from earlier)."""
        self.stacks[stack] = FakeStack(dict(environment) if environment is not None else None, resources)

    def backend_url(self) -> str:
        return self.url

    def _crash(self, point: str, stack: str) -> None:
        if (point, stack) in self.crash_at:
            self.crash_at.discard((point, stack))
            raise SimulatedCrash(f"crashed at {point} of {stack}")

    def list_stacks(self) -> list[str]:
        with self._lock:
            return sorted(self.stacks)

    def read_environment(self, stack: str) -> Mapping[str, Any] | None:
        with self._lock:
            found = self.stacks.get(stack)
            return None if found is None or found.environment is None else dict(found.environment)

    def up(
        self, stack: str, environment: Mapping[str, Any], *, on_output: OutputCallback | None = None
    ) -> dict[str, Any]:
        with self._lock:
            self.calls.append(("up", stack))
            self._crash("before-up", stack)
            current = self.stacks.setdefault(stack, FakeStack(None))
            current.environment = dict(environment)
            if stack in self.fail_up:
                raise StackOperationError("up", stack, "exit status 255", ["error: simulated up failure"])
            current.resources = 5
            current.outputs = {"gpu_pool": f"{stack}-pool-a1b2"}
            self._crash("after-up", stack)
        if on_output is not None:
            on_output(f"Updating ({stack})")
        return dict(current.outputs)

    def destroy(self, stack: str, *, on_output: OutputCallback | None = None) -> None:
        with self._lock:
            self.calls.append(("destroy", stack))
            self._crash("before-destroy", stack)
            if stack in self.fail_destroy:
                raise StackOperationError(
                    "destroy", stack, "exit status 255", ["error: simulated destroy failure"]
                )
            if stack in self.stacks:
                self.stacks[stack].resources = 0
            self._crash("after-destroy", stack)

    def outputs(self, stack: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.stacks[stack].outputs)

    def remove_stack(self, stack: str) -> None:
        with self._lock:
            self.calls.append(("remove", stack))
            if stack in self.crash_in_remove:
                self.crash_in_remove.discard(stack)
                raise SimulatedCrash(f"crashed after destroying {stack}")
            found = self.stacks.get(stack)
            if found is not None and found.resources:
                raise StackOperationError("stack rm", stack, "stack still has resources")
            self.stacks.pop(stack, None)
            self._crash("after-remove", stack)

    def destroyed(self) -> list[str]:
        """Stacks a destroy was called on, in order."""
        return [stack for op, stack in self.calls if op == "destroy"]
