"""Plan-time rules for GPU pools: the image, the instance types and the GPU must work together.

Checked before any resource is created (listed in ``stacks.spec.rules.RULES``), from the image
catalog (images/catalog.yaml) and EC2's instance-type data (images/gpu_instance_types.json), so a
pool that could never run its image fails `mlenv plan` and `pulumi up` with a message that names
the pool, the GPU, its compute capability, the CUDA and driver versions and an image that works.
Each rule is ``check_*(spec, catalog, instance_data)``, a pure function; the ``RULES`` entries bind
the default catalog and data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from components.addons import ADDON_VERSIONS
from components.system_ami import SYSTEM_AMI_RELEASES
from images.catalog import Catalog, ImageEntry, load_catalog
from images.compat import (
    GPU_COMPUTE_CAPABILITY,
    CompatProblem,
    check_image_for_gpu,
    min_cuda_for_gpu,
    needs_fabric_manager,
    suggest_images,
)
from images.errors import ImagesError
from images.instance_types import GpuInstanceType, InstanceTypeData, load_instance_types
from stacks.errors import SpecProblem

if TYPE_CHECKING:
    from stacks.spec.model import EnvironmentSpec
    from stacks.spec.pools import GpuPoolSpec

KUBELET_MAX_MINOR_SKEW = 3
"""Kubernetes version-skew policy: a kubelet may be up to three minors older than the API server
(never newer). https://kubernetes.io/releases/version-skew-policy/#kubelet"""


def default_catalog() -> Catalog:
    """The catalog the rules check against (tests substitute their own)."""
    return load_catalog()


def default_instance_data() -> InstanceTypeData:
    """The EC2 GPU instance-type data the rules check against."""
    return load_instance_types()


def _minor(version: str) -> int:
    return int(version.split(".")[1])


def _describe(image: ImageEntry) -> str:
    return f"{image.id} (driver {image.driver_version}, CUDA {image.cuda_max})"


def _resolved_image(
    spec: EnvironmentSpec, i: int, pool: GpuPoolSpec, catalog: Catalog
) -> tuple[ImageEntry | None, SpecProblem | None]:
    try:
        image = catalog.image(pool.image)
        catalog.ami(pool.image, spec.region)
    except ImagesError as exc:
        return None, SpecProblem(f"gpu_pools[{i}].image", pool.image, f"pool {pool.name!r}: {exc}")
    return image, None


def _gpus(pool: GpuPoolSpec, data: InstanceTypeData) -> list[GpuInstanceType | None]:
    found: list[GpuInstanceType | None] = []
    for instance_type in pool.instance_types:
        try:
            found.append(data.gpu_info(instance_type))
        except ImagesError:
            found.append(None)
    return found


def check_images_exist(
    spec: EnvironmentSpec, catalog: Catalog, _data: InstanceTypeData
) -> Iterator[SpecProblem]:
    """Every pool's image is in the catalog and has an AMI in the stack's region."""
    for i, pool in enumerate(spec.gpu_pools):
        _, problem = _resolved_image(spec, i, pool, catalog)
        if problem is not None:
            yield problem


def check_instance_types(
    spec: EnvironmentSpec, _catalog: Catalog, data: InstanceTypeData
) -> Iterator[SpecProblem]:
    """Every instance type is a known NVIDIA GPU type, and a pool's types share one GPU model."""
    for i, pool in enumerate(spec.gpu_pools):
        gpus = _gpus(pool, data)
        for j, (instance_type, gpu) in enumerate(zip(pool.instance_types, gpus, strict=True)):
            if gpu is None:
                try:
                    data.gpu_info(instance_type)
                except ImagesError as exc:
                    yield SpecProblem(f"gpu_pools[{i}].instance_types[{j}]", instance_type, str(exc))
            elif gpu.gpu_model not in GPU_COMPUTE_CAPABILITY:
                yield SpecProblem(
                    f"gpu_pools[{i}].instance_types[{j}]",
                    instance_type,
                    f"{instance_type} has a {gpu.gpu_model} GPU, whose compute capability images/compat.py "
                    "does not know; add it there or choose another instance type",
                )
        models = {g.gpu_model for g in gpus if g is not None}
        if len(models) > 1:
            yield SpecProblem(
                f"gpu_pools[{i}].instance_types",
                list(pool.instance_types),
                f"pool {pool.name!r} mixes GPU models ({', '.join(sorted(models))}); one node group, one "
                "GPU model: split it into one pool per model",
            )


def _pool_problems(
    spec: EnvironmentSpec, pool: GpuPoolSpec, image: ImageEntry, gpu_model: str, catalog: Catalog
) -> list[CompatProblem]:
    """What stops the pool's GPU running its workloads on ``image``. A pool that serves models must run
    their containers' CUDA; otherwise at least one of the image's pre-pulled workload containers: a V100
    pool serving a CUDA 12 container is fine although the image also pre-pulls CUDA 13 ones."""
    served: list[str] = []
    for model in spec.serving.models if spec.serving is not None else ():
        if model.pool == pool.name and model.container in catalog.containers:
            cuda = catalog.containers[model.container].cuda
            served += [cuda] if cuda else []
    if served:
        return check_image_for_gpu(image, gpu_model, served)
    per_cuda = [check_image_for_gpu(image, gpu_model, cuda) for cuda in _cudas(image, catalog)]
    if any(not problems for problems in per_cuda):
        return []
    return [problem for problems in per_cuda for problem in problems]


def _cudas(image: ImageEntry, catalog: Catalog) -> tuple[str, ...]:
    return catalog.workload_cudas(image.id) or (image.cuda_max,)


def check_gpu_runs_image(
    spec: EnvironmentSpec, catalog: Catalog, data: InstanceTypeData
) -> Iterator[SpecProblem]:
    """The GPU can run the CUDA of the image's containers, and the image's driver supports both."""
    for i, pool in enumerate(spec.gpu_pools):
        image, problem = _resolved_image(spec, i, pool, catalog)
        gpus = [g for g in _gpus(pool, data) if g is not None and g.gpu_model in GPU_COMPUTE_CAPABILITY]
        if image is None or problem is not None or not gpus:
            continue  # reported by check_images_exist / check_instance_types
        gpu = gpus[0]
        path = f"gpu_pools[{i}].image"
        if image.architecture not in gpu.cpu_architectures:
            yield SpecProblem(
                path,
                pool.image,
                f"pool {pool.name!r}: {image.id} is built for {image.architecture}, but "
                f"{pool.instance_types[0]} runs {', '.join(gpu.cpu_architectures)}",
            )
        problems = _pool_problems(spec, pool, image, gpu.gpu_model, catalog)
        if not problems:
            continue
        cc = GPU_COMPUTE_CAPABILITY[gpu.gpu_model]
        reasons = "; ".join(dict.fromkeys(p.message for p in problems))
        yield SpecProblem(
            path,
            pool.image,
            f"pool {pool.name!r}: {_describe(image)} cannot run on {gpu.gpu_model} "
            f"({pool.instance_types[0]}, compute capability {cc} needs CUDA >= "
            f"{min_cuda_for_gpu(gpu.gpu_model)}): {reasons}; {_suggestion(catalog, spec, pool, gpu, image)}",
        )


def _suggestion(
    catalog: Catalog, spec: EnvironmentSpec, pool: GpuPoolSpec, gpu: GpuInstanceType, image: ImageEntry
) -> str:
    fits = suggest_images(catalog, gpu.gpu_model, None, spec.region, architecture=image.architecture)
    needed = _host_software_needed(pool)
    fits = [f for f in fits if all(_carries(catalog.image(f), flag) for flag in needed)] or fits
    if spec.cluster is not None:
        fits = [
            f for f in fits if _kubelet_skew_problem(catalog.image(f), spec.cluster.version) is None
        ] or fits
    if not fits:
        return (
            f"no image in the catalog fits {gpu.gpu_model} in {spec.region}; "
            "build one with `mlenv images build`"
        )
    best = catalog.image(fits[0])
    return f"use {_describe(best)} instead"


def check_efa_capable(
    spec: EnvironmentSpec, _catalog: Catalog, data: InstanceTypeData
) -> Iterator[SpecProblem]:
    """``efa: true`` only on instance types with EFA."""
    for i, pool in enumerate(spec.gpu_pools):
        if not pool.efa:
            continue
        for j, (instance_type, gpu) in enumerate(zip(pool.instance_types, _gpus(pool, data), strict=True)):
            if gpu is None or gpu.efa_supported:
                continue
            capable = sorted(
                t.instance_type
                for t in data.instance_types.values()
                if t.gpu_model == gpu.gpu_model and t.efa_supported
            )
            hint = f"EFA-capable {gpu.gpu_model} types: {', '.join(capable)}" if capable else "none has EFA"
            yield SpecProblem(
                f"gpu_pools[{i}].instance_types[{j}]",
                instance_type,
                f"pool {pool.name!r} asks for EFA but {instance_type} has no EFA; {hint}, or set efa: false",
            )


def _host_software_needed(pool: GpuPoolSpec) -> dict[str, str]:
    """What a pool's hosts need on the image beyond the driver: provenance flag -> why."""
    needed: dict[str, str] = {}
    nvswitch = [t for t in pool.instance_types if needs_fabric_manager(t)]
    if nvswitch:
        needed["fabric_manager"] = (
            f"NVIDIA Fabric Manager ({', '.join(nvswitch)} join their GPUs with NVSwitch; without it "
            "CUDA cannot use them)"
        )
    if pool.efa:
        needed["efa"] = "the EFA host software (the pool sets efa: true)"
    return needed


def _carries(image: ImageEntry, flag: str) -> bool:
    return image.provenance is not None and getattr(image.provenance, flag) is True


def check_host_software(
    spec: EnvironmentSpec, catalog: Catalog, _data: InstanceTypeData
) -> Iterator[SpecProblem]:
    """NVSwitch pools run an image with Fabric Manager and EFA pools one with the EFA host software, as
    the image's catalog provenance records; an image that does not record it is refused, not assumed."""
    for i, pool in enumerate(spec.gpu_pools):
        image, problem = _resolved_image(spec, i, pool, catalog)
        if image is None or problem is not None:
            continue
        needed = _host_software_needed(pool)
        missing = [flag for flag in needed if not _carries(image, flag)]
        if not missing:
            continue
        fits = [
            candidate.id
            for candidate in catalog.images_in_region(spec.region)
            if all(_carries(candidate, flag) for flag in needed)
        ]
        hint = (
            f"images that carry it in {spec.region}: {', '.join(fits)}"
            if fits
            else (
                "no catalog image carries it; build one with `mlenv images build` (fabric_manager/efa: true)"
            )
        )
        yield SpecProblem(
            f"gpu_pools[{i}].image",
            pool.image,
            f"pool {pool.name!r}: {image.id} does not record "
            f"{' or '.join(needed[flag] for flag in missing)} in its provenance; {hint}",
        )


def _kubelet_skew_problem(image: ImageEntry, cluster_version: str) -> str | None:
    skew = _minor(cluster_version) - _minor(image.kubernetes_version)
    if skew < 0:
        return f"its kubelet {image.kubernetes_version} is newer than the cluster ({cluster_version})"
    if skew > KUBELET_MAX_MINOR_SKEW:
        return (
            f"its kubelet {image.kubernetes_version} is more than {KUBELET_MAX_MINOR_SKEW} minor versions "
            f"older than the cluster ({cluster_version})"
        )
    return None


def check_kubelet_skew(
    spec: EnvironmentSpec, catalog: Catalog, _data: InstanceTypeData
) -> Iterator[SpecProblem]:
    """The image's kubelet may join the cluster under Kubernetes' version-skew policy."""
    if spec.cluster is None:
        return
    for i, pool in enumerate(spec.gpu_pools):
        image, problem = _resolved_image(spec, i, pool, catalog)
        if image is None or problem is not None:
            continue
        reason = _kubelet_skew_problem(image, spec.cluster.version)
        if reason is not None:
            yield SpecProblem(
                f"gpu_pools[{i}].image", pool.image, f"pool {pool.name!r}: {image.id} cannot join: {reason}"
            )


def check_cluster_version_pinned(spec: EnvironmentSpec, *_: object) -> Iterator[SpecProblem]:
    """The cluster version has pinned core add-on versions and a pinned system node AMI release."""
    if spec.cluster is not None and spec.cluster.version not in ADDON_VERSIONS:
        yield SpecProblem(
            "cluster.version",
            spec.cluster.version,
            f"Kubernetes {spec.cluster.version} has no pinned EKS add-on versions; "
            f"supported: {', '.join(sorted(ADDON_VERSIONS))}",
        )
    if spec.cluster is not None and spec.cluster.version not in SYSTEM_AMI_RELEASES:
        yield SpecProblem(
            "cluster.version",
            spec.cluster.version,
            f"Kubernetes {spec.cluster.version} has no pinned system node AMI release "
            f"(components/system_ami.py); supported: {', '.join(sorted(SYSTEM_AMI_RELEASES))}",
        )


CHECKS = (
    check_images_exist,
    check_instance_types,
    check_gpu_runs_image,
    check_efa_capable,
    check_host_software,
    check_kubelet_skew,
    check_cluster_version_pinned,
)


def check_compute(
    spec: EnvironmentSpec, catalog: Catalog | None = None, data: InstanceTypeData | None = None
) -> list[SpecProblem]:
    """Every compute problem of a spec, against the given (default: committed) catalog and data."""
    if not spec.gpu_pools and spec.cluster is None:
        return []
    catalog = catalog or default_catalog()
    data = data or default_instance_data()
    return [problem for check in CHECKS for problem in check(spec, catalog, data)]


def gpu_pools_are_compatible(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """The RULES entry: every compute check against the committed catalog and instance data."""
    yield from check_compute(spec)
