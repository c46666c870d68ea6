"""NvidiaDevicePlugin: advertises ``nvidia.com/gpu`` on GPU nodes, from a chart pinned in the catalog.

Why the device plugin and not the GPU Operator: the NVIDIA driver and container toolkit are baked
into the catalog AMI and pinned with it (the driver/CUDA compatibility check depends on exactly that
driver). The GPU Operator's main job is to install drivers and the toolkit on nodes at runtime;
with those disabled it adds NFD, a validator and an operator we would run for nothing, and its
driver container would be a second, unpinned source of truth. The device plugin is the one piece
the nodes still need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import EksCluster
from components.pod_security import pod_security_labels
from components.scheduling import (
    EXPERIMENT_TAINT_EFFECT,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    LABEL_EXPERIMENT,
    LABEL_GPU_PRODUCT,
)
from components.tags import Tagging
from images.catalog import Catalog, load_catalog

COMPONENT = "gpu-software"
CHART = "nvidia-device-plugin"
NAMESPACE = "nvidia-device-plugin"


def chart_values(image_repository: str, image_tag: str, image_digest: str) -> dict[str, Any]:
    """Chart values: the catalog's image by digest, tolerate the GPU and experiment taints, run on GPU
    nodes only.

    The chart's default affinity expects Node Feature Discovery labels, which mlenv nodes do not
    carry; node affinity on the pools' GPU-product label replaces it (Helm replaces lists whole).
    """
    return {
        "image": {
            "repository": image_repository,
            "tag": f"{image_tag}@{image_digest}",
            "pullPolicy": "IfNotPresent",
        },
        # Experiment nodes carry their own taint instead of the GPU one; they need the plugin too.
        "tolerations": [
            {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT},
            {"key": LABEL_EXPERIMENT, "operator": "Exists", "effect": EXPERIMENT_TAINT_EFFECT},
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": LABEL_GPU_PRODUCT, "operator": "Exists"}]}
                    ]
                }
            }
        },
        "priorityClassName": "system-node-critical",
    }


def namespace_labels(tagging: Tagging) -> dict[str, str]:
    """mlenv labels plus Pod Security admission: privileged (the plugin mounts a hostPath; see the
    catalog's privileged_reason), confined to this namespace."""
    return {
        **tagging.labels(COMPONENT),
        **pod_security_labels("privileged", audit=False),
    }


@dataclass(frozen=True)
class NvidiaDevicePluginArgs:
    """Inputs of an NvidiaDevicePlugin."""

    tagging: Tagging
    """The environment's tags; labels the namespace."""
    cluster: EksCluster
    """The cluster to install on (through its ``k8s_provider``)."""
    catalog: Catalog | None = None
    """The image catalog pinning the chart and its container. Default: images/catalog.yaml."""


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """The NVIDIA device plugin DaemonSet, as a Helm release pinned by the catalog."""

    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release
    chart_version: str

    def __init__(
        self, name: str, args: NvidiaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlenv:compute:NvidiaDevicePlugin", name, None, opts)
        catalog = args.catalog or load_catalog()
        chart = catalog.chart(CHART)
        container = catalog.container(chart.container)
        self.chart_version = chart.version
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.cluster.k8s_provider)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels=namespace_labels(args.tagging)),
            opts=k8s_opts,
        )
        self.release = k8s.helm.v3.Release(
            name,
            name=CHART,
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=self.namespace.metadata.name,
            values=chart_values(container.repository, container.tag, container.digest),
            atomic=True,
            cleanup_on_fail=True,
            opts=k8s_opts,
        )
        self.register_outputs({"chart_version": chart.version})
