"""Time to first GPU for an experiment: a model, stage by stage, with the figures it assumes.

Nothing here can be measured on this machine (no cloud account), so this is a model, not a
measurement: each scenario is a sequence of stages, each stage a (low, typical, high) duration in
seconds with where the figure comes from. Where no authoritative figure was found the stage says
"assumption" and how to measure it on a real account. `python -m benchmarks.time_to_first_gpu`
prints the stages and the totals; `--json` prints them for a pipe.

Scenarios:

* ``shared-karpenter-baked``: what mlenv does now. `mlenv exp up` creates a namespace, guards, a
  role and a NodePool on the running platform cluster; the first pod makes Karpenter launch a node
  from the platform's EC2NodeClass, whose AMI already holds the catalog containers (the image
  builds pre-pull them by digest, images/templates), so the pod starts without a pull.
* ``shared-karpenter-pull``: the same, with an AMI that does not hold the containers.
* ``nodegroup-per-experiment``: what mlenv did before: a managed node group per experiment, whose
  creation waits for its nodes to join before the stack is up.
* ``cluster-per-experiment``: a new EKS cluster (and node group) per experiment.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One step between `mlenv exp up` and a running GPU pod."""

    name: str
    low_s: float
    typical_s: float
    high_s: float
    source: str


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "EKS control plane",
            600,
            900,
            1200,
            "aws/containers-roadmap#1227: 'EKS cluster control plane provisioning time currently averages "
            "15 minutes'; eksctl tutorials quote 15-20 minutes",
        ),
        Stage(
            "cluster add-ons, OIDC provider, device plugin",
            60,
            120,
            240,
            "assumption: add-on installs (CNI, CoreDNS, kube-proxy) and one Helm release; measure with "
            "`pulumi up` timings of a platform stack",
        ),
        Stage(
            "managed node group to ACTIVE",
            180,
            300,
            600,
            "assumption: CreateNodegroup waits for every desired node to join (launch template, ASG, "
            "EC2 launch, bootstrap); measure with `aws eks wait nodegroup-active`",
        ),
        Stage(
            "experiment stack (namespace, guards, role, NodePool)",
            20,
            40,
            90,
            "assumption: ~12 resources; IAM role creation dominates; measure with `mlenv exp up` "
            "(pulumi prints each resource's duration)",
        ),
        Stage(
            "Karpenter batching and launch decision",
            1,
            5,
            10,
            "Karpenter settings: BATCH_IDLE_DURATION 1s, BATCH_MAX_DURATION 10s (karpenter.sh docs, "
            "Reference > Settings)",
        ),
        Stage(
            "EC2 launch, boot, kubelet join (GPU AMI)",
            60,
            90,
            180,
            "assumption: on-demand GPU instance from RunInstances to node Ready; measure with "
            "`kubectl get nodeclaims -w` (Launched -> Registered -> Initialized)",
        ),
        Stage(
            "NVIDIA device plugin advertises nvidia.com/gpu",
            5,
            15,
            30,
            "assumption: DaemonSet pod start on the new node (image on the AMI) and registration",
        ),
        Stage(
            "pull a CUDA framework image (~10 GB)",
            120,
            240,
            480,
            "assumption: NGC PyTorch/vLLM images are several GB compressed; pull and unpack at "
            "~50-100 MB/s from ECR/NGC; 0 when the AMI holds it (images/catalog.yaml pins digests)",
        ),
        Stage(
            "container start",
            2,
            5,
            15,
            "assumption: process start of the training/serving entrypoint, before any model load",
        ),
    )
}

SCENARIOS: dict[str, tuple[str, ...]] = {
    "shared-karpenter-baked": (
        "experiment stack (namespace, guards, role, NodePool)",
        "Karpenter batching and launch decision",
        "EC2 launch, boot, kubelet join (GPU AMI)",
        "NVIDIA device plugin advertises nvidia.com/gpu",
        "container start",
    ),
    "shared-karpenter-pull": (
        "experiment stack (namespace, guards, role, NodePool)",
        "Karpenter batching and launch decision",
        "EC2 launch, boot, kubelet join (GPU AMI)",
        "NVIDIA device plugin advertises nvidia.com/gpu",
        "pull a CUDA framework image (~10 GB)",
        "container start",
    ),
    "nodegroup-per-experiment": (
        "experiment stack (namespace, guards, role, NodePool)",
        "managed node group to ACTIVE",
        "NVIDIA device plugin advertises nvidia.com/gpu",
        "container start",
    ),
    "cluster-per-experiment": (
        "EKS control plane",
        "cluster add-ons, OIDC provider, device plugin",
        "managed node group to ACTIVE",
        "NVIDIA device plugin advertises nvidia.com/gpu",
        "pull a CUDA framework image (~10 GB)",
        "container start",
    ),
}
"""Which stages each scenario goes through, in order (a node group's creation includes the EC2
launch and join, so that stage is not counted twice)."""


def totals(scenario: str) -> tuple[float, float, float]:
    """(low, typical, high) seconds from `mlenv exp up` to the first GPU pod running."""
    stages = [STAGES[name] for name in SCENARIOS[scenario]]
    return (
        sum(s.low_s for s in stages),
        sum(s.typical_s for s in stages),
        sum(s.high_s for s in stages),
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def report() -> list[dict[str, object]]:
    """Every scenario with its stages and totals, as plain data."""
    rows: list[dict[str, object]] = []
    for scenario, names in SCENARIOS.items():
        low, typical, high = totals(scenario)
        rows.append(
            {
                "scenario": scenario,
                "low_s": low,
                "typical_s": typical,
                "high_s": high,
                "stages": [
                    {
                        "stage": STAGES[n].name,
                        "low_s": STAGES[n].low_s,
                        "typical_s": STAGES[n].typical_s,
                        "high_s": STAGES[n].high_s,
                    }
                    for n in names
                ],
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """Print the model: per scenario its stages and total; then the sources of the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps({"model": True, "scenarios": report()}, indent=2))
        return
    print("time to first GPU (a model; figures and sources below): low / typical / high")
    for row in report():
        low, typical, high = (float(str(row[k])) for k in ("low_s", "typical_s", "high_s"))
        print(f"  {row['scenario']:<26} {_minutes(low):>9} {_minutes(typical):>9} {_minutes(high):>9}")
    print("stages:")
    for stage in STAGES.values():
        print(f"  {stage.name}: {stage.low_s:g}/{stage.typical_s:g}/{stage.high_s:g} s")
        print(f"      {stage.source}")


if __name__ == "__main__":
    main()
