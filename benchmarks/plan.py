"""Benchmark of `mlenv plan`: cold CLI processes at 150/500/1,000/2,000 resources, and the program
against a fair floor, all measured in one run. Prints figures; asserts nothing.

Timing on a shared machine is noisy (other engineers run tests on the same cores), so the figures
that decide are ratios to something measured in the same run: the fair floor, and the cost per
resource at one size against another. Wall seconds are printed for the record.

* cold CLI: ``mlenv plan STACK --json`` in a fresh interpreter (imports, program, JSON, exit), over
  the stacks of ``benchmarks/scaled.py`` (prod, then prod plus GPU pools and models); median of
  ``--repeat`` runs, peak RSS from wait4. ms/resource is wall / resources; the marginal
  ms/resource between two sizes, (wall(b) - wall(a)) / (b - a), leaves out the fixed start-up
  and is what linearity is judged on (1,000->2,000 against 150->500, target <= 1.2).
* floors (``benchmarks/floors.py``, in one warm process): the prod program against the fair floor
  (the same number of real pulumi_aws resources in components, with dependencies and applies,
  under plain mocks) and the old bare floor.
* the SDK's ``wait_for_rpcs``: wake-ups and pending Outputs re-armed, at two sizes.

Run: `make bench`, or `.venv/bin/python -m benchmarks.plan [--source DIR] [--repeat N]`; ``--source``
measures another checkout with these same scripts (before/after).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.scaled import REPO_ROOT, SizedStack, copy_project, run_cli, sized_stacks

SIZES = (150, 500, 1000, 2000)
TARGET_COLD_PROD_S = 2.0
TARGET_LINEARITY = 1.2


def prepare(source: Path, scratch: Path) -> Path:
    """A scratch copy of ``source``'s project with these benchmark scripts beside it."""
    project = copy_project(source, scratch)
    shutil.copytree(
        REPO_ROOT / "benchmarks", project / "benchmarks", ignore=shutil.ignore_patterns("__pycache__")
    )
    return project


def measure_cold(
    project: Path, stacks: list[SizedStack], args: list[str], repeat: int
) -> list[dict[str, Any]]:
    """Median wall and largest peak RSS of ``repeat`` cold runs of ``mlenv <args> STACK`` per size."""
    rows: list[dict[str, Any]] = []
    for stack in stacks:
        run_cli(project, [args[0], stack.name, *args[1:]])  # bytecode written, page cache warm
        runs = [run_cli(project, [args[0], stack.name, *args[1:]]) for _ in range(repeat)]
        codes = {r.returncode for r in runs}
        rows.append(
            {
                "stack": stack.name,
                "resources": stack.resources,
                "wall_s": statistics.median(r.wall_s for r in runs),
                "cpu_s": statistics.median(r.cpu_s for r in runs),
                "rss_mib": max(r.peak_rss_mib for r in runs),
                "exit": sorted(codes),
            }
        )
    return rows


def print_scaling(title: str, rows: list[dict[str, Any]]) -> None:
    print(title)
    print(
        "  resources  wall s   CPU s  peak RSS MiB  CPU ms/res  marginal CPU ms/res  marginal KiB/res  exit"
    )
    previous: dict[str, Any] | None = None
    for row in rows:
        n, wall, cpu, rss = row["resources"], row["wall_s"], row["cpu_s"], row["rss_mib"]
        marginal = mem = "-"
        if previous is not None and n > previous["resources"]:
            step = n - previous["resources"]
            marginal = f"{(cpu - previous['cpu_s']) / step * 1000:.2f}"
            mem = f"{(rss - previous['rss_mib']) * 1024 / step:.0f}"
        exits = ",".join(str(c) for c in row["exit"])
        print(
            f"  {n:9d} {wall:7.2f} {cpu:7.2f} {rss:13.0f} {cpu / n * 1000:11.2f} {marginal:>20} "
            f"{mem:>17}  {exits}"
        )
        previous = row
    if len(rows) >= 4:
        first = (rows[1]["cpu_s"] - rows[0]["cpu_s"]) / (rows[1]["resources"] - rows[0]["resources"])
        last = (rows[-1]["cpu_s"] - rows[-2]["cpu_s"]) / (rows[-1]["resources"] - rows[-2]["resources"])
        print(
            f"  linearity: marginal CPU ms/resource {rows[-2]['resources']}->{rows[-1]['resources']} over "
            f"{rows[0]['resources']}->{rows[1]['resources']} = {last / first:.2f} "
            f"(target <= {TARGET_LINEARITY}); "
            f"memory {rows[-1]['rss_mib'] * 1024 / rows[-1]['resources']:.0f} KiB per resource at "
            f"{rows[-1]['resources']} (peak RSS / resources)"
        )


def floors(project: Path, stack: str, repeat: int, waits_only: bool = False) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.floors", "--stack", stack, "--repeat", str(repeat)]
    if waits_only:
        command.append("--waits-only")
    output = subprocess.run(
        command,
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_parser(
    description: str | None, *, sizes: Sequence[int] = SIZES, source: bool = True
) -> argparse.ArgumentParser:
    """The options every benchmark takes: ``--repeat`` (cold runs per size, median), ``--sizes``
    and, unless the script names its checkouts itself, ``--source`` (the checkout to measure)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if source:
        parser.add_argument(
            "--source", type=Path, default=REPO_ROOT, help="checkout to measure (default: this one)"
        )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(sizes))
    return parser


def sdk_import_floor(project: Path, modules: list[str], repeat: int) -> float:
    """CPU seconds of a cold interpreter that only imports pulumi and the given provider packages:
    what any program using them pays before registering a resource (median of ``repeat``)."""
    code = "import importlib, sys, pulumi, pulumi.runtime\nfor m in sys.argv[1:]: importlib.import_module(m)"
    times = []
    for _ in range(repeat):
        process = subprocess.Popen([sys.executable, "-c", code, *modules], cwd=project)
        _, _, usage = os.wait4(process.pid, 0)
        times.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(times)


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    source: Path = args.source.resolve()

    with tempfile.TemporaryDirectory(prefix="mlenv-bench-plan-") as scratch:
        project = prepare(source, Path(scratch))
        stacks = sized_stacks(project, args.sizes)
        print(f"source: {source}; median of {args.repeat} cold runs per size; ratios are within this run")
        rows = measure_cold(project, stacks, ["plan", "--json"], args.repeat)
        print_scaling("mlenv plan STACK --json (cold CLI process)", rows)
        prod = next((r for r in rows if r["stack"] == "prod"), None)
        if prod is not None:
            print(
                f"  mlenv plan prod cold: {prod['cpu_s']:.2f} s CPU, {prod['wall_s']:.2f} s wall "
                f"(target <= {TARGET_COLD_PROD_S:.0f} s on an idle machine; wall includes waiting for "
                "the cores)"
            )

        f = floors(project, "prod", args.repeat)
        print(
            f"floors, in one warm process, median of {args.repeat}, prod ({f['resources']} resources: "
            f"{f['custom']} custom in {f['components']} components):"
        )
        print(f"  program (offline plan of prod)     : {f['program_s'] * 1000:7.0f} ms")
        print(
            f"  fair floor (real pulumi_aws, deps, applies, plain mocks): {f['fair_floor_s'] * 1000:7.0f} ms"
            f"  -> program/fair floor = {f['program_s'] / f['fair_floor_s']:.2f}"
        )
        print(
            "  bare floor (old: 2-input CustomResources, no parents/deps): "
            f"{f['bare_floor_s'] * 1000:7.0f} ms"
            f"  -> program/bare floor = {f['program_s'] / f['bare_floor_s']:.2f} (says little: nothing real)"
        )
        imports = sdk_import_floor(project, f["provider_modules"], args.repeat)
        if prod is not None:
            floor = imports + f["fair_floor_s"]
            print(
                f"cold floor of a Pulumi program of prod's size: interpreter + pulumi + the "
                f"{len(f['provider_modules'])} provider packages prod loads {imports:.2f} s CPU (cold "
                f"process) + fair floor {f['fair_floor_s']:.2f} s = {floor:.2f} s; mlenv plan prod "
                f"{prod['cpu_s']:.2f} s = floor x {prod['cpu_s'] / floor:.2f} "
                f"(mlenv's own: {prod['cpu_s'] - floor:+.2f} s)"
            )
        print("Pulumi SDK wait_for_rpcs (asyncio.wait over every pending Output per wake-up):")
        for stack in sorted(
            {stacks[1], stacks[-1]} if len(stacks) > 1 else set(stacks), key=lambda s: s.resources
        ):
            w = floors(project, stack.name, 1, waits_only=True)
            average = w["wait_pending_total"] / max(1, w["wait_calls"])
            print(
                f"  {w['resources']:5d} resources: {w['wait_calls']:6d} wake-ups re-arming "
                f"{w['wait_pending_total']:9d} pending Outputs in total ({average:.0f} per wake-up)"
            )


if __name__ == "__main__":
    main()
