"""Benchmark of `mlenv check` against its peer, Checkov, at 150/500/1,000/2,000 resources, in one run.
Prints figures; asserts nothing.

* mlenv: ``mlenv check STACK`` as a cold CLI process (imports, the offline plan, the pack process
  started as the Pulumi CLI starts it, every Analyze and the AnalyzeStack over gRPC, the report),
  over the stacks of ``benchmarks/scaled.py``; median of ``--repeat`` runs. CPU seconds are those
  of the CLI and of the pack processes it waited for (wait4), wall seconds are printed beside them.
* the pack's servicer in-process at the largest size (``benchmarks/pack_floors.py``):
  pulumi-policy's own against the pack's once-per-request conversion, CPU seconds.
* Checkov (the tool reviewers of Terraform pull requests run): installed by this benchmark into
  its own virtualenv (``~/.cache/mlenv-bench/checkov-3``, from PyPI, ``CHECKOV_SPEC``), run cold
  as ``checkov -d DIR --framework terraform_plan kubernetes --skip-download -o json`` over the
  same resources: a Terraform plan JSON and the Kubernetes manifests written from the stack's
  offline plan by ``benchmarks/terraform_plan.py`` (how: see there). Checkov gets the plan for
  free; mlenv's figure includes making it.

The verdict is the ratio mlenv/Checkov at each size (CPU, and wall), both measured in this run on
the same cores: <= 1.0 at prod's size and <= 0.5 at 2,000 is the target. Run: `make bench`, or
`.venv/bin/python -m benchmarks.check [--source DIR] [--repeat N] [--sizes ...]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.plan import bench_parser, measure_cold, prepare, print_scaling
from benchmarks.scaled import ProcessRun, run_cli, sized_stacks
from benchmarks.terraform_plan import write_peer_inputs

CHECKOV_SPEC = "checkov>=3.2,<4"
CHECKOV_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlenv-bench" / "checkov-3"
TARGET_RATIO_PROD = 1.0
TARGET_RATIO_2000 = 0.5


def checkov_binary() -> Path:
    """Checkov in its own virtualenv, installed on first use (its pins clash with ours)."""
    binary = CHECKOV_VENV / "bin" / "checkov"
    if not binary.is_file():
        print(f"installing {CHECKOV_SPEC} into {CHECKOV_VENV} (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run(
            [str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", CHECKOV_SPEC],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return binary


def run_checkov(binary: Path, directory: Path) -> ProcessRun:
    command = [
        str(binary), "-d", str(directory), "--framework", "terraform_plan", "kubernetes",
        "--skip-download", "--compact", "--quiet", "-o", "json",
    ]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ)
    )
    assert process.stdout is not None
    stdout = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    return ProcessRun(
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        os.waitstatus_to_exitcode(status),
        stdout,
    )


def checkov_counts(run: ProcessRun) -> str:
    """Resources and checks Checkov reports (proof that it read what it was given)."""
    try:
        reports = json.loads(run.stdout)
    except json.JSONDecodeError:
        return "unreadable output"
    reports = reports if isinstance(reports, list) else [reports]
    parts = []
    for report in reports:
        summary = report.get("summary", {})
        parts.append(
            f"{report.get('check_type')}: {summary.get('resource_count')} resources, "
            f"{summary.get('passed', 0) + summary.get('failed', 0)} checks"
        )
    return "; ".join(parts)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--no-peer", action="store_true", help="skip Checkov (e.g. for a before run)")
    args = parser.parse_args()
    source: Path = args.source.resolve()
    checkov = None if args.no_peer else checkov_binary()

    with tempfile.TemporaryDirectory(prefix="mlenv-bench-check-") as scratch:
        project = prepare(source, Path(scratch))
        stacks = sized_stacks(project, args.sizes)
        print(f"source: {source}; median of {args.repeat} cold runs per size; ratios are within this run")
        rows = measure_cold(project, stacks, ["check"], args.repeat)
        print_scaling("mlenv check STACK (cold CLI process, plan included, pack process included)", rows)

        biggest = stacks[-1]
        command = [sys.executable, "-m", "benchmarks.pack_floors", "--stack", biggest.name]
        env = {**os.environ, "PYTHONPATH": str(project)}
        output = subprocess.run(command, cwd=project, env=env, check=True, capture_output=True, text=True)
        servicers = json.loads(output.stdout.strip().splitlines()[-1])
        once = servicers["once_s"]
        print(
            f"pack servicer in-process at {biggest.resources} resources (CPU s, no process, no gRPC): "
            f"pulumi-policy's {servicers['stock_s']:.2f} s; once-per-request "
            + (f"{once:.2f} s (x{servicers['stock_s'] / once:.1f})" if once else "n/a in this checkout")
        )

        if checkov is None:
            return
        print(f"peer: Checkov ({CHECKOV_VENV}), same resources as Terraform plan JSON + manifests")
        print("  (each size: mlenv check and Checkov alternately, medians of each)")
        print("  resources  checkov CPU s  wall s  RSS MiB | mlenv/checkov CPU  wall | what Checkov read")
        for stack in stacks:
            peer_dir = Path(scratch) / f"peer-{stack.name}"
            plan_file = peer_dir / "plan.json"
            run_cli(project, ["plan", stack.name, "--out", str(plan_file)])
            write_peer_inputs(json.loads(plan_file.read_text(encoding="utf-8")), peer_dir / "inputs")
            run_checkov(checkov, peer_dir / "inputs")  # its own caches warm, as mlenv's bytecode is
            # Alternating with mlenv's own runs, so both sides meet the same machine: on a shared
            # host the same work took up to 1.3x longer from one minute to the next.
            runs: list[ProcessRun] = []
            ours: list[ProcessRun] = []
            for _ in range(args.repeat):
                ours.append(run_cli(project, ["check", stack.name]))
                runs.append(run_checkov(checkov, peer_dir / "inputs"))
            cpu = statistics.median(r.cpu_s for r in runs)
            wall = statistics.median(r.wall_s for r in runs)
            our_cpu = statistics.median(r.cpu_s for r in ours)
            our_wall = statistics.median(r.wall_s for r in ours)
            exits = sorted({r.returncode for r in ours})
            # Sizes come in whole units of ~40 resources, so "2,000" is the nearest reachable size.
            target = TARGET_RATIO_2000 if stack.resources >= 1_950 else TARGET_RATIO_PROD
            ratios = (
                f"{our_cpu / cpu:17.2f} {our_wall / wall:5.2f}"
                if exits == [0]
                else f"{'mlenv exit ' + str(exits) + ': no ratio':>23}"
            )
            print(
                f"  {stack.resources:9d} {cpu:14.2f} {wall:7.2f} {max(r.peak_rss_mib for r in runs):8.0f} | "
                f"{ratios} | {checkov_counts(runs[-1])} (target <= {target})"
            )


if __name__ == "__main__":
    main()
