"""GPU node pools: catalog AMIs only, allowed instance families, the GPU taint, driver/CUDA/GPU
compatibility (images/compat.py) and EFA pools confined to one subnet and a placement group."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from components.scheduling import EKS_TAINT_EFFECTS, GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE
from images.catalog import ImageEntry, load_catalog
from images.compat import check_image_for_gpu
from images.instance_types import GpuInstanceType, load_instance_types
from policies import resource_types as T
from policies.config import schema, setting_strings
from policies.joins import linked, of_type
from policies.policy_types import Report, ResourcePolicy, StackPolicy
from policies.properties import get, mappings, strings


def gpu_instance_types(props: Any) -> list[GpuInstanceType]:
    """The GPU facts (images/gpu_instance_types.json) of a node group's GPU instance types."""
    data = load_instance_types().instance_types
    return [data[t] for t in strings(get(props, "instanceTypes")) if t in data]


def image_for_ami(ami: str) -> tuple[ImageEntry, str] | None:
    """The catalog image that owns an AMI id, and the AMI's region."""
    for image in load_catalog().images:
        for region, owned in image.amis.items():
            if owned == ami:
                return image, region
    return None


def provider_region(provider: Any) -> str | None:
    """The region of an explicit AWS provider, when the engine tells the policy about it."""
    region = get(provider.props, "region") if provider is not None else None
    return region if isinstance(region, str) else None


def check_ami_from_catalog(args: ResourceValidationArgs, report: Report) -> None:
    """Launch templates and instances boot an AMI listed in images/catalog.yaml (for their region)."""
    if args.resource_type not in (T.LAUNCH_TEMPLATE, T.EC2_INSTANCE):
        return
    ami = get(args.props, "imageId" if args.resource_type == T.LAUNCH_TEMPLATE else "ami")
    if ami is None:
        args.not_applicable("no AMI is set: the node group's EKS-managed AMI type applies")
    owner = image_for_ami(str(ami))
    if owner is None:
        report(
            f"AMI {ami} is not in images/catalog.yaml: use catalog.ami(<image id>, <region>) "
            "(never an SSM parameter or a 'latest' lookup)"
        )
        return
    image, region = owner
    wanted = provider_region(args.provider)
    if wanted is not None and region != wanted:
        report(
            f"AMI {ami} is {image.id}'s AMI in {region}, not {wanted}: use its {wanted} AMI from the catalog"
        )


ami_from_catalog = ResourcePolicy(
    name="ami-from-catalog",
    description=(
        "Nodes boot only AMIs pinned in images/catalog.yaml, so a node's image never changes by itself."
    ),
    check=check_ami_from_catalog,
)


def check_gpu_instance_types_allowed(args: ResourceValidationArgs, report: Report) -> None:
    """GPU node groups use allowed instance families."""
    if args.resource_type != T.EKS_NODE_GROUP:
        return
    gpus = gpu_instance_types(args.props)
    if not gpus:
        args.not_applicable("not a GPU node group (no NVIDIA GPU instance type)")
    allowed = setting_strings(args, "allowed_gpu_instance_families")
    for gpu in gpus:
        family = gpu.instance_type.split(".", 1)[0]
        if family not in allowed:
            report(
                f"instance type {gpu.instance_type} ({gpu.gpu_model}) is not in an allowed family "
                f"({', '.join(allowed)})"
            )


gpu_instance_types_allowed = ResourcePolicy(
    name="gpu-instance-types-allowed",
    description="GPU pools use the instance families the platform supports and budgets for.",
    check=check_gpu_instance_types_allowed,
    config_schema=schema("allowed_gpu_instance_families"),
)


def check_gpu_pools_tainted(args: ResourceValidationArgs, report: Report) -> None:
    """GPU node groups carry the GPU taint (components/scheduling.py)."""
    if args.resource_type != T.EKS_NODE_GROUP:
        return
    if not gpu_instance_types(args.props):
        args.not_applicable("not a GPU node group (no NVIDIA GPU instance type)")
    effect = EKS_TAINT_EFFECTS[GPU_TAINT_EFFECT]
    if not any(
        get(t, "key") == GPU_TAINT_KEY and get(t, "value") == GPU_TAINT_VALUE and get(t, "effect") == effect
        for t in mappings(get(args.props, "taints"))
    ):
        report(f"add the taint {{key: {GPU_TAINT_KEY}, value: {GPU_TAINT_VALUE}, effect: {effect}}}")


gpu_pools_tainted = ResourcePolicy(
    name="gpu-pools-tainted",
    description="GPU nodes are tainted, so only pods that asked for GPUs are scheduled on them.",
    check=check_gpu_pools_tainted,
)


@dataclass(frozen=True)
class GpuPool:
    """A GPU node group with its launch template and the catalog image it boots (if any)."""

    node_group: PolicyResource
    gpus: list[GpuInstanceType]
    template: PolicyResource | None
    image: ImageEntry | None


def all_gpu_pools(resources: Iterable[PolicyResource]) -> Iterator[GpuPool]:
    """Every GPU node group among ``resources``, with its launch template and catalog image."""
    groups = [(g, gpu_instance_types(g.props)) for g in of_type(resources, T.EKS_NODE_GROUP)]
    for group, gpus in groups:
        if not gpus:
            continue
        templates = of_type(linked(group, "launchTemplate"), T.LAUNCH_TEMPLATE)
        template = templates[0] if templates else None
        ami = get(template.props, "imageId") if template is not None else None
        owner = image_for_ami(str(ami)) if ami is not None else None
        yield GpuPool(group, gpus, template, owner[0] if owner else None)


def gpu_pools(args: StackValidationArgs) -> Iterator[GpuPool]:
    """Every GPU node group of the stack; not applicable when there is none."""
    pools = list(all_gpu_pools(args.resources))
    if not pools:
        args.not_applicable("the stack has no GPU node group")
    yield from pools


def check_gpu_pools_on_catalog_images(args: StackValidationArgs, report: Report) -> None:
    """GPU node groups boot a catalog AMI through their launch template, never an EKS-managed AMI type."""
    for pool in gpu_pools(args):
        name = pool.node_group.name
        if get(pool.node_group.props, "amiType") != "CUSTOM":
            report(
                f"GPU node group {name}: set ami_type='CUSTOM' and boot the catalog AMI from its launch "
                "template (EKS-managed GPU AMI types follow EKS's latest release)",
                pool.node_group.urn,
            )
        elif pool.image is None:
            report(
                f"GPU node group {name}: its launch template must set image_id to an AMI of "
                "images/catalog.yaml",
                pool.node_group.urn,
            )


gpu_pools_on_catalog_images = StackPolicy(
    name="gpu-pools-on-catalog-images",
    description="GPU pools run the driver and CUDA pinned in the catalog, never an image EKS picks.",
    check=check_gpu_pools_on_catalog_images,
)


def check_gpu_image_compatible(args: StackValidationArgs, report: Report) -> None:
    """The pool's image supports its GPUs and CUDA, and its kubelet matches the cluster."""
    catalog = load_catalog()
    clusters = of_type(args.resources, T.EKS_CLUSTER)
    for pool in gpu_pools(args):
        if pool.image is None:
            continue  # gpu-pools-on-catalog-images reports it
        for gpu in pool.gpus:
            for problem in check_image_for_gpu(pool.image, gpu.gpu_model, catalog=catalog):
                report(
                    f"GPU node group {pool.node_group.name} ({gpu.instance_type}): {problem.message}; "
                    "pick a catalog image that supports this GPU (mlenv images list)",
                    pool.node_group.urn,
                )
        cluster = of_type(linked(pool.node_group, "clusterName"), T.EKS_CLUSTER) or clusters[:1]
        version = get(cluster[0].props, "version") if cluster else None
        if isinstance(version, str) and version != pool.image.kubernetes_version:
            report(
                f"GPU node group {pool.node_group.name}: image {pool.image.id} has kubelet "
                f"{pool.image.kubernetes_version} but the cluster runs {version}; use an image "
                f"built for {version}",
                pool.node_group.urn,
            )


gpu_image_compatible = StackPolicy(
    name="gpu-image-compatible",
    description=(
        "A GPU pool's driver supports its GPU and its containers' CUDA, and its kubelet matches the cluster."
    ),
    check=check_gpu_image_compatible,
)


def _efa_interfaces(template: PolicyResource | None) -> int:
    if template is None:
        return 0
    return sum(
        1 for i in mappings(get(template.props, "networkInterfaces")) if get(i, "interfaceType") == "efa"
    )


def check_efa_pools(args: StackValidationArgs, report: Report) -> None:
    """EFA pools: one subnet, a cluster placement group."""
    efa = [pool for pool in gpu_pools(args) if _efa_interfaces(pool.template)]
    if not efa:
        args.not_applicable("no GPU node group uses EFA interfaces")
    for pool in efa:
        assert pool.template is not None
        subnets = strings(get(pool.node_group.props, "subnetIds"))
        if len(subnets) != 1:
            report(
                f"EFA node group {pool.node_group.name} spans {len(subnets)} subnets: give it exactly one "
                "(one AZ), or EFA traffic crosses zones and the placement group cannot hold",
                pool.node_group.urn,
            )
        groups = of_type(linked(pool.template, "placement"), T.PLACEMENT_GROUP)
        if not groups or get(groups[0].props, "strategy") != "cluster":
            report(
                f"EFA node group {pool.node_group.name}: its launch template must place instances in a "
                "placement group with strategy 'cluster'",
                pool.node_group.urn,
            )


efa_pools_colocated = StackPolicy(
    name="efa-pools-colocated",
    description=(
        "EFA training pools sit in one subnet and a cluster placement group, so nodes are network-close."
    ),
    check=check_efa_pools,
)
