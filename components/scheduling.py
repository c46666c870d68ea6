"""The scheduling contract between GPU node pools and the workloads that run on them.

Node pools put these labels and this taint on their nodes; serving deployments and experiments
select and tolerate them. Both sides read them from here so they cannot disagree.
"""

from __future__ import annotations

from typing import Final

GPU_RESOURCE: Final = "nvidia.com/gpu"
"""The extended resource the NVIDIA device plugin advertises."""

GPU_TAINT_KEY: Final = "nvidia.com/gpu"
GPU_TAINT_VALUE: Final = "true"
GPU_TAINT_EFFECT: Final = "NoSchedule"
"""Only pods that tolerate the taint (GPU workloads, the device plugin) land on GPU nodes."""
EKS_TAINT_EFFECTS: Final = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
"""Kubernetes taint effect -> the EKS API's spelling of it (node groups take the latter)."""

LABEL_POOL: Final = "mlenv.io/pool"
LABEL_PURPOSE: Final = "mlenv.io/purpose"
LABEL_IMAGE: Final = "mlenv.io/image"
LABEL_GPU_PRODUCT: Final = "mlenv.io/gpu-product"
LABEL_CUDA: Final = "mlenv.io/cuda"
LABEL_DRIVER: Final = "mlenv.io/driver"

LABEL_EXPERIMENT: Final = "mlenv.io/experiment"
"""Node label and taint key of an experiment's own nodes (value: the experiment name). Platform pools
never carry it (a spec rule), and experiments never carry ``mlenv.io/pool``, so the two can't collide."""
EXPERIMENT_TAINT_EFFECT: Final = "NoSchedule"
