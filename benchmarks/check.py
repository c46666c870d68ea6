"""Benchmark of `mlenv check`: time beyond the plan, and the runner's per-resource cost next to two floors.

Measured in one run, on the same requests:

* ``mlenv check prod`` beyond the plan: the CLI process of `mlenv check prod` minus that of
  `mlenv plan prod --json` (both cold), and in-process: the runner (process start included) over
  the prod plan, next to planning it.
* A synthetic plan of N resources (default 2,000), built by replicating prod's resources under new
  URNs (parents, dependencies and providers remapped), checked by the runner with 1 pack process and
  with one per core, printed per resource next to:
  (a) the in-process floor: the pack's policies called directly, each resource's properties
      converted once (deserialized, unknown-checking proxy), stack policies once over them all;
  (b) the servicer floor: the pack's own ``_PolicyAnalyzerServicer`` called in-process with the same
      Analyze/AnalyzeStack requests (no process, no gRPC).
  Runner overhead = (runner - servicer) / runner: process start, gRPC, request building, mapping.

The benchmark imports the pack in-process for the floors; the runner never does.
Prints figures; asserts nothing. Run: `.venv/bin/python -m benchmarks.check [--resources N] [--pack DIR]`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf import json_format
from pulumi_policy import EnforcementLevel
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    _PolicyAnalyzerServicer,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from stacks.check.config import reconcile, to_proto
from stacks.check.requests import build_requests
from stacks.check.runner import PACK_DIR, RunTimings, auto_jobs, check_plan, pack_session
from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan, PlannedResource

TARGET_BEYOND_PLAN_S = 5.0
TARGET_OVERHEAD = 0.20


def load_pack_module(pack_dir: Path) -> ModuleType:
    """The pack's __main__.py as a module (its PolicyPack(...) is under ``if __name__ == "__main__"``)."""
    sys.path.insert(0, str(pack_dir))
    spec = importlib.util.spec_from_file_location("mlenv_benchmark_pack", pack_dir / "__main__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_plan(base: Plan, count: int) -> Plan:
    """``count`` resources: the stack once, then copies of every other prod resource under new URNs."""
    stack = [r for r in base.resources if r.type == "pulumi:pulumi:Stack"]
    others = [r for r in base.resources if r.type != "pulumi:pulumi:Stack"]
    resources: list[PlannedResource] = list(stack)
    replica = 0
    while len(resources) < count:
        by_urn = {o.urn: f"{o.urn}-r{replica}" for o in others}

        def remap(urn: str | None, by_urn: dict[str, str] = by_urn) -> str | None:
            if urn is None:
                return None
            head, sep, tail = urn.rpartition("::")
            if head in by_urn and sep:  # a provider reference: <urn>::<id>
                return f"{by_urn[head]}::{tail}"
            return by_urn.get(urn, urn)

        for resource in others:
            if len(resources) >= count:
                break
            resources.append(
                resource.model_copy(
                    update={
                        "urn": by_urn[resource.urn],
                        "parent": remap(resource.parent),
                        "provider": remap(resource.provider),
                        "dependencies": [remap(d) or d for d in resource.dependencies],
                        "property_dependencies": {
                            k: [remap(d) or d for d in v] for k, v in resource.property_dependencies.items()
                        },
                    }
                )
            )
        replica += 1
    return base.model_copy(update={"resources": resources})


def timed(function: Callable[[], Any], repeat: int = 1) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def cli_wall(args: Sequence[str]) -> float:
    mlenv = Path(sys.executable).with_name("mlenv")
    start = time.perf_counter()
    subprocess.run([str(mlenv), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def _ignore(message: str, urn: str | None = None) -> None:
    """A report_violation that keeps nothing: the floors measure work, not verdicts."""


def in_process_floor(module: ModuleType, plan: Plan, config: dict[str, Any]) -> float:
    """(a) the policies called directly; each resource's properties converted once."""
    policies = list(module.POLICIES)
    requests = build_requests(plan)
    start = time.perf_counter()
    converted = []
    for resource in requests.stack.resources:
        props = unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(resource.properties)))
        opts = PolicyResourceOptions(
            resource.options.protect,
            list(resource.options.ignoreChanges),
            None,
            [],
            PolicyCustomTimeouts(0, 0, 0),
            [],
            resource.parent,
        )
        converted.append((resource, props, opts))
    analyzed = {ref.urn for ref, _ in requests.analyze}
    for resource, props, opts in converted:
        if resource.urn not in analyzed:
            continue
        for policy in policies:
            if isinstance(policy, ResourceValidationPolicy) and policy.has_validation():
                args = ResourceValidationArgs(
                    resource.type,
                    props,
                    resource.urn,
                    resource.name,
                    opts,
                    None,
                    config.get(policy.name),
                    {},
                )
                # The floor measures the work, not the verdict; unknowns end a policy as in the pack.
                with contextlib.suppress(UnknownValueError, Exception):
                    policy.validate(args, _ignore)
    stack_resources = [
        PolicyResource(r.type, props, r.urn, r.name, opts, None, None, [], {}) for r, props, opts in converted
    ]
    for policy in policies:
        if isinstance(policy, StackValidationPolicy):
            with contextlib.suppress(UnknownValueError, Exception):
                policy.validate(StackValidationArgs(stack_resources, config.get(policy.name), {}), _ignore)
    return time.perf_counter() - start


def servicer_floor(module: ModuleType, plan: Plan, configure: Any, name: str) -> float:
    """(b) the pack's servicer in-process with the runner's requests."""
    servicer = _PolicyAnalyzerServicer(name, "0.0.1", list(module.POLICIES), EnforcementLevel.ADVISORY, None)
    servicer.Configure(configure, None)  # type: ignore[no-untyped-call]
    requests = build_requests(plan)
    start = time.perf_counter()
    for _, request in requests.analyze:
        servicer.Analyze(request, None)  # type: ignore[no-untyped-call]
    servicer.AnalyzeStack(requests.stack, None)  # type: ignore[no-untyped-call]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--pack", type=Path, default=PACK_DIR)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pack_dir: Path = args.pack.resolve()
    pack_args = [] if pack_dir == PACK_DIR else ["--pack", str(pack_dir)]

    # 1. mlenv check <stack> beyond the plan.
    plan_cli = statistics.median(cli_wall(["plan", args.stack, "--json"]) for _ in range(args.repeat))
    check_cli = statistics.median(cli_wall(["check", args.stack, *pack_args]) for _ in range(args.repeat))
    plan_stack(args.stack)  # warm
    base = plan_stack(args.stack)
    plan_s = timed(lambda: plan_stack(args.stack), args.repeat)
    timings = RunTimings()
    runner_s = timed(lambda: check_plan(base, pack_dir=pack_dir, timings=timings), args.repeat)
    print(f"mlenv check {args.stack} ({len(base.resources)} resources), pack {pack_dir}")
    print(
        f"  CLI processes (cold, median of {args.repeat}): check {check_cli:.2f} s, plan {plan_cli:.2f} s, "
        f"check beyond plan {check_cli - plan_cli:.2f} s (target <= {TARGET_BEYOND_PLAN_S:.0f} s)"
    )
    print(
        f"  in-process: plan {plan_s * 1000:.0f} ms; runner {runner_s * 1000:.0f} ms "
        f"(start {timings.start * 1000:.0f}, configure {timings.configure * 1000:.0f}, "
        f"Analyze {timings.analyze * 1000:.0f}, AnalyzeStack {timings.analyze_stack * 1000:.0f} ms)"
    )

    # 2. Synthetic plan: runner vs floors.
    big = synthetic_plan(base, args.resources)
    n = len(big.resources)
    module = load_pack_module(pack_dir)
    with pack_session(
        project=big.project, stack=big.stack, stack_config=big.config, pack_dir=pack_dir
    ) as session:
        info = session.info
        config = reconcile(info)
    configure = _configure_request(config)
    props_config = {name: dict(entry.properties) for name, entry in config.items() if entry.properties}
    floor_a = in_process_floor(module, big, props_config)
    floor_b = servicer_floor(module, big, configure, info.name)
    one = RunTimings()
    runner_one = timed(lambda: check_plan(big, pack_dir=pack_dir, jobs=1, timings=one))
    cores = os.cpu_count() or 1
    jobs = max(2, min(cores, auto_jobs(n)))
    many = RunTimings()
    runner_many = timed(lambda: check_plan(big, pack_dir=pack_dir, jobs=jobs, timings=many))
    same = (
        check_plan(big, pack_dir=pack_dir, jobs=1).findings
        == check_plan(big, pack_dir=pack_dir, jobs=jobs).findings
    )

    def per(seconds: float) -> str:
        return f"{seconds:7.2f} s = {seconds / n * 1000:6.2f} ms/resource"

    print(f"synthetic plan: {n} resources ({len(info.policies)} policies)")
    print(f"  (a) policies in-process, props converted once : {per(floor_a)}")
    print(f"  (b) pack servicer in-process (no process/gRPC): {per(floor_b)}")
    print(
        f"  runner, 1 pack process                        : {per(runner_one)} "
        f"(start {one.start:.2f} s, Analyze {one.analyze:.2f} s, AnalyzeStack {one.analyze_stack:.2f} s)"
    )
    print(
        f"  runner, {jobs} pack processes (sharded)          : {per(runner_many)} "
        f"(start {many.start:.2f} s, Analyze+Stack overlapped {many.analyze:.2f} s); "
        f"identical findings: {same}"
    )
    overhead = (runner_one - floor_b) / runner_one
    print(
        f"  ratios: runner/servicer {runner_one / floor_b:.2f}, servicer/in-process {floor_b / floor_a:.2f}, "
        f"runner overhead {overhead:.0%} of total (target <= {TARGET_OVERHEAD:.0%}); "
        f"sharding gain x{runner_one / runner_many:.2f} with {jobs} processes on {cores} cores"
    )


def _configure_request(config: Any) -> Any:
    from pulumi.runtime.proto import analyzer_pb2

    return analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=to_proto(config))


if __name__ == "__main__":
    main()
