"""The one thin adapter over ``pulumi.automation``: the only place mlenv runs Pulumi (and so subprocesses).

``experiments.py`` depends on the small :class:`StackBackend` protocol, not on Pulumi; tests replace the
adapter at exactly this boundary. :class:`PulumiAutomationBackend` is the real implementation: a local
workspace whose ``work_dir`` is the repository root (where ``Pulumi.yaml`` lives), one stack per
experiment, the environment spec under the config key ``mlenv:environment``.

Every Pulumi call has a timeout (on expiry the running update is cancelled), streams its output to an
``on_output`` callback, and turns failures into :class:`StackOperationError` quoting the last lines.
Every ``up`` and ``preview`` it runs passes the policy pack (``policies/``, as ``--policy-pack``):
no deploy mlenv makes can skip the rules ``mlenv check`` enforces offline.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from stacks.experiments.errors import PulumiNotInstalledError, StackOperationError
from stacks.project import find_project

OutputCallback = Callable[[str], None]
T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICY_PACK_DIR = REPO_ROOT / "policies"
"""The CrossGuard pack passed to every ``up`` and ``preview`` (``pulumi up --policy-pack policies``)."""
ENVIRONMENT_CONFIG_KEY = "mlenv:environment"
LAST_LINES = 15
DEFAULT_TIMEOUT_SECONDS = 50 * 60
"""Default limit for one up/destroy: under the ledger's one-hour lease, so a live run never looks dead."""


class StackBackend(Protocol):
    """What the experiment lifecycle needs from Pulumi, and nothing more."""

    def backend_url(self) -> str:
        """The URL of the Pulumi backend this adapter is logged in to (what ``pulumi whoami -v`` shows).

        Recorded in the experiment ledger: only the backend that created a stack can prove it is gone.
        """
        ...

    def list_stacks(self) -> list[str]:
        """Names of every stack of the project."""
        ...

    def read_environment(self, stack: str) -> Mapping[str, Any] | None:
        """The stack's ``mlenv:environment`` config object; None when the stack does not have one."""
        ...

    def up(
        self, stack: str, environment: Mapping[str, Any], *, on_output: OutputCallback | None = None
    ) -> dict[str, Any]:
        """Create or select ``stack``, set ``mlenv:environment``, run ``pulumi up``; return the outputs."""
        ...

    def destroy(self, stack: str, *, on_output: OutputCallback | None = None) -> None:
        """Run ``pulumi destroy`` on an existing stack (a no-op when it has no resources)."""
        ...

    def outputs(self, stack: str) -> dict[str, Any]:
        """The stack's current outputs."""
        ...

    def remove_stack(self, stack: str) -> None:
        """Delete the (empty) stack and its config."""
        ...


class PulumiAutomationBackend:
    """:class:`StackBackend` on a local Pulumi workspace, driven by ``pulumi.automation``.

    Needs the Pulumi CLI on PATH (checked when the backend is created) and whatever backend login and
    cloud credentials the project uses; ``env`` adds environment variables for the CLI.
    """

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        env: Mapping[str, str] | None = None,
        policy_pack: Path = POLICY_PACK_DIR,
    ) -> None:
        binary = shutil.which("pulumi")
        if binary is None:
            raise PulumiNotInstalledError()
        # The Pulumi project mlenv is run in (as the CLI finds it), never mlenv's install location.
        self.work_dir = work_dir or find_project().root
        self.timeout_seconds = timeout_seconds
        self.env = dict(env or {})
        self.policy_packs = [str(policy_pack)]

    # -- StackBackend -------------------------------------------------------------------------------

    def backend_url(self) -> str:
        """``pulumi whoami``'s backend URL (e.g. ``https://api.pulumi.com``, ``s3://bucket``)."""
        workspace = self._workspace()
        result = self._run("whoami", "(project)", workspace.who_am_i, deque())
        url = getattr(result, "url", None)
        if not url:
            raise StackOperationError(
                "whoami", "(project)", "the Pulumi CLI did not report its backend URL (needs CLI >= 3.58)"
            )
        return str(url)

    def list_stacks(self) -> list[str]:
        """Names of every stack of the project in the current Pulumi backend."""
        workspace = self._workspace()
        summaries = self._run("stack ls", "(project)", lambda: workspace.list_stacks(), deque())
        return sorted(s.name for s in summaries)

    def read_environment(self, stack: str) -> Mapping[str, Any] | None:
        """The ``mlenv:environment`` object of ``stack``; None when the stack or the key is missing."""
        from pulumi import automation as auto

        try:
            handle = auto.select_stack(stack_name=stack, work_dir=str(self.work_dir), opts=self._options())
        except auto.StackNotFoundError:
            return None
        config = self._run("config", stack, handle.get_all_config, deque())
        value = config.get(ENVIRONMENT_CONFIG_KEY)
        if value is None:
            return None
        try:
            parsed = json.loads(value.value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def up(
        self, stack: str, environment: Mapping[str, Any], *, on_output: OutputCallback | None = None
    ) -> dict[str, Any]:
        """Create or select ``stack``, set its environment config, run ``pulumi up``, return plain outputs."""
        from pulumi import automation as auto

        tail: deque[str] = deque(maxlen=LAST_LINES)
        handle = self._run(
            "stack select",
            stack,
            lambda: auto.create_or_select_stack(
                stack_name=stack, work_dir=str(self.work_dir), opts=self._options()
            ),
            tail,
        )
        # A JSON string is what Config.require_object/get_object parse, under every CLI version.
        handle.set_config(ENVIRONMENT_CONFIG_KEY, auto.ConfigValue(value=json.dumps(dict(environment))))
        result = self._run(
            "up",
            stack,
            lambda: handle.up(
                on_output=self._tee(tail, on_output),
                color="never",
                suppress_progress=True,
                policy_packs=self.policy_packs,
            ),
            tail,
            cancel=handle.cancel,
        )
        return {key: item.value for key, item in result.outputs.items()}

    def destroy(self, stack: str, *, on_output: OutputCallback | None = None) -> None:
        """``pulumi destroy`` on ``stack``; a stack that does not exist counts as already destroyed."""
        from pulumi import automation as auto

        tail: deque[str] = deque(maxlen=LAST_LINES)
        try:
            handle = auto.select_stack(stack_name=stack, work_dir=str(self.work_dir), opts=self._options())
        except auto.StackNotFoundError:
            return
        self._run(
            "destroy",
            stack,
            lambda: handle.destroy(
                on_output=self._tee(tail, on_output), color="never", suppress_progress=True
            ),
            tail,
            cancel=handle.cancel,
        )

    def outputs(self, stack: str) -> dict[str, Any]:
        """Plain (unwrapped) outputs of ``stack``."""
        from pulumi import automation as auto

        handle = auto.select_stack(stack_name=stack, work_dir=str(self.work_dir), opts=self._options())
        outputs = self._run("stack output", stack, handle.outputs, deque())
        return {key: item.value for key, item in outputs.items()}

    def preview_refresh_events(
        self, stack: str, *, on_output: OutputCallback | None = None
    ) -> list[dict[str, Any]]:
        """``pulumi preview --refresh --policy-pack policies`` on ``stack``; every engine event it
        emitted, as the JSON object Pulumi documents (``stacks.drift.refresh`` reads them)."""
        from pulumi import automation as auto

        tail: deque[str] = deque(maxlen=LAST_LINES)
        handle = auto.select_stack(stack_name=stack, work_dir=str(self.work_dir), opts=self._options())
        events: list[dict[str, Any]] = []
        self._run(
            "preview --refresh",
            stack,
            lambda: handle.preview(
                refresh=True,
                policy_packs=self.policy_packs,
                on_output=self._tee(tail, on_output),
                on_event=lambda event: events.append(event_json(event)),
                color="never",
                suppress_progress=True,
            ),
            tail,
            cancel=handle.cancel,
        )
        return events

    def export_state(self, stack: str) -> dict[str, Any]:
        """``pulumi stack export``: ``{"version": 3, "deployment": {...}}``."""
        from pulumi import automation as auto

        handle = auto.select_stack(stack_name=stack, work_dir=str(self.work_dir), opts=self._options())
        exported = self._run("stack export", stack, handle.export_stack, deque())
        return {"version": exported.version, "deployment": exported.deployment}

    def remove_stack(self, stack: str) -> None:
        """``pulumi stack rm`` (refuses, as Pulumi does, when resources remain)."""
        workspace = self._workspace()
        self._run("stack rm", stack, lambda: workspace.remove_stack(stack), deque())

    # -- plumbing ----------------------------------------------------------------------------------

    def _options(self) -> Any:
        from pulumi import automation as auto

        return auto.LocalWorkspaceOptions(work_dir=str(self.work_dir), env_vars=self.env or None)

    def _workspace(self) -> Any:
        from pulumi import automation as auto

        return auto.LocalWorkspace(work_dir=str(self.work_dir), env_vars=self.env or None)

    @staticmethod
    def _tee(tail: deque[str], on_output: OutputCallback | None) -> OutputCallback:
        def emit(text: str) -> None:
            for line in text.splitlines():
                tail.append(line)
                if on_output is not None:
                    on_output(line)

        return emit

    def _run(
        self,
        operation: str,
        stack: str,
        call: Callable[[], T],
        tail: deque[str],
        *,
        cancel: Callable[[], None] | None = None,
    ) -> T:
        """Run one Automation API call with the timeout, mapping its failures to StackOperationError."""
        from pulumi import automation as auto

        # A worker thread lets us stop waiting; `pulumi cancel` then stops the engine itself.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pulumi-{operation}")
        future = pool.submit(call)
        try:
            return future.result(timeout=self.timeout_seconds)
        except FutureTimeout:
            if cancel is not None:
                try:
                    cancel()
                except Exception as exc:  # best effort: report the timeout, mention the failed cancel
                    tail.append(f"(pulumi cancel failed too: {exc})")
            raise StackOperationError(
                operation, stack, f"timed out after {self.timeout_seconds:g}s", list(tail)
            ) from None
        except FileNotFoundError as exc:
            raise PulumiNotInstalledError(str(exc)) from None
        except auto.CommandError as exc:
            lines = list(tail) or _last_lines(getattr(exc, "stderr", "") or str(exc))
            raise StackOperationError(operation, stack, _first_line(exc), lines) from None
        finally:
            pool.shutdown(wait=False)


def event_json(event: Any) -> Any:
    """An ``automation.events.EngineEvent`` back in the engine's JSON shape (camelCase keys, enum
    values, no unset fields): the automation API parses the event log and keeps no raw copy."""
    if isinstance(event, Enum):
        return event.value
    if isinstance(event, dict):
        return {str(k): event_json(v) for k, v in event.items() if v is not None}
    if isinstance(event, list | tuple):
        return [event_json(v) for v in event]
    if hasattr(event, "__dict__"):
        return {
            re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key): event_json(value)
            for key, value in vars(event).items()
            if value is not None and not key.startswith("_")
        }
    return event


def _first_line(exc: Exception) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def _last_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-LAST_LINES:]
