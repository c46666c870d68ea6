"""Warm floors for elastic GPU pools: low-priority placeholder pods that keep ``min_size`` nodes up.

Karpenter has no minimum node count: it launches nodes for Pending pods and removes empty ones
(karpenter.sh/docs/concepts/scheduling, "overprovisioning"). A pool that should answer a scale-up
without waiting for an instance gets ``min_size`` placeholder pods, each asking for one whole node's
GPUs at a negative priority. A real GPU pod preempts a placeholder (the scheduler evicts lower
priorities to fit higher ones); the placeholder goes Pending and Karpenter launches a node for it,
so the floor of warm capacity is restored behind the workload. Placeholders run ``pause`` and never
preempt anything themselves (``preemptionPolicy: Never``).
"""

from __future__ import annotations

from typing import Any, Final

from components.scheduling import GPU_RESOURCE, GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE, LABEL_POOL

PRIORITY_CLASS: Final = "mlenv-warm-capacity"
PRIORITY: Final = -10
"""Below every workload (default priority 0): any real pod preempts a placeholder."""
NAMESPACE: Final = "gpu-warm-capacity"
PAUSE_CONTAINER: Final = "pause-3.10"
"""The catalog container placeholders run."""
PAUSE_UID: Final = 65535
"""The pause image's user (nobody), so the pod runs as non-root under the restricted profile."""


def placeholder_labels(pool: str) -> dict[str, str]:
    """The selector labels of a pool's placeholders."""
    return {"app.kubernetes.io/name": f"warm-{pool}", "app.kubernetes.io/component": "warm-capacity"}


def placeholder_pod_spec(pool: str, gpus_per_node: int, image: str) -> dict[str, Any]:
    """A pod that holds one node of ``pool``: all its GPUs, the pool's selector and toleration."""
    return {
        "priorityClassName": PRIORITY_CLASS,
        "nodeSelector": {LABEL_POOL: pool},
        "tolerations": [
            {"key": GPU_TAINT_KEY, "operator": "Equal", "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}
        ],
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": PAUSE_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "pause",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "resources": {
                    "requests": {GPU_RESOURCE: str(gpus_per_node), "cpu": "10m", "memory": "16Mi"},
                    "limits": {GPU_RESOURCE: str(gpus_per_node), "cpu": "10m", "memory": "16Mi"},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "privileged": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
    }
