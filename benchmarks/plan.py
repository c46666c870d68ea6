"""Benchmark of `mlenv plan`: wall time and peak RSS of `mlenv plan prod`, and the offline run of the
program against the SDK floor (a bare program registering as many trivial resources under plain
mocks, measured in the same run). Prints figures; asserts nothing.

Run: `make bench` or `.venv/bin/python -m benchmarks.plan [--repeat N]`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

from stacks.offline.engine import plan_stack, run_isolated

TARGET_WALL_S = 5.0
TARGET_RATIO = 1.3


class _PlainMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def _floor_program(count: int) -> Callable[[], None]:
    def program() -> None:
        for i in range(count):
            pulumi.CustomResource("bench:index:Thing", f"thing-{i}", {"index": i, "tags": {"a": "b"}})

    return program


def run_floor(count: int) -> float:
    """Seconds for a bare program registering ``count`` trivial resources under plain mocks."""
    monitor = MockMonitor(_PlainMocks())
    start = time.perf_counter()
    failure = run_isolated(
        _floor_program(count), monitor=monitor, config={}, secret_keys=[], project="bench", stack="floor"
    )
    elapsed = time.perf_counter() - start
    if failure is not None:
        raise failure
    return elapsed


def time_plan(stack: str) -> tuple[float, int]:
    start = time.perf_counter()
    plan = plan_stack(stack)
    return time.perf_counter() - start, len(plan.resources)


def cli_wall_and_rss(stack: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of the real `mlenv plan STACK --json` process."""
    mlenv = Path(sys.executable).with_name("mlenv")
    start = time.perf_counter()
    subprocess.run([str(mlenv), "plan", stack, "--json"], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    wall, rss = cli_wall_and_rss(args.stack)
    time_plan(args.stack)  # warm imports
    program_runs = [time_plan(args.stack) for _ in range(args.repeat)]
    count = program_runs[0][1]
    floor_runs = [run_floor(count) for _ in range(args.repeat)]
    program = statistics.median(t for t, _ in program_runs)
    floor = statistics.median(floor_runs)
    ratio = program / floor

    print(
        f"mlenv plan {args.stack} (CLI process, cold): {wall:.2f} s wall, {rss:.0f} MiB peak RSS "
        f"(target <= {TARGET_WALL_S:.0f} s)"
    )
    print(f"offline program run ({count} resources, median of {args.repeat}): {program * 1000:.0f} ms")
    print(
        f"SDK floor ({count} trivial resources under plain mocks, median of {args.repeat}): "
        f"{floor * 1000:.0f} ms"
    )
    print(f"ratio program/floor: {ratio:.2f} (target <= {TARGET_RATIO})")


if __name__ == "__main__":
    main()
