"""Drive the policy pack over a Plan through the real analyzer gRPC protocol.

``check_plan(plan)`` starts the pack as the Pulumi CLI does (``stacks.check.pack_process``), calls
GetAnalyzerInfo, GetPluginInfo and Configure (defaults, the pack's initial config, the user's
file; ``stacks.check.config``), Remediate where a policy is configured to remediate, Analyze for
every resource and AnalyzeStack once (``stacks.check.requests``), and maps the answers to
findings (``stacks.check.findings``). The pack is never imported here: it runs in its own process.

Large plans can be sharded: ``jobs`` pack processes share the Analyze calls (a work queue, so a
slow resource does not hold up a shard) while the first of them also runs the one AnalyzeStack.
Policies are stateless, responses are kept by request index, so the findings are the same, in
the same order, for any number of jobs.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pulumi.runtime.proto import analyzer_pb2

from stacks.check.config import PolicyConfigEntry, reconcile, to_proto
from stacks.check.errors import PolicyRunError
from stacks.check.findings import (
    ENFORCEMENT_LEVELS,
    SEVERITIES,
    CheckReport,
    Finding,
    PolicyMeta,
    Status,
    response_to_findings,
)
from stacks.check.pack_process import CALL_TIMEOUT_S, START_TIMEOUT_S, EngineServer, PackProcess
from stacks.check.requests import AnalyzerRequests, build_requests
from stacks.offline.plan import Plan

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
"""The mlenv policy pack: this directory (PulumiPolicy.yaml, __main__.py)."""
MAX_JOBS = 8
RESOURCES_PER_JOB = 400
"""Below this many resources per extra process, another pack process costs more than it saves."""

POLICY_KINDS = {
    analyzer_pb2.POLICY_TYPE_RESOURCE: "resource",
    analyzer_pb2.POLICY_TYPE_STACK: "stack",
}


def auto_jobs(resource_count: int, cpus: int | None = None) -> int:
    """How many pack processes to use for a plan: one per core, capped, and only for big plans."""
    cores = cpus or os.cpu_count() or 1
    wanted = 1 + resource_count // RESOURCES_PER_JOB
    return max(1, min(cores, MAX_JOBS, wanted))


@dataclass
class RunTimings:
    """Where a run spent its time (seconds), for the benchmark."""

    start: float = 0.0
    configure: float = 0.0
    analyze: float = 0.0
    analyze_stack: float = 0.0
    total: float = 0.0
    jobs: int = 1


@dataclass
class PackSession:
    """Running pack processes for one plan's project/stack, configured and ready for requests.

    Reuse one session for many plans of the same stack (the mutation tests do), instead of
    starting a process per plan.
    """

    processes: Sequence[PackProcess]
    info: analyzer_pb2.AnalyzerInfo
    pack_version: str
    policies: tuple[PolicyMeta, ...]
    config: Mapping[str, PolicyConfigEntry]
    timings: RunTimings = field(default_factory=RunTimings)
    _start_more: Callable[[int], list[PackProcess]] | None = field(default=None, repr=False)

    def grow(self, jobs: int) -> None:
        """Have ``jobs`` processes: start and configure the missing ones (stopped with the session)."""
        if self._start_more is None or jobs <= len(self.processes):
            return
        self.processes = [*self.processes, *self._start_more(jobs - len(self.processes))]
        self.timings.jobs = len(self.processes)

    @property
    def remediates(self) -> bool:
        return any(p.enforcement == "remediate" for p in self.policies)

    def check(self, plan: Plan, *, stack_file: str | None = None) -> CheckReport:
        """Run the pack over a plan and return its report."""
        started = time.perf_counter()
        requests = build_requests(plan)
        if self.remediates:
            requests = self._remediate(requests)
        by_name = {p.name: p for p in self.policies}
        responses, stack_response = self._analyze_all(requests)
        findings: list[Finding] = []
        for (resource, _), response in zip(requests.analyze, responses, strict=True):
            findings += response_to_findings(
                response, stage="resource", resource=resource, resources=requests.resources, policies=by_name
            )
        findings += response_to_findings(
            stack_response, stage="stack", resource=None, resources=requests.resources, policies=by_name
        )
        self.timings.total = time.perf_counter() - started
        return CheckReport(
            project=plan.project,
            stack=plan.stack,
            pack=self.info.name,
            pack_version=self.pack_version,
            policies=self.policies,
            findings=tuple(findings),
            # As `mlenv plan` counts: the resources the program registers, the Stack excluded.
            resources_analyzed=sum(1 for ref, _ in requests.analyze if ref.type != "pulumi:pulumi:Stack"),
            stack_file=stack_file,
        )

    def _remediate(self, requests: AnalyzerRequests) -> AnalyzerRequests:
        """The engine's first pass: remediations rewrite a resource's properties before Analyze."""
        pack = self.processes[0]
        rewritten: list[tuple[object, analyzer_pb2.AnalyzeRequest]] = []
        changed: dict[str, analyzer_pb2.AnalyzeRequest] = {}
        for resource, request in requests.analyze:
            response = pack.remediate(request)
            new = request
            for remediation in response.remediations:
                if remediation.HasField("properties"):
                    new = analyzer_pb2.AnalyzeRequest()
                    new.CopyFrom(request)
                    new.properties.CopyFrom(remediation.properties)
                    changed[request.urn] = new
            rewritten.append((resource, new))
        stack = analyzer_pb2.AnalyzeStackRequest()
        stack.CopyFrom(requests.stack)
        for item in stack.resources:
            if item.urn in changed:
                item.properties.CopyFrom(changed[item.urn].properties)
        return AnalyzerRequests(
            analyze=tuple(rewritten),  # type: ignore[arg-type]
            stack=stack,
            resources=requests.resources,
        )

    def _analyze_all(
        self, requests: AnalyzerRequests
    ) -> tuple[list[analyzer_pb2.AnalyzeResponse], analyzer_pb2.AnalyzeResponse]:
        count = len(requests.analyze)
        responses: list[analyzer_pb2.AnalyzeResponse | None] = [None] * count
        next_index = iter(range(count))
        lock = threading.Lock()
        stack_response: list[analyzer_pb2.AnalyzeResponse] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def take() -> int | None:
            with lock:
                return next(next_index, None)

        def work(pack: PackProcess, with_stack: bool) -> None:
            try:
                if with_stack and len(self.processes) > 1:
                    # Sharded: the first process runs the (longest) stack analysis first.
                    start = time.perf_counter()
                    stack_response.append(pack.analyze_stack(requests.stack))
                    self.timings.analyze_stack = time.perf_counter() - start
                while not stop.is_set():
                    index = take()
                    if index is None:
                        break
                    responses[index] = pack.analyze(requests.analyze[index][1])
            except BaseException as exc:
                failures.append(exc)
                stop.set()

        start = time.perf_counter()
        if len(self.processes) == 1:
            work(self.processes[0], with_stack=False)
            self.timings.analyze = time.perf_counter() - start
            if not failures:
                stack_start = time.perf_counter()
                try:
                    stack_response.append(self.processes[0].analyze_stack(requests.stack))
                except BaseException as exc:
                    failures.append(exc)
                self.timings.analyze_stack = time.perf_counter() - stack_start
        else:
            threads = [
                threading.Thread(target=work, args=(pack, i == 0), name=f"policy-shard-{i}")
                for i, pack in enumerate(self.processes)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.timings.analyze = time.perf_counter() - start
        if failures:
            raise failures[0]
        return [r for r in responses if r is not None], stack_response[0]


def _pack_version(pack_dir: Path, reported: str) -> str:
    """The CLI prefers PulumiPolicy.yaml's version over the one the pack reports."""
    with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
        document = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
        version = document.get("version")
        if version:
            return str(version)
    return reported


def policy_metadata(
    info: analyzer_pb2.AnalyzerInfo, config: Mapping[str, PolicyConfigEntry]
) -> tuple[PolicyMeta, ...]:
    """Each policy of the pack with its effective enforcement level and config, in pack order."""
    metas: list[PolicyMeta] = []
    for policy in info.policies:
        entry = config.get(policy.name, PolicyConfigEntry())
        metas.append(
            PolicyMeta(
                name=policy.name,
                description=policy.description,
                enforcement=entry.enforcement or ENFORCEMENT_LEVELS.get(policy.enforcementLevel, "advisory"),
                kind=POLICY_KINDS.get(policy.policy_type, "unknown"),  # type: ignore[arg-type]
                severity=SEVERITIES.get(policy.severity),
                remediation_steps=policy.remediation_steps,
                url=policy.url,
                config=dict(entry.properties),
            )
        )
    return tuple(metas)


@contextlib.contextmanager
def pack_session(
    *,
    project: str,
    stack: str,
    stack_config: Mapping[str, str],
    pack_dir: Path = PACK_DIR,
    policy_config: Mapping[str, PolicyConfigEntry] | None = None,
    jobs: int = 1,
    start_timeout: float = START_TIMEOUT_S,
    call_timeout: float = CALL_TIMEOUT_S,
) -> Iterator[PackSession]:
    """Start ``jobs`` pack processes for a stack, configure them, and stop them on exit."""
    timings = RunTimings(jobs=jobs)
    started = time.perf_counter()
    with EngineServer() as engine, contextlib.ExitStack() as stack_of_processes:

        def make() -> PackProcess:
            return PackProcess(
                pack_dir,
                project=project,
                stack=stack,
                config=stack_config,
                engine_address=engine.address,
                start_timeout=start_timeout,
                call_timeout=call_timeout,
            )

        processes = _start_processes(jobs, make, stack_of_processes)
        timings.start = time.perf_counter() - started
        configured = time.perf_counter()
        first = processes[0]
        info = first.analyzer_info()
        first.plugin_info()
        if not info.policies:
            raise PolicyRunError(f"policy pack {pack_dir} ({info.name}) has no policies")
        config = reconcile(info, policy_config)
        request = to_proto(config)
        for process in processes:
            process.configure(request)
        timings.configure = time.perf_counter() - configured

        def start_more(count: int) -> list[PackProcess]:
            more = _start_processes(count, make, stack_of_processes)
            for process in more:
                process.configure(request)
            return more

        yield PackSession(
            processes=processes,
            info=info,
            pack_version=_pack_version(pack_dir, info.version),
            policies=policy_metadata(info, config),
            config=config,
            timings=timings,
            _start_more=start_more,
        )


def _start_processes(
    jobs: int, make: Callable[[], PackProcess], exit_stack: contextlib.ExitStack
) -> list[PackProcess]:
    """Start processes in parallel; every one that started is stopped by ``exit_stack``."""
    packs = [make() for _ in range(max(1, jobs))]
    for pack in packs:
        exit_stack.callback(pack.stop)
    if len(packs) == 1:
        packs[0].start()
        return packs
    with ThreadPoolExecutor(max_workers=len(packs)) as pool:
        outcomes = list(pool.map(_try_start, packs))
    errors = [e for e in outcomes if e is not None]
    if errors:
        raise errors[0]
    return packs


def _try_start(pack: PackProcess) -> BaseException | None:
    try:
        pack.start()
    except BaseException as exc:
        return exc
    return None


def check_plan(
    plan: Plan,
    *,
    pack_dir: Path = PACK_DIR,
    policy_config: Mapping[str, PolicyConfigEntry] | None = None,
    jobs: int | None = None,
    stack_file: str | None = None,
    start_timeout: float = START_TIMEOUT_S,
    call_timeout: float = CALL_TIMEOUT_S,
    timings: RunTimings | None = None,
) -> CheckReport:
    """Run the policy pack over one plan in fresh pack processes; ``jobs=None`` picks a count."""
    count = jobs if jobs is not None else auto_jobs(len(plan.resources))
    with pack_session(
        project=plan.project,
        stack=plan.stack,
        stack_config=plan.config,
        pack_dir=pack_dir,
        policy_config=policy_config,
        jobs=count,
        start_timeout=start_timeout,
        call_timeout=call_timeout,
    ) as session:
        report = session.check(plan, stack_file=stack_file)
        if timings is not None:
            for name, value in vars(session.timings).items():
                setattr(timings, name, value)
        return report


def plan_and_check(
    make_plan: Callable[[], Plan],
    *,
    project: str,
    stack: str,
    stack_config: Mapping[str, str],
    pack_dir: Path = PACK_DIR,
    policy_config: Mapping[str, PolicyConfigEntry] | None = None,
    jobs: int | None = None,
    stack_file: str | None = None,
    on_planned: Callable[[Plan], None] | None = None,
) -> tuple[Plan, CheckReport]:
    """Plan a stack and check the plan, starting the pack while the program runs.

    The pack's start-up (a new interpreter importing pulumi and the pack, its gRPC server,
    Handshake, ConfigureStack) needs the stack's config, not its plan, so it runs on another core
    while the program plans (``benchmarks/check.py`` measures the wall time it saves). One process
    starts first; once the plan's size is known, ``auto_jobs`` more join. A bad stack is the error
    reported even when the pack also failed to start: the stack is what the user must fix first.
    """
    planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlenv-plan")
    try:
        planned = planner.submit(make_plan)
        with contextlib.ExitStack() as session_scope:
            try:
                session = session_scope.enter_context(
                    pack_session(
                        project=project,
                        stack=stack,
                        stack_config=stack_config,
                        pack_dir=pack_dir,
                        policy_config=policy_config,
                        jobs=1,
                    )
                )
            except Exception:
                planned.result()
                raise
            plan = planned.result()
            if on_planned is not None:
                on_planned(plan)
            session.grow(jobs if jobs is not None else auto_jobs(len(plan.resources)))
            report = session.check(plan, stack_file=stack_file)
    finally:
        # Interrupted (Ctrl-C, SIGTERM as SystemExit): stop the pack now, not after the program.
        planner.shutdown(wait=False, cancel_futures=True)
    return plan, report


__all__ = [
    "PACK_DIR",
    "CheckReport",
    "Finding",
    "PackSession",
    "PolicyConfigEntry",
    "RunTimings",
    "Status",
    "auto_jobs",
    "check_plan",
    "pack_session",
    "plan_and_check",
]
