"""Stacks of a chosen size, and cold `mlenv` processes over them, for the plan and check benchmarks.

A plan of N resources is the prod stack plus ``extra`` serving units: each unit is one more GPU
pool (a copy of prod's ``serving`` pool) and ``MODELS_PER_POOL`` served models on it. That grows the program
the way a platform grows (pools and models, with their NodePools, node classes, Deployments,
Services, HPAs, PDBs and network policies), so the cost per resource at 2,000 says something
about real stacks rather than about copies of one resource.

The stack files are written into a scratch copy of the project (Pulumi.yaml, stacks/, components/,
images/, policies/), and the CLI runs there from a fresh interpreter with that copy first on
``sys.path``: exactly the code of the checkout being measured, and nothing is written into it.
The same scripts measure another checkout (``--source DIR``, e.g. a worktree of main before a
change), which is how before/after figures come from one benchmark.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_PARTS = ("Pulumi.yaml", "stacks", "components", "images", "policies")
BASE_STACK = "prod"
UNIT_POOL = "serving"
"""The prod pool each extra unit copies."""

# Runs the CLI's own entry point (what the `mlenv` console script calls) from the scratch copy.
_CLI = "import sys; sys.argv[0] = 'mlenv'; from stacks.cli.app import main; sys.exit(main())"


@dataclass(frozen=True)
class ProcessRun:
    """One cold process: wall and CPU (user + system) seconds and peak RSS (MiB), each of it and of
    the children it waited for. CPU seconds barely move when other work shares the cores; wall
    seconds do."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    returncode: int
    stdout: bytes


def copy_project(source: Path, scratch: Path) -> Path:
    """The parts of a checkout a stack needs, copied under ``scratch`` and compiled to bytecode anew
    (the checkout's own caches are left out: they may be stale or missing)."""
    target = scratch / "project"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")
    for part in PROJECT_PARTS:
        path = source / part
        if path.is_dir():
            shutil.copytree(path, target / part, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, target / part)
    # Bytecode, as `pip install` writes it for an installed mlenv (and Python on a first run where
    # PYTHONDONTWRITEBYTECODE is unset): a cold CLI is a new process, not a first-ever compile.
    compileall.compile_dir(target, quiet=1, workers=1)
    # The pack's PulumiPolicy.yaml names ../.venv as its virtualenv (the interpreter the Pulumi CLI
    # and `mlenv check` start it with): the one running this benchmark.
    (target / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return target


def base_environment(project: Path) -> tuple[str, dict[str, Any]]:
    """The prod stack's region and ``mlenv:environment`` document."""
    document = yaml.safe_load((project / "stacks" / f"Pulumi.{BASE_STACK}.yaml").read_text(encoding="utf-8"))
    config = document["config"]
    return str(config["aws:region"]), dict(config["mlenv:environment"])


MODELS_PER_POOL = 8
"""Models each extra pool serves. A unit of one pool and eight models adds ~40 resources for ~2 KB
of config: the whole stack config travels in one environment variable, which Linux caps at
128 KiB (stacks/offline/config_env.py), so a stack of one pool per model stops being deployable
near 1,600 resources while this shape reaches 2,000 as real platforms do (few pools, many models)."""


def scaled_environment(base: Mapping[str, Any], extra: int) -> dict[str, Any]:
    """``base`` plus ``extra`` units, each a GPU pool and ``MODELS_PER_POOL`` models served from it.

    Models name only what differs from the spec's defaults (1 GPU, 1-2 replicas, port 8000), as a
    user's stack file would; each pool has room for its models' maximum replicas."""
    environment: dict[str, Any] = json.loads(json.dumps(base))
    pools: list[dict[str, Any]] = environment["gpu_pools"]
    template = next(p for p in pools if p["name"] == UNIT_POOL)
    models: list[dict[str, Any]] = environment["serving"]["models"]
    container = models[0]["container"]
    for i in range(extra):
        name = f"{UNIT_POOL}-{i:04d}"
        pools.append({**template, "name": name, "min_size": 1, "max_size": 2 * MODELS_PER_POOL})
        models.extend(
            {"name": f"m-{i:04d}-{j}", "container": container, "pool": name, "model_path": f"b/{i}/{j}"}
            for j in range(MODELS_PER_POOL)
        )
    return environment


def write_stack(project: Path, name: str, region: str, environment: Mapping[str, Any]) -> str:
    """``stacks/Pulumi.<name>.yaml`` in the scratch project; returns the stack name."""
    document = {"config": {"aws:region": region, "mlenv:environment": {**environment, "name": name}}}
    path = project / "stacks" / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return name


def run_cli(project: Path, args: Sequence[str], *, capture: bool = False) -> ProcessRun:
    """A cold `mlenv ARGS` process over the scratch project; peak RSS from wait4 (Linux counts the
    largest descendant it reaped, so a check's pack process is included)."""
    env = {**os.environ, "PYTHONPATH": str(project)}
    env.pop("MLENV_DEBUG", None)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", _CLI, *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stdout = b""
    if capture:
        assert process.stdout is not None
        stdout = process.stdout.read()
        process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return ProcessRun(
        wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode, stdout
    )


def plan_size(project: Path, stack: str) -> int:
    """How many resources the stack's offline plan registers (from `mlenv plan --json`)."""
    run = run_cli(project, ["plan", stack, "--json"], capture=True)
    if run.returncode != 0:
        raise SystemExit(f"mlenv plan {stack} failed in {project} (exit {run.returncode})")
    return len(json.loads(run.stdout)["resources"])


@dataclass(frozen=True)
class SizedStack:
    name: str
    resources: int


def sized_stacks(project: Path, targets: Sequence[int]) -> list[SizedStack]:
    """A stack per target size (the nearest reachable in whole units; the first target may be prod)."""
    region, base = base_environment(project)
    base_count = plan_size(project, BASE_STACK)
    probe = write_stack(project, "bench-probe", region, scaled_environment(base, 4))
    per_unit = (plan_size(project, probe) - base_count) / 4
    stacks: list[SizedStack] = []
    for target in targets:
        extra = max(0, round((target - base_count) / per_unit))
        if extra == 0:
            stacks.append(SizedStack(BASE_STACK, base_count))
            continue
        name = write_stack(project, f"bench-{target}", region, scaled_environment(base, extra))
        stacks.append(SizedStack(name, base_count + round(extra * per_unit)))
    return stacks
