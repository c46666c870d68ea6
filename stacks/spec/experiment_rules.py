"""Can an experiment run as asked? Instance type and image, checked before anything is created.

The same rules guard both doors: `mlenv exp up` checks its options before it reserves anything in the
ledger (``check_request`` -> ``ExperimentRequestError``), and the spec validator checks the
``experiment`` section of a stack file (``experiment_request_is_valid`` in ``stacks.spec.rules.RULES``),
so `mlenv plan experiment` and `pulumi up` refuse the same requests. Facts come from
images/catalog.yaml (image, AMI per region), images/gpu_instance_types.json (GPUs per node, CPU
architecture) and images/compat.py (GPU <-> CUDA <-> driver).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from images.catalog import Catalog, load_catalog
from images.compat import GPU_COMPUTE_CAPABILITY, check_image_for_gpu, suggest_images
from images.errors import ImagesError
from images.instance_types import GpuInstanceType, InstanceTypeData, load_instance_types
from stacks.errors import SpecProblem

if TYPE_CHECKING:
    from stacks.spec.model import EnvironmentSpec


def _instance_problem(
    instance_type: str, data: InstanceTypeData
) -> tuple[GpuInstanceType | None, str | None]:
    try:
        gpu = data.gpu_info(instance_type)
    except ImagesError as exc:
        return None, str(exc)
    if gpu.gpu_count < 1:
        return None, (
            f"{instance_type} has a fraction of a GPU ({gpu.gpu_partition_size:g} of a {gpu.gpu_model}); "
            "experiments reserve whole GPUs: choose a type with at least one full GPU"
        )
    if gpu.gpu_model not in GPU_COMPUTE_CAPABILITY:
        return None, (
            f"{instance_type} has a {gpu.gpu_model} GPU, whose compute capability images/compat.py does "
            "not know; choose another instance type or add the GPU there"
        )
    return gpu, None


def request_problems(
    *,
    instance_type: str,
    image: str,
    region: str,
    catalog: Catalog | None = None,
    data: InstanceTypeData | None = None,
) -> list[SpecProblem]:
    """Every reason ``instance_type`` cannot run ``image`` in ``region``, all at once; each problem's path
    is the request field it is about (``instance_type`` or ``image``)."""
    catalog = catalog or load_catalog()
    data = data or load_instance_types()
    problems: list[SpecProblem] = []
    gpu, instance_problem = _instance_problem(instance_type, data)
    if instance_problem is not None:
        problems.append(SpecProblem("instance_type", instance_type, instance_problem))
    try:
        entry = catalog.image(image)
        catalog.ami(image, region)
    except ImagesError as exc:
        problems.append(SpecProblem("image", image, str(exc)))
        return problems
    if gpu is None:
        return problems
    if entry.architecture not in gpu.cpu_architectures:
        problems.append(
            SpecProblem(
                "image",
                image,
                f"{image} is built for {entry.architecture}, but {instance_type} runs "
                f"{', '.join(gpu.cpu_architectures)}",
            )
        )
    incompatible = check_image_for_gpu(entry, gpu.gpu_model, catalog=catalog)
    if incompatible:
        reasons = "; ".join(dict.fromkeys(p.message for p in incompatible))
        fits = suggest_images(catalog, gpu.gpu_model, None, region, architecture=entry.architecture)
        hint = f"use {fits[0]} instead" if fits else f"no catalog image fits {gpu.gpu_model} in {region}"
        problems.append(
            SpecProblem(
                "image",
                image,
                f"{image} cannot run on {gpu.gpu_model} ({instance_type}): {reasons}; {hint}",
            )
        )
    return problems


def experiment_request_is_valid(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """The RULES entry: an experiment section's GPUs, instance type and image work together."""
    experiment = spec.experiment
    if spec.kind != "experiment" or experiment is None:
        return
    for problem in request_problems(
        instance_type=experiment.instance_type,
        image=experiment.image,
        region=spec.region,
    ):
        yield SpecProblem(f"experiment.{problem.path}", problem.received, problem.message)
