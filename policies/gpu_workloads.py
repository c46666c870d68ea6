"""GPU workloads: they ask for GPUs with limits, land on a GPU pool that fits them, and their CUDA
runs on that pool's driver and GPU (images/compat.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from components.scheduling import GPU_RESOURCE, LABEL_POOL
from images.catalog import load_catalog
from images.compat import check_image_for_gpu
from policies import resource_types as T
from policies.gpu_pools import GpuPool, all_gpu_pools
from policies.joins import of_type
from policies.karpenter import elastic_pools, node_pool_labels
from policies.policy_types import Report, ResourcePolicy, StackPolicy
from policies.properties import get, mappings, number
from policies.workloads import (
    catalog_container,
    containers,
    gpu_limit,
    parse_image,
    pod_gpus,
    pod_spec,
    tolerates_gpu_taint,
)


def _is_system_container(container: Any) -> bool:
    image = get(container, "image")
    entry = catalog_container(parse_image(image)) if isinstance(image, str) else None
    return entry is not None and entry.purpose == "system"


def check_gpu_limits(args: ResourceValidationArgs, report: Report) -> None:
    """GPU requests equal limits; pods that tolerate the GPU taint ask for GPUs."""
    if args.resource_type not in T.WORKLOADS:
        return
    pod = pod_spec(args.resource_type, args.props)
    if pod is None:
        args.not_applicable("the workload has no pod spec")
    for container in containers(pod):
        requested = get(container, ("resources", "requests", GPU_RESOURCE))
        if requested is not None and number(requested) != gpu_limit(container):
            report(
                f"container {get(container, 'name')}: set resources.limits['{GPU_RESOURCE}'] equal to its "
                f"request ({requested}); extended resources are scheduled by their limit"
            )
    if (
        tolerates_gpu_taint(pod)
        and pod_gpus(pod) == 0
        and not all(_is_system_container(c) for c in containers(pod))
    ):
        report(
            f"the pod tolerates the GPU taint but no container sets resources.limits['{GPU_RESOURCE}']: "
            "set the GPUs it needs, or drop the toleration so it stays off GPU nodes"
        )


gpu_workloads_set_limits = ResourcePolicy(
    name="gpu-workloads-set-limits",
    description="Pods on GPU nodes declare nvidia.com/gpu limits, so the scheduler never overcommits a GPU.",
    check=check_gpu_limits,
)


@dataclass(frozen=True)
class GpuWorkload:
    """A workload that needs GPUs, and the pool its node selector names."""

    resource: PolicyResource
    pod: Any
    gpus: int
    pool: str | None


def gpu_workloads(args: StackValidationArgs) -> Iterator[GpuWorkload]:
    """Workloads with GPU limits; not applicable when there is none."""
    found = []
    for resource in of_type(args.resources, *T.WORKLOADS):
        pod = pod_spec(resource.resource_type, resource.props)
        if pod is not None and (gpus := pod_gpus(pod)):
            pool = get(pod, ("nodeSelector", LABEL_POOL))
            found.append(GpuWorkload(resource, pod, gpus, pool if isinstance(pool, str) else None))
    if not found:
        args.not_applicable("the stack has no workload with GPU limits")
    yield from found


def pools_by_name(args: StackValidationArgs) -> dict[str, GpuPool]:
    """GPU pools by their ``mlenv.io/pool`` node label: node groups and Karpenter NodePools."""
    pools = {
        str(get(pool.node_group.props, ("labels", LABEL_POOL))): pool
        for pool in all_gpu_pools(args.resources)
        if get(pool.node_group.props, ("labels", LABEL_POOL)) is not None
    }
    for pool in elastic_pools(args.resources):
        label = node_pool_labels(pool.node_group.props).get(LABEL_POOL)
        if label is not None:
            pools[str(label)] = pool
    return pools


def check_gpu_workloads_match_pool(args: StackValidationArgs, report: Report) -> None:
    """A GPU workload selects an existing GPU pool of the stack, tolerates it, and fits on one node."""
    workloads = list(gpu_workloads(args))
    pools = pools_by_name(args)
    for workload in workloads:
        name = workload.resource.name
        pool = pools.get(workload.pool) if workload.pool else None
        if pool is None:
            report(
                f"GPU workload {name}: set node_selector {{{LABEL_POOL}: <pool>}} to one of the stack's GPU "
                f"pools ({', '.join(sorted(pools)) or 'none'}); found {workload.pool!r}",
                workload.resource.urn,
            )
            continue
        if not tolerates_gpu_taint(workload.pod):
            report(
                f"GPU workload {name}: tolerate the GPU taint of pool {workload.pool}", workload.resource.urn
            )
        smallest = min(g.gpu_count for g in pool.gpus)
        if workload.gpus > smallest:
            report(
                f"GPU workload {name} needs {workload.gpus} GPUs per pod but pool {workload.pool} "
                "has nodes with "
                f"{smallest}: lower gpus per replica or use a pool with larger instances",
                workload.resource.urn,
            )


gpu_workloads_match_a_pool = StackPolicy(
    name="gpu-workloads-match-a-pool",
    description=(
        "GPU workloads select a GPU pool of the stack that can hold them, so they never stay Pending."
    ),
    check=check_gpu_workloads_match_pool,
)


def check_workload_cuda(args: StackValidationArgs, report: Report) -> None:
    """Each GPU container's CUDA runs on its pool's driver and GPU."""
    catalog = load_catalog()
    workloads = list(gpu_workloads(args))
    pools = pools_by_name(args)
    for workload in workloads:
        pool = pools.get(workload.pool) if workload.pool else None
        if pool is None or pool.image is None:
            continue  # gpu-workloads-match-a-pool / gpu-pools-on-catalog-images report these
        for container in mappings(get(workload.pod, "containers")):
            image = get(container, "image")
            entry = catalog_container(parse_image(image)) if isinstance(image, str) else None
            if entry is None or entry.cuda is None:
                continue  # images-approved-in-catalog reports unknown images
            for gpu in pool.gpus:
                for problem in check_image_for_gpu(pool.image, gpu.gpu_model, entry.cuda, catalog=catalog):
                    report(
                        f"GPU workload {workload.resource.name}, container {get(container, 'name')} "
                        f"({entry.id}, CUDA {entry.cuda}) on pool {workload.pool}: {problem.message}; "
                        "use a container whose CUDA the pool's driver supports, or move it to another pool",
                        workload.resource.urn,
                    )


workload_cuda_compatible = StackPolicy(
    name="workload-cuda-compatible",
    description="A GPU container's CUDA runs on the driver and GPU of the pool it is scheduled on.",
    check=check_workload_cuda,
)
