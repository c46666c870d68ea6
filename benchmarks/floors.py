"""The floors a plan is compared with, and the Pulumi SDK's own cost, measured in one process.

* fair floor: as many real ``pulumi_aws`` resources as the plan has custom resources, grouped in
  as many components, each resource taking an id or ARN of the one before it (so it has
  dependencies) and one input built by ``Output.apply``, registered under plain mocks (no
  recording). This is what any Pulumi program of that size costs in this SDK.
* bare floor: the previous benchmark's floor, ``CustomResource`` with two inputs, no parents,
  dependencies or applies; kept to show why it said nothing (it is far below any real program).
* the SDK's ``wait_for_rpcs``: once the RPCs are done it waits on every pending Output with
  ``asyncio.wait(pending, FIRST_COMPLETED)``, re-registering a callback on each still-pending
  one at every wake-up. Counted here (wake-ups, and pending Outputs summed over them) by wrapping
  ``asyncio.wait`` as the SDK's stack module sees it, without changing what it does.

Run in the project being measured: ``python -m benchmarks.floors --stack prod`` prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime.mocks import MockMonitor

from stacks.offline.engine import plan_stack, run_isolated


class PlainMocks(pulumi.runtime.Mocks):
    """Inputs back as outputs, an id and an ARN: the least a mock can answer."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", {**args.inputs, "arn": f"arn:aws:bench:::{args.name}"}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def _policy(arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": arn}]})


def _chain(group: pulumi.ComponentResource, prefix: str, size: int) -> None:
    """``size`` real resources in ``group``, each fed by the one before it."""
    opts = pulumi.ResourceOptions(parent=group)
    tags = {"mlenv:stack": "floor", "mlenv:component": prefix}
    key = aws.kms.Key(f"{prefix}-key", description=prefix, tags=tags, opts=opts)
    previous_arn: pulumi.Output[str] = key.arn
    for i in range(1, size):
        name = f"{prefix}-{i}"
        kind = i % 4
        if kind == 0:
            bucket = aws.s3.Bucket(name, bucket=name, tags=tags, opts=opts)
            previous_arn = bucket.arn
        elif kind == 1:
            role = aws.iam.Role(name, assume_role_policy=previous_arn.apply(_policy), tags=tags, opts=opts)
            previous_arn = role.arn
        elif kind == 2:
            log_group = aws.cloudwatch.LogGroup(
                name,
                name=previous_arn.apply(lambda a: f"/bench/{a[-40:]}"),
                kms_key_id=key.arn,
                tags=tags,
                opts=opts,
            )
            previous_arn = log_group.arn
        else:
            group_ = aws.ec2.SecurityGroup(
                name, description=previous_arn.apply(lambda a: f"after {a[-40:]}"), tags=tags, opts=opts
            )
            previous_arn = group_.arn


def fair_program(resources: int, components: int) -> Callable[[], None]:
    def program() -> None:
        per = max(1, resources // max(1, components))
        left = resources
        index = 0
        while left > 0:
            size = min(per, left)
            group = pulumi.ComponentResource("bench:index:Group", f"group-{index}", None, None)
            _chain(group, f"g{index}", size)
            group.register_outputs({})
            left -= size
            index += 1

    return program


def bare_program(count: int) -> Callable[[], None]:
    def program() -> None:
        for i in range(count):
            pulumi.CustomResource("bench:index:Thing", f"thing-{i}", {"index": i, "tags": {"a": "b"}})

    return program


def run_floor(program: Callable[[], None]) -> float:
    monitor = MockMonitor(PlainMocks())
    start = time.process_time()
    failure = run_isolated(
        program, monitor=monitor, config={}, secret_keys=[], project="bench", stack="floor"
    )
    elapsed = time.process_time() - start
    if failure is not None:
        raise failure
    return elapsed


class WaitCounter:
    """Counts the SDK's ``asyncio.wait`` wake-ups in wait_for_rpcs and the Outputs each re-arms."""

    def __init__(self) -> None:
        self.calls = 0
        self.pending_total = 0
        self._original = asyncio.wait

    async def wait(self, tasks: Iterable[Any], **kwargs: Any) -> Any:
        pending = list(tasks)
        self.calls += 1
        self.pending_total += len(pending)
        return await self._original(pending, **kwargs)

    def __enter__(self) -> WaitCounter:
        # The SDK's stack module calls asyncio.wait through the asyncio module: count it there.
        setattr(asyncio, "wait", self.wait)  # noqa: B010
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(asyncio, "wait", self._original)  # noqa: B010


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--waits-only", action="store_true", help="only count wait_for_rpcs wake-ups")
    args = parser.parse_args()

    plan = plan_stack(args.stack)  # imports and caches warm
    result: dict[str, Any] = {
        "stack": args.stack,
        "resources": len(plan.resources),
        "provider_modules": provider_modules(),
    }
    if not args.waits_only:
        custom = sum(1 for r in plan.resources if r.custom)
        components = sum(1 for r in plan.resources if not r.custom and r.type != "pulumi:pulumi:Stack")
        gc.collect()
        result["program_s"] = statistics.median(
            _timed(lambda: plan_stack(args.stack)) for _ in range(args.repeat)
        )
        result["fair_floor_s"] = statistics.median(
            run_floor(fair_program(custom, components)) for _ in range(args.repeat)
        )
        result["bare_floor_s"] = statistics.median(
            run_floor(bare_program(len(plan.resources))) for _ in range(args.repeat)
        )
        result.update(custom=custom, components=components)
    with WaitCounter() as counter:
        plan_stack(args.stack)
    result.update(wait_calls=counter.calls, wait_pending_total=counter.pending_total)
    print(json.dumps(result))


def provider_modules() -> list[str]:
    """The provider SDK packages the program really loaded (``pulumi_aws.ec2`` ...): modules with a
    file, not the lazy placeholders ``pulumi_aws/__init__.py`` installs for every service."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith(("pulumi_aws.", "pulumi_kubernetes."))
        # importlib's LazyLoader leaves a placeholder of another class until first attribute use
        and type(module) is types.ModuleType
        and str(getattr(module, "__file__", None) or "").endswith("__init__.py")
    )


def _timed(function: Callable[[], object]) -> float:
    start = time.process_time()
    function()
    return time.process_time() - start


if __name__ == "__main__":
    main()
