"""Before/after: cold `mlenv plan` and `mlenv check` of two checkouts, run alternately.

Figures from two separate benchmark runs differ by the machine's state (on a shared two-core host
a floor measured in one run was 2.5x the same floor in another), so a before/after pair is only
fair when both sides run under the same conditions: here each repetition runs the old checkout,
then the new one, on the same sized stacks (``benchmarks/scaled.py``), and the ratio new/old is
taken per size from the medians.

    python -m benchmarks.compare --before /tmp/old [--after .] [--sizes 150 2000] [--repeat 3]
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks.plan import bench_parser
from benchmarks.scaled import REPO_ROOT, copy_project, run_cli, sized_stacks


def main() -> None:
    parser = bench_parser(__doc__, sizes=(150, 2000), source=False)
    parser.add_argument("--before", type=Path, required=True, help="checkout before the change")
    parser.add_argument("--after", type=Path, default=REPO_ROOT, help="checkout after it (default: this one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlenv-bench-compare-") as scratch:
        sides = {
            label: copy_project(source.resolve(), Path(scratch) / label)
            for label, source in (("before", args.before), ("after", args.after))
        }
        # The same stack files on both sides: sized by the after checkout, copied to the before one.
        stacks = sized_stacks(sides["after"], args.sizes)
        for stack in stacks:
            name = f"Pulumi.{stack.name}.yaml"
            (sides["before"] / "stacks" / name).write_bytes((sides["after"] / "stacks" / name).read_bytes())
        print(
            f"before: {args.before.resolve()}  after: {args.after.resolve()}; {args.repeat} alternating runs"
        )
        print(
            "  command        resources | before CPU s  wall s | after CPU s  wall s | after/before CPU  wall"
        )
        for command in (["plan", "--json"], ["check"]):
            for stack in stacks:
                cpu: dict[str, list[float]] = {"before": [], "after": []}
                wall: dict[str, list[float]] = {"before": [], "after": []}
                for _ in range(args.repeat):
                    for label, project in sides.items():
                        run = run_cli(project, [command[0], stack.name, *command[1:]])
                        if run.returncode != 0:
                            raise SystemExit(
                                f"{label}: mlenv {command[0]} {stack.name} exited {run.returncode}"
                            )
                        cpu[label].append(run.cpu_s)
                        wall[label].append(run.wall_s)
                b_cpu, a_cpu = statistics.median(cpu["before"]), statistics.median(cpu["after"])
                b_wall, a_wall = statistics.median(wall["before"]), statistics.median(wall["after"])
                print(
                    f"  {command[0]:<14} {stack.resources:9d} | {b_cpu:12.2f} {b_wall:7.2f} | {a_cpu:11.2f} "
                    f"{a_wall:7.2f} | {a_cpu / b_cpu:16.2f} {a_wall / b_wall:5.2f}"
                )


if __name__ == "__main__":
    main()
