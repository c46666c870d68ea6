"""GpuCapacity: elastic GPU pools as Karpenter NodePools on EC2NodeClasses named from catalog images.

One EC2NodeClass per (catalog image, launch settings) in use: ``amiSelectorTerms`` name the image's
AMI id for the stack's region (no alias, tag, name or SSM parameter), AL2023, IMDSv2 required with
hop limit 1, an encrypted gp3 root volume, the Karpenter node role, the environment's tags on
instances, volumes and ENIs. Its name carries a hash of image, AMI and settings, so a new image is a
new class, never an edit of one nodes already run. One NodePool per elastic pool: instance types,
capacity type and architecture as requirements, the pool's labels and the GPU taint in its template
(Karpenter's AL2023 NodeConfig registers them through the kubelet's flags, so no pod lands on a GPU
node before they apply), ``limits`` from ``max_size`` x one node's GPUs/vCPUs/memory, and the
disruption budgets of the spec. Switching a NodePool to a new class makes its nodes drift: Karpenter
launches a replacement, then drains the old node, within the budgets and the workloads' PDBs.

The manifest builders are pure functions of plain values, so experiments build their own NodePool
with the same code (``node_pool_manifest``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components import warm_capacity as warm
from components.gpu_node_pool import image_provenance, node_labels, pool_gpu
from components.karpenter import DISCOVERY_TAG, Karpenter
from components.nodes import IMDS_HOP_LIMIT, ROOT_DEVICE
from components.pod_security import pod_security_labels
from components.scheduling import GPU_RESOURCE, GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE
from components.tags import Tagging
from images.catalog import Catalog, ImageEntry, load_catalog
from images.instance_types import InstanceTypeData, load_instance_types
from stacks.spec.pools import DisruptionSpec, GpuPoolSpec

COMPONENT = "compute"
NODE_POOL_API: Final = "karpenter.sh/v1"
NODE_CLASS_API: Final = "karpenter.k8s.aws/v1"
NODE_CLASS_GROUP: Final = "karpenter.k8s.aws"
NAME_MAX: Final = 63
"""Karpenter writes the class and pool names into node labels: at most 63 characters."""

CAPACITY_TYPES: Final = {"ON_DEMAND": "on-demand", "SPOT": "spot"}
"""Spec capacity type -> Karpenter's ``karpenter.sh/capacity-type`` value."""
ARCHITECTURES: Final = {"x86_64": "amd64", "arm64": "arm64"}
"""Catalog (EC2) architecture -> ``kubernetes.io/arch``."""

LABEL_INSTANCE_TYPE: Final = "node.kubernetes.io/instance-type"
LABEL_CAPACITY_TYPE: Final = "karpenter.sh/capacity-type"
LABEL_ARCH: Final = "kubernetes.io/arch"
LABEL_OS: Final = "kubernetes.io/os"


def node_class_name(image_id: str, ami_id: str, disk_size_gib: int) -> str:
    """``<image id>-<8 hex of image, AMI and root volume>``: a new image or setting is a new class."""
    digest = hashlib.sha256(f"{image_id}\n{ami_id}\n{disk_size_gib}".encode()).hexdigest()[:8]
    return f"{image_id[: NAME_MAX - 9].rstrip('-.')}-{digest}"


def ec2_node_class_manifest(
    name: str,
    *,
    ami_id: str,
    role: str,
    cluster_name: str,
    disk_size_gib: int,
    tags: Mapping[str, str],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """An EC2NodeClass (karpenter.k8s.aws/v1) booting exactly ``ami_id``."""
    discovery = [{"tags": {DISCOVERY_TAG: cluster_name}}]
    return {
        "apiVersion": NODE_CLASS_API,
        "kind": "EC2NodeClass",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "amiFamily": "AL2023",
            "amiSelectorTerms": [{"id": ami_id}],
            "role": role,
            "subnetSelectorTerms": discovery,
            "securityGroupSelectorTerms": discovery,
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpProtocolIPv6": "disabled",
                "httpPutResponseHopLimit": IMDS_HOP_LIMIT,
                "httpTokens": "required",
            },
            "blockDeviceMappings": [
                {
                    "deviceName": ROOT_DEVICE,
                    "rootVolume": True,
                    "ebs": {
                        "volumeSize": f"{disk_size_gib}Gi",
                        "volumeType": "gp3",
                        "encrypted": True,
                        "deleteOnTermination": True,
                    },
                }
            ],
            # Karpenter puts these on the instances, volumes, ENIs and launch templates it creates.
            "tags": dict(tags),
        },
    }


def disruption_budgets(disruption: DisruptionSpec) -> list[dict[str, Any]]:
    """The spec's budgets: at most ``max_disrupted`` at a time, none in a hold window, no drift
    replacement while rollouts are held. Karpenter honours the most restrictive active budget."""
    budgets: list[dict[str, Any]] = [{"nodes": disruption.max_disrupted}]
    budgets += [
        {"nodes": "0", "schedule": window.schedule, "duration": window.duration}
        for window in disruption.hold_windows
    ]
    if disruption.hold_rollouts:
        budgets.append({"nodes": "0", "reasons": ["Drifted"]})
    return budgets


def gpu_taint() -> dict[str, str]:
    """The GPU taint (components/scheduling.py) as a NodePool template takes it."""
    return {"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}


def node_pool_manifest(
    name: str,
    *,
    node_class: str,
    instance_types: Sequence[str],
    capacity_types: Sequence[str],
    architecture: str,
    labels: Mapping[str, str],
    limits: Mapping[str, str],
    budgets: Sequence[Mapping[str, Any]],
    taints: Sequence[Mapping[str, str]] = (),
    expire_after: str = "720h",
    consolidation_policy: str = "WhenEmptyOrUnderutilized",
    consolidate_after: str = "10m",
    metadata_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A NodePool (karpenter.sh/v1) from plain values; ``architecture`` is ``amd64`` or ``arm64``."""
    return {
        "apiVersion": NODE_POOL_API,
        "kind": "NodePool",
        "metadata": {"name": name, "labels": dict(metadata_labels or {})},
        "spec": {
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "nodeClassRef": {"group": NODE_CLASS_GROUP, "kind": "EC2NodeClass", "name": node_class},
                    "requirements": [
                        {"key": LABEL_INSTANCE_TYPE, "operator": "In", "values": list(instance_types)},
                        {"key": LABEL_CAPACITY_TYPE, "operator": "In", "values": list(capacity_types)},
                        {"key": LABEL_ARCH, "operator": "In", "values": [architecture]},
                        {"key": LABEL_OS, "operator": "In", "values": ["linux"]},
                    ],
                    "taints": [dict(t) for t in taints],
                    "expireAfter": expire_after,
                },
            },
            "limits": dict(limits),
            "disruption": {
                "consolidationPolicy": consolidation_policy,
                "consolidateAfter": consolidate_after,
                "budgets": [dict(b) for b in budgets],
            },
        },
    }


def pool_limits(pool: GpuPoolSpec, data: InstanceTypeData) -> dict[str, str]:
    """``max_size`` nodes of the pool's largest instance type: GPUs, vCPUs and memory. Karpenter
    checks limits before it launches, so a pool never grows past them (by more than one node's
    worth while launches are in flight: karpenter.sh/docs/concepts/nodepools/#speclimits)."""
    types = [data.gpu_info(t) for t in pool.instance_types]
    return {
        GPU_RESOURCE: str(pool.max_size * max(t.gpu_count for t in types)),
        "cpu": str(pool.max_size * max(t.vcpus for t in types)),
        "memory": f"{pool.max_size * max(t.memory_mib for t in types)}Mi",
    }


def pool_node_pool_manifest(
    pool: GpuPoolSpec,
    image: ImageEntry,
    node_class: str,
    data: InstanceTypeData,
    metadata_labels: Mapping[str, str],
) -> dict[str, Any]:
    """The NodePool of one elastic spec pool."""
    gpu = pool_gpu(pool.instance_types, data)
    return node_pool_manifest(
        pool.name,
        node_class=node_class,
        instance_types=pool.instance_types,
        capacity_types=[CAPACITY_TYPES[pool.capacity_type]],
        architecture=ARCHITECTURES[image.architecture],
        labels=node_labels(pool, image, gpu),
        limits=pool_limits(pool, data),
        budgets=disruption_budgets(pool.disruption),
        taints=[gpu_taint()],
        expire_after=pool.disruption.expire_after,
        consolidation_policy=pool.disruption.consolidation,
        consolidate_after=pool.disruption.consolidate_after,
        metadata_labels=metadata_labels,
    )


@dataclass(frozen=True)
class GpuCapacityArgs:
    """Inputs of GpuCapacity."""

    environment: str
    """Environment name; prefixes resource names."""
    tagging: Tagging
    """The environment's tags (on the EC2 resources Karpenter creates) and labels."""
    region: str
    """AWS region: selects each image's AMI."""
    cluster_name: pulumi.Input[str]
    """The cluster, for subnet and security-group discovery."""
    karpenter: Karpenter
    """The controller: its node role, and its release (the CRDs) that every object waits for."""
    k8s_provider: k8s.Provider
    """The cluster's Kubernetes provider."""
    pools: Sequence[GpuPoolSpec]
    """The elastic pools of the spec."""
    catalog: Catalog | None = None
    """The image catalog. Default: images/catalog.yaml."""
    instance_data: InstanceTypeData | None = None
    """EC2's GPU instance-type data. Default: images/gpu_instance_types.json."""


class GpuCapacity(pulumi.ComponentResource):
    """EC2NodeClasses (one per image and settings) and NodePools (one per elastic pool)."""

    node_classes: dict[str, k8s.apiextensions.CustomResource]
    """By class name."""
    node_pools: dict[str, k8s.apiextensions.CustomResource]
    """By pool name."""
    class_of_pool: dict[str, str]
    """Pool name -> its EC2NodeClass name."""
    image_classes: dict[str, str]
    """Catalog image id -> the EC2NodeClass of that image with the largest root volume."""
    warm_floors: dict[str, k8s.apps.v1.Deployment]
    """Pool name -> its placeholder Deployment (pools with min_size > 0)."""

    def __init__(self, name: str, args: GpuCapacityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:compute:GpuCapacity", name, None, opts)
        catalog = args.catalog or load_catalog()
        data = args.instance_data or load_instance_types()
        labels = args.tagging.labels(COMPONENT)
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.k8s_provider, depends_on=[args.karpenter.release]
        )
        self.node_classes, self.node_pools, self.class_of_pool, self.image_classes = {}, {}, {}, {}
        self.warm_floors = {}
        sizes: dict[str, int] = {}
        for pool in args.pools:
            image = catalog.image(pool.image)
            ami = catalog.ami(pool.image, args.region)
            class_name = node_class_name(image.id, ami, pool.disk_size_gib)
            self.class_of_pool[pool.name] = class_name
            if class_name not in self.node_classes:
                manifest = pulumi.Output.all(args.cluster_name, args.karpenter.node_role.role.name).apply(
                    lambda v, a=ami, d=pool.disk_size_gib, n=class_name: ec2_node_class_manifest(  # type: ignore[misc]
                        n,
                        ami_id=a,
                        role=v[1],
                        cluster_name=v[0],
                        disk_size_gib=d,
                        tags=args.tagging.tags(COMPONENT),
                        labels=labels,
                    )
                )
                self.node_classes[class_name] = k8s.apiextensions.CustomResource(
                    f"{args.environment}-{class_name}",
                    api_version=NODE_CLASS_API,
                    kind="EC2NodeClass",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name, labels=labels),
                    spec=manifest.apply(lambda m: m["spec"]),
                    opts=k8s_opts,
                )
            if sizes.get(image.id, -1) < pool.disk_size_gib:
                sizes[image.id] = pool.disk_size_gib
                self.image_classes[image.id] = class_name
            manifest_pool = pool_node_pool_manifest(pool, image, class_name, data, labels)
            self.node_pools[pool.name] = k8s.apiextensions.CustomResource(
                f"{args.environment}-{pool.name}-nodepool",
                api_version=NODE_POOL_API,
                kind="NodePool",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name, labels=labels),
                spec=manifest_pool["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=args.k8s_provider,
                    depends_on=[args.karpenter.release, self.node_classes[class_name]],
                ),
            )
        self._warm_floors(args, catalog, data, labels)
        self.register_outputs({"node_classes": dict(self.class_of_pool)})

    def _warm_floors(
        self, args: GpuCapacityArgs, catalog: Catalog, data: InstanceTypeData, labels: dict[str, str]
    ) -> None:
        """Placeholder Deployments for pools with ``min_size`` > 0 (components/warm_capacity.py)."""
        floors = [p for p in args.pools if p.min_size > 0]
        if not floors:
            return
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        priority = k8s.scheduling.v1.PriorityClass(
            f"{args.environment}-warm-capacity",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=warm.PRIORITY_CLASS, labels=labels),
            value=warm.PRIORITY,
            preemption_policy="Never",
            global_default=False,
            description="mlenv warm GPU capacity: placeholders any workload preempts",
            opts=k8s_opts,
        )
        namespace = k8s.core.v1.Namespace(
            f"{args.environment}-warm-capacity",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=warm.NAMESPACE, labels={**labels, **pod_security_labels("restricted")}
            ),
            opts=k8s_opts,
        )
        # Placeholders talk to nothing: deny every path in and out of their namespace.
        k8s.networking.v1.NetworkPolicy(
            f"{args.environment}-warm-capacity-default-deny",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny", namespace=warm.NAMESPACE, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=args.k8s_provider, depends_on=[namespace]),
        )
        image = catalog.container(warm.PAUSE_CONTAINER).ref
        for pool in floors:
            gpus = min(data.gpu_info(t).gpu_count for t in pool.instance_types)
            selector = warm.placeholder_labels(pool.name)
            self.warm_floors[pool.name] = k8s.apps.v1.Deployment(
                f"{args.environment}-{pool.name}-warm",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"warm-{pool.name}", namespace=warm.NAMESPACE, labels={**labels, **selector}
                ),
                spec=self._placeholder_spec(
                    pool.min_size, selector, labels, warm.placeholder_pod_spec(pool.name, gpus, image)
                ),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=args.k8s_provider,
                    depends_on=[namespace, priority, self.node_pools[pool.name]],
                ),
            )

    @staticmethod
    def _placeholder_spec(
        replicas: int, selector: dict[str, str], labels: dict[str, str], pod: dict[str, Any]
    ) -> Any:
        """The placeholder Deployment's spec (plain data; the pod spec is components/warm_capacity.py's)."""
        return {
            # No HPA: the floor is the stack file's min_size.
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": {**labels, **selector}}, "spec": pod},
        }

    def pool_outputs(
        self, pool: GpuPoolSpec, catalog: Catalog, region: str, data: InstanceTypeData
    ) -> dict[str, Any]:
        """What the stack exports about an elastic pool: its NodePool, class and image facts."""
        image = catalog.image(pool.image)
        return {
            "capacity": "elastic",
            "node_pool": pool.name,
            "node_class": self.class_of_pool[pool.name],
            "image_id": image.id,
            "ami_id": catalog.ami(pool.image, region),
            "driver": image.driver_version,
            "cuda": image.cuda_max,
            "gpu": pool_gpu(pool.instance_types, data).gpu_model,
            "limits": pool_limits(pool, data),
            "warm_nodes": pool.min_size,
            "image_provenance": image_provenance(image),
        }
