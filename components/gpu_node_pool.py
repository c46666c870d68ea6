"""GpuNodePool: a static GPU pool, one fixed-size EKS managed node group on one pinned catalog image.

Only multi-node EFA training pools are static (``capacity: static``); every other GPU pool is a
Karpenter NodePool (components/gpu_capacity.py).

The launch template names the catalog's AMI for the region (no SSM "recommended" lookups), so
``ami_type`` is CUSTOM and the node bootstraps through an AL2023 nodeadm NodeConfig in the user
data: EKS adds no bootstrap of its own for custom AMIs. The node group's name carries a short hash
of the image, so a new image is a new node group (blue/green), never a rolling edit of this one.
Multi-node training pools on EFA-capable instance types get every EFA interface the type offers
and a cluster placement group, in a single AZ.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import CLUSTER_DNS, SERVICE_CIDR, EksCluster
from components.network import Network
from components.nodes import instance_tag_specifications, metadata_options, node_role, root_volume
from components.scheduling import (
    EKS_TAINT_EFFECTS,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_CUDA,
    LABEL_DRIVER,
    LABEL_GPU_PRODUCT,
    LABEL_IMAGE,
    LABEL_POOL,
    LABEL_PURPOSE,
)
from components.tags import Tagging
from images.catalog import Catalog, ImageEntry, load_catalog
from images.instance_types import GpuInstanceType, InstanceTypeData, load_instance_types
from stacks.spec.pools import GpuPoolSpec

COMPONENT = "compute"
NODE_GROUP_NAME_MAX = 63
MIME_BOUNDARY = "MLENV-NODEADM"

GPU_TAINT = f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}"
"""The GPU taint as the kubelet's ``--register-with-taints`` writes it."""


def image_hash(image_id: str, ami_id: str) -> str:
    """8 hex characters identifying an image build. The AMI is included so that even an (illegal)
    in-place edit of a catalog entry's AMI still produces a new node group."""
    return hashlib.sha256(f"{image_id}\n{ami_id}".encode()).hexdigest()[:8]


def node_group_name(environment: str, pool: str, image_id: str, ami_id: str) -> str:
    """``<environment>-<pool>-<image hash>``, at most 63 characters (EKS's limit)."""
    suffix = image_hash(image_id, ami_id)
    stem = f"{environment}-{pool}"[: NODE_GROUP_NAME_MAX - len(suffix) - 1].rstrip("-")
    return f"{stem}-{suffix}"


def pool_gpu(instance_types: Sequence[str], data: InstanceTypeData) -> GpuInstanceType:
    """The GPU facts of a pool: its first instance type's (plan-time rules check they all agree)."""
    return data.gpu_info(instance_types[0])


def efa_interface_count(pool: GpuPoolSpec, data: InstanceTypeData) -> int:
    """EFA interfaces per node: 0 unless the pool asks for EFA, else the fewest any of its types offers."""
    if not pool.efa:
        return 0
    return min(data.gpu_info(t).max_efa_interfaces for t in pool.instance_types)


def eks_taint_effect(kubernetes_effect: str) -> str:
    """``NoSchedule`` -> ``NO_SCHEDULE``."""
    return EKS_TAINT_EFFECTS[kubernetes_effect]


def gpu_taints() -> list[aws.eks.NodeGroupTaintArgs]:
    """The GPU taint as the EKS API takes it: EKS keeps it on the node group's nodes."""
    return [
        aws.eks.NodeGroupTaintArgs(
            key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=eks_taint_effect(GPU_TAINT_EFFECT)
        )
    ]


def node_labels(pool: GpuPoolSpec, image: ImageEntry, gpu: GpuInstanceType) -> dict[str, str]:
    """What workloads select on: pool, purpose, GPU product, the CUDA ceiling, driver and image id.
    The pool's own extra labels come first so they cannot override these."""
    return {
        **pool.labels,
        LABEL_POOL: pool.name,
        LABEL_PURPOSE: pool.purpose,
        LABEL_GPU_PRODUCT: gpu.gpu_model.replace(" ", "-"),
        LABEL_CUDA: image.cuda_max,
        LABEL_DRIVER: image.driver_version,
        LABEL_IMAGE: image.id,
    }


def network_interfaces(
    count: int, security_group_id: str
) -> list[aws.ec2.LaunchTemplateNetworkInterfaceArgs]:
    """One EFA interface per network card; the first is the primary (device 0). Security groups
    must be set here once interfaces are, and EFA needs the cluster group (all traffic to itself)."""
    return [
        aws.ec2.LaunchTemplateNetworkInterfaceArgs(
            device_index=0 if card == 0 else 1,
            network_card_index=card,
            interface_type="efa",
            delete_on_termination="true",
            security_groups=[security_group_id],
        )
        for card in range(count)
    ]


def nodeadm_user_data(cluster_name: str, endpoint: str, ca_data: str, labels: Mapping[str, str]) -> str:
    """MIME multipart user data with an AL2023 nodeadm NodeConfig: how a custom-AMI node joins.

    Labels and the GPU taint are registered by the kubelet itself, so no pod can land on a GPU node
    in the moments before EKS would apply them.
    """
    node_config = {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {
            "cluster": {
                "name": cluster_name,
                "apiServerEndpoint": endpoint,
                "certificateAuthority": ca_data,
                "cidr": SERVICE_CIDR,
            },
            "kubelet": {
                "config": {"clusterDNS": [CLUSTER_DNS]},
                "flags": [
                    "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
                    f"--register-with-taints={GPU_TAINT}",
                ],
            },
        },
    }
    return "\n".join(
        [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"',
            "",
            f"--{MIME_BOUNDARY}",
            "Content-Type: application/node.eks.aws",
            "",
            json.dumps(node_config, indent=2, sort_keys=True),
            "",
            f"--{MIME_BOUNDARY}--",
            "",
        ]
    )


def node_user_data(
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    ca_data: pulumi.Input[str],
    labels: Mapping[str, str],
) -> pulumi.Output[str]:
    """The launch template's user data (base64) for a GPU node of the cluster: labels and GPU taint."""
    return pulumi.Output.all(cluster_name, endpoint, ca_data).apply(
        lambda v: base64.b64encode(nodeadm_user_data(v[0], v[1], v[2], labels).encode()).decode()
    )


@dataclass(frozen=True)
class GpuNodePoolArgs:
    """Inputs of a GpuNodePool."""

    environment: str
    """Environment name; prefixes every resource name."""
    tagging: Tagging
    """The environment's tags; this component adds ``mlenv:component=compute``."""
    region: str
    """AWS region: selects the image's AMI."""
    cluster: EksCluster
    """The cluster the nodes join."""
    network: Network
    """The VPC: nodes go to its private subnets (only the first AZ's for EFA pools)."""
    pool: GpuPoolSpec
    """The pool as the stack file describes it (validated against the catalog at plan time)."""
    catalog: Catalog | None = None
    """The image catalog. Default: images/catalog.yaml."""
    instance_data: InstanceTypeData | None = None
    """EC2's GPU instance-type data. Default: images/gpu_instance_types.json."""


class GpuNodePool(pulumi.ComponentResource):
    """A managed GPU node group on a pinned image: launch template, node role, optional placement group."""

    image: ImageEntry
    ami_id: str
    gpu: GpuInstanceType
    node_group_name: str
    node_role: aws.iam.Role
    launch_template: aws.ec2.LaunchTemplate
    node_group: aws.eks.NodeGroup
    placement_group: aws.ec2.PlacementGroup | None

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:compute:GpuNodePool", name, None, opts)
        pool = args.pool
        catalog = args.catalog or load_catalog()
        data = args.instance_data or load_instance_types()
        tags = {**args.tagging.tags(COMPONENT), "mlenv:pool": pool.name}
        prefix = f"{args.environment}-{pool.name}"
        child = pulumi.ResourceOptions(parent=self)
        self.image = catalog.image(pool.image)
        self.ami_id = catalog.ami(pool.image, args.region)
        self.gpu = pool_gpu(pool.instance_types, data)
        self.node_group_name = node_group_name(args.environment, pool.name, self.image.id, self.ami_id)
        labels = node_labels(pool, self.image, self.gpu)
        efa_count = efa_interface_count(pool, data)

        role = node_role(f"{prefix}-node", description=f"mlenv {prefix}: GPU nodes", tags=tags, parent=self)
        self.node_role = role.role
        self.placement_group = None
        if efa_count:
            self.placement_group = aws.ec2.PlacementGroup(prefix, strategy="cluster", tags=tags, opts=child)
        cluster = args.cluster.cluster
        self.launch_template = aws.ec2.LaunchTemplate(
            prefix,
            description=f"mlenv {prefix}: {self.image.id} ({self.ami_id})",
            image_id=self.ami_id,
            metadata_options=metadata_options(),
            block_device_mappings=[root_volume(pool.disk_size_gib)],
            user_data=node_user_data(
                cluster.name, cluster.endpoint, cluster.certificate_authority.data, labels
            ),
            network_interfaces=args.cluster.security_group_id.apply(
                lambda sg: network_interfaces(efa_count, sg)
            )
            if efa_count
            else None,
            vpc_security_group_ids=None if efa_count else [args.cluster.security_group_id],
            placement=aws.ec2.LaunchTemplatePlacementArgs(group_name=self.placement_group.name)
            if self.placement_group is not None
            else None,
            tag_specifications=instance_tag_specifications(tags),
            update_default_version=True,
            tags=tags,
            opts=child,
        )
        # A placement group lives in one AZ: EFA pools use the first AZ's subnet only.
        subnets = args.network.private_subnet_ids[:1] if efa_count else args.network.private_subnet_ids
        self.node_group = aws.eks.NodeGroup(
            prefix,
            cluster_name=cluster.name,
            node_group_name=self.node_group_name,
            node_role_arn=self.node_role.arn,
            subnet_ids=subnets,
            instance_types=list(pool.instance_types),
            ami_type="CUSTOM",
            capacity_type=pool.capacity_type,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=self.launch_template.id, version=self.launch_template.latest_version.apply(str)
            ),
            # A static pool has a fixed size (stacks/spec/capacity_rules.py: min_size == max_size) and
            # no autoscaler: desiredSize is this program's, never ignored.
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.min_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels=labels,
            taints=gpu_taints(),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*role.attachments, args.cluster.system_node_group],
                # Blue/green: a new image changes nodeGroupName, which EKS can only do by replacing the
                # node group. Create the new group first (it has a different name, so both can exist)
                # and delete the old one after, so GPU capacity never drops to zero mid-rollout.
                replace_on_changes=["nodeGroupName"],
                delete_before_replace=False,
            ),
        )
        self.register_outputs(
            {
                "node_group_name": self.node_group.node_group_name,
                "image_id": self.image.id,
                "ami_id": self.ami_id,
            }
        )

    def outputs(self) -> dict[str, object]:
        """What the stack exports about this pool: the image it runs and how that image was built
        (the catalog entry's provenance), so a running pool traces back to its golden-image build."""
        return {
            "capacity": "static",
            "node_group": self.node_group.node_group_name,
            "image_id": self.image.id,
            "ami_id": self.ami_id,
            "driver": self.image.driver_version,
            "cuda": self.image.cuda_max,
            "gpu": self.gpu.gpu_model,
            "efa": self.placement_group is not None,
            "image_provenance": image_provenance(self.image),
        }


def image_provenance(image: ImageEntry) -> dict[str, object] | None:
    """The catalog's build provenance of an image as plain data (only what is recorded), or ``None``."""
    if image.provenance is None:
        return None
    return image.provenance.model_dump(mode="json", exclude_none=True)
