"""The offline engine: run the real Pulumi program with no cloud and no Pulumi CLI.

``plan_stack("dev")`` loads ``stacks/Pulumi.dev.yaml`` as the CLI would (config as strings,
objects as JSON), installs ``pulumi.runtime.set_mocks`` with a monitor that records every
RegisterResource request whole and every invoke, and runs ``stacks/__main__.py`` exactly as
the Python language host does: ``run_in_stack(lambda: runpy.run_path(program))``. There is no
second code path: what is recorded is what the SDK would send the engine.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_in_stack

from stacks.errors import MlenvError, OfflineEngineError, StackFileError
from stacks.offline.config_env import compact_json, ensure_config_fits
from stacks.offline.mocks import OfflineMocks
from stacks.offline.plan import Plan, PlannedInvoke, PlannedResource
from stacks.offline.stack_yaml import read_stack_document
from stacks.project import find_project

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Where this code runs from: the source checkout in an editable install, site-packages otherwise.
Tests and benchmarks read the repository's stack files through it; commands never do (they plan the
stack files of the project they are run in, ``stacks.project.find_project``)."""
STACKS_DIR = REPO_ROOT / "stacks"
PROGRAM = Path(__file__).resolve().parents[1] / "__main__.py"
"""The Pulumi program: the installed ``stacks/__main__.py``, the same code ``pulumi up`` runs."""
PROJECT = "mlenv"
OFFLINE_SECRET = "offline-placeholder-secret"
"""What a ``secure:`` config value reads as offline: the engine cannot decrypt it here."""

# The Pulumi SDK keeps its runtime settings in module globals: one program run at a time.
_RUN_LOCK = threading.Lock()


def stack_file(stack: str, stacks_dir: Path | None = None) -> Path:
    """``Pulumi.<stack>.yaml`` in ``stacks_dir`` (default: the current project's ``stackConfigDir``);
    StackFileError lists the stacks that exist."""
    stacks_dir = stacks_dir or find_project().stack_config_dir
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(
            f"unknown stack {stack!r}: no {path.relative_to(stacks_dir.parent)}; "
            f"stacks here: {', '.join(known) or 'none'}"
        )
    return path


def _shown(path: Path) -> str:
    """The stack file as a user names it: relative to the current directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_stack_config(stack: str, stacks_dir: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """A stack file's config as the Pulumi CLI hands it to a program, and its secret keys."""
    path = stack_file(stack, stacks_dir)
    raw = read_stack_document(path, shown_as=_shown(path)).config
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Counted at the placeholder's size by ensure_config_fits: the plaintext is not known here.
            config[full_key] = OFFLINE_SECRET
            secret_keys.append(full_key)
        elif isinstance(value, str):
            config[full_key] = value
        else:
            # The CLI passes structured config as compact JSON text; Config.require_object parses it.
            config[full_key] = compact_json(value)
    ensure_config_fits(config, _shown(path))
    return config, secret_keys


def _struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    result = json_format.MessageToDict(struct)
    return _integral_floats_to_int(result)  # type: ignore[no-any-return]


def _integral_floats_to_int(value: Any) -> Any:
    """Protobuf Structs carry every number as a double; 30.0 reads better as 30."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_to_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_to_int(v) for v in value]
    return value


class RecordingMonitor(MockMonitor):
    """A MockMonitor that keeps every request the SDK sends, whole, for the Plan."""

    def __init__(self, mocks: OfflineMocks) -> None:
        super().__init__(mocks)
        self._lock = threading.Lock()
        self.recorded: list[PlannedResource] = []
        self.invokes: list[PlannedInvoke] = []
        self.outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        resource = PlannedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=request.custom,
            id=response.id or None,
            inputs=_struct_to_dict(request.object),
            protect=request.protect if request.HasField("protect") else False,
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            delete_before_replace=request.deleteBeforeReplace,
            retain_on_delete=request.retainOnDelete if request.HasField("retainOnDelete") else False,
            dependencies=sorted(request.dependencies),
            property_dependencies={k: sorted(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider or None,
            additional_secret_outputs=list(request.additionalSecretOutputs),
            deleted_with=request.deletedWith or None,
            import_id=request.importId or None,
        )
        with self._lock:
            self.recorded.append(resource)
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        resource = PlannedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=True,
            id=request.id,
            inputs=_struct_to_dict(request.properties),
            dependencies=list(request.dependencies),
            provider=request.provider or None,
            read=True,
        )
        with self._lock:
            self.recorded.append(resource)
        return response

    def Invoke(self, request: Any) -> Any:
        response = super().Invoke(request)  # type: ignore[no-untyped-call]
        invoke = PlannedInvoke(
            token=request.tok,
            args=_struct_to_dict(request.args),
            provider=request.provider or None,
            result=_struct_to_dict(response.__getattribute__("return")),
        )
        with self._lock:
            self.invokes.append(invoke)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        with self._lock:
            self.outputs[request.urn] = _struct_to_dict(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def run_isolated(
    program: Callable[[], Any],
    *,
    monitor: MockMonitor,
    config: Mapping[str, str],
    secret_keys: list[str],
    project: str,
    stack: str,
) -> BaseException | None:
    """Run a program under ``monitor`` on a fresh thread with its own event loop; return its error.

    A fresh thread makes the SDK's context variables (root stack, config) start empty, as in a
    new language-host process. Runs are serialised: the SDK keeps settings in module globals.
    """
    failure: list[BaseException] = []
    worker_loops: list[asyncio.AbstractEventLoop] = []

    def give_worker_a_loop() -> None:
        # The SDK's monitor calls run on executor threads and need an event loop there; own
        # them so they are closed with the run instead of at interpreter exit.
        worker_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(worker_loop)
        worker_loops.append(worker_loop)

    def execute() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        executor = ThreadPoolExecutor(max_workers=8, initializer=give_worker_a_loop)
        loop.set_default_executor(executor)
        try:
            pulumi.runtime.set_all_config(dict(config), secret_keys)
            # set_mocks creates and finishes a root stack of its own when none exists; the
            # language host instead runs the program inside run_in_stack, which registers the
            # stack and its outputs. A placeholder root makes set_mocks skip its own.
            pulumi_settings.ROOT.set(object())  # type: ignore[arg-type]
            pulumi.runtime.set_mocks(
                monitor.mocks, project=project, stack=stack, preview=True, monitor=monitor
            )
            pulumi_settings.ROOT.set(None)
            loop.run_until_complete(run_in_stack(program))
        except BaseException as exc:
            failure.append(exc)
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            executor.shutdown(wait=True)
            for worker_loop in worker_loops:
                worker_loop.close()
            loop.close()

    with _RUN_LOCK:
        worker = threading.Thread(target=execute, name=f"mlenv-offline-{stack}")
        worker.start()
        worker.join()
    return failure[0] if failure else None


def run_program(
    program: Callable[[], Any],
    *,
    config: Mapping[str, str],
    secret_keys: list[str],
    stack: str,
    region: str,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    project: str = PROJECT,
) -> Plan:
    """Run a Pulumi program function under the recording monitor and return what it registered."""
    monitor = RecordingMonitor(OfflineMocks(region=region, stack_outputs=stack_outputs))
    failure = run_isolated(
        program, monitor=monitor, config=config, secret_keys=secret_keys, project=project, stack=stack
    )
    if failure is not None:
        raise _as_user_error(failure)
    stack_urn = next((r.urn for r in monitor.recorded if r.type == "pulumi:pulumi:Stack"), "")
    return Plan(
        project=project,
        stack=stack,
        config={k: (OFFLINE_SECRET if k in secret_keys else v) for k, v in config.items()},
        resources=sorted(monitor.recorded, key=lambda r: (r.type != "pulumi:pulumi:Stack", r.urn)),
        invokes=sorted(monitor.invokes, key=lambda i: (i.token, json.dumps(i.args, sort_keys=True))),
        outputs=monitor.outputs.get(stack_urn, {}),
    )


def _as_user_error(exc: BaseException) -> BaseException:
    """Errors of ours pass through; anything else becomes an OfflineEngineError that says where."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MlenvError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    error = OfflineEngineError(f"the program failed offline: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def plan_stack(
    stack: str,
    *,
    stacks_dir: Path | None = None,
    program_path: Path = PROGRAM,
    _referenced_from: tuple[str, ...] = (),
) -> Plan:
    """Plan a stack offline: load its stack file and run the real program over it.

    A StackReference resolves to the outputs of the referenced stack's own offline plan
    (``stacks/Pulumi.<stack>.yaml``, planned once per process), so an experiment plans against its
    platform with no cloud. (``run_program`` takes any stack's outputs directly.)
    """
    config, secret_keys = load_stack_config(stack, stacks_dir)
    environment = _raw_environment(config)
    region = config.get("aws:region") or _region_from_environment(environment) or "us-east-1"
    chain = (*_referenced_from, stack)
    # The program cannot plan another stack mid-run (the SDK's settings are process globals), so
    # the stack the spec reads is planned before the program runs.
    known = {
        reference: referenced_stack_outputs(
            reference, stacks_dir=stacks_dir, program_path=program_path, chain=chain
        )
        for reference in _references_from_environment(environment)
    }
    return run_program(
        lambda: runpy.run_path(str(program_path), run_name="__main__"),
        config=config,
        secret_keys=secret_keys,
        stack=stack,
        region=region,
        stack_outputs=known,
    )


_REFERENCED_PLANS: dict[tuple[str, str, str, int], Plan] = {}
_REFERENCED_LOCK = threading.Lock()


def referenced_stack_outputs(
    reference: str, *, stacks_dir: Path | None, program_path: Path, chain: tuple[str, ...] = ()
) -> Mapping[str, Any]:
    """The outputs a StackReference to ``reference`` reads offline: the offline plan of that stack.

    ``reference`` is a stack of this project: ``dev``, or fully qualified ``<org>/mlenv/dev``.
    """
    parts = reference.split("/")
    if len(parts) not in (1, 3) or (len(parts) == 3 and parts[1] != PROJECT):
        raise StackFileError(
            f"stack reference {reference!r}: offline, only stacks of project {PROJECT!r} can be "
            f"referenced (write the stack name, e.g. dev, or <org>/{PROJECT}/dev)"
        )
    name = parts[-1]
    if name in chain:
        raise StackFileError(f"stack references form a cycle: {' -> '.join((*chain, name))}")
    path = stack_file(name, stacks_dir)
    key = (name, str(path.parent), str(program_path), path.stat().st_mtime_ns)
    with _REFERENCED_LOCK:
        cached = _REFERENCED_PLANS.get(key)
    if cached is None:
        cached = plan_stack(name, stacks_dir=stacks_dir, program_path=program_path, _referenced_from=chain)
        with _REFERENCED_LOCK:
            _REFERENCED_PLANS[key] = cached
    return cached.outputs


def _raw_environment(config: Mapping[str, str]) -> Mapping[str, Any]:
    """The stack's ``mlenv:environment`` as parsed JSON, before validation (the program validates
    it): only for the hints below, empty when it is not a JSON object."""
    raw = config.get(f"{PROJECT}:environment")
    try:
        value = json.loads(raw) if raw is not None else None
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _references_from_environment(environment: Mapping[str, Any]) -> list[str]:
    """The platform stack an experiment's spec names (a guess, not a check)."""
    section = environment.get("experiment") if environment.get("kind") == "experiment" else None
    reference = section.get("platform_stack") if isinstance(section, dict) else None
    return [reference] if isinstance(reference, str) and reference else []


def _region_from_environment(environment: Mapping[str, Any]) -> str | None:
    region = environment.get("region")
    return region if isinstance(region, str) else None
