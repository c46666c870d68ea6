"""GPU architecture <-> CUDA <-> NVIDIA driver rules: published facts as tables, read by pure functions.

Three questions decide whether a node image can serve a GPU:

1. Does the CUDA the workloads carry support the GPU's compute capability (not too old for a new GPU,
   not a CUDA major that dropped an old one)?
2. Is the image's driver new enough for that CUDA?
3. Does the image's driver still support the GPU?

``check_image_for_gpu`` answers all three with structured ``CompatProblem`` values (never raises for an
incompatible pair); ``suggest_images`` finds catalog entries with no problems. Versions are compared as
integer tuples, never as strings ("12.10" > "12.9").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from images.catalog import Catalog, ImageEntry
from images.errors import CompatError

Version = tuple[int, ...]

# GPU model, named exactly as EC2 names it in DescribeInstanceTypes (GpuInfo.Gpus[].Name), -> compute
# capability. Source: NVIDIA, "CUDA GPU Compute Capability", https://developer.nvidia.com/cuda-gpus
# EC2-specific names: A10G is the AWS variant of the A10 (GA102, Ampere, 8.6); T4g is the T4 in Graviton
# g5g instances (Turing, 7.5); "RTX PRO Server 6000" is the RTX PRO 6000 Blackwell Server Edition and
# "RTX PRO 4500" the RTX PRO 4500 Blackwell (both 12.0). Every NVIDIA GPU in
# images/gpu_instance_types.json must have a row (a test checks it against EC2's data).
GPU_COMPUTE_CAPABILITY: Final[Mapping[str, str]] = MappingProxyType(
    {
        "V100": "7.0",
        "T4": "7.5",
        "T4g": "7.5",
        "A100": "8.0",
        "A10G": "8.6",
        "L4": "8.9",
        "L40S": "8.9",
        "H100": "9.0",
        "H200": "9.0",
        "B200": "10.0",
        "B300": "10.3",
        "RTX PRO 4500": "12.0",
        "RTX PRO Server 6000": "12.0",
    }
)


@dataclass(frozen=True)
class CudaSupport:
    """The CUDA versions that can build code for one compute capability."""

    introduced: str
    """Lowest CUDA "major.minor" whose compiler targets this compute capability."""
    dropped_in_major: int | None = None
    """First CUDA major that no longer targets it (None: still supported)."""


# Compute capability -> the CUDA range that supports it. Sources: CUDA Toolkit release notes,
# https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html, and the CUDA Features Archive,
# https://docs.nvidia.com/cuda/cuda-features-archive/index.html :
#   * sm_70 (Volta) since CUDA 9.0; CUDA 13.0 "supports all NVIDIA architectures from Turing through
#     Grace Blackwell", i.e. it dropped offline compilation and library support for CC < 7.5.
#   * sm_75 since CUDA 10.0; sm_80 since 11.0; sm_86 since 11.1; sm_89 and sm_90 since 11.8.
#   * sm_100 (B200) and sm_120 (RTX PRO Blackwell) since CUDA 12.8 (Blackwell compatibility guide,
#     https://docs.nvidia.com/cuda/blackwell-compatibility-guide/); sm_103 (B300) since CUDA 12.9
#     ("CUDA Toolkit 12.9 adds compiler target support for SM architecture 10.3").
CC_CUDA_SUPPORT: Final[Mapping[str, CudaSupport]] = MappingProxyType(
    {
        "7.0": CudaSupport("9.0", dropped_in_major=13),
        "7.5": CudaSupport("10.0"),
        "8.0": CudaSupport("11.0"),
        "8.6": CudaSupport("11.1"),
        "8.9": CudaSupport("11.8"),
        "9.0": CudaSupport("11.8"),
        "10.0": CudaSupport("12.8"),
        "10.3": CudaSupport("12.9"),
        "12.0": CudaSupport("12.8"),
    }
)

# CUDA "major.minor" -> minimum Linux x86_64 driver. Source: CUDA Toolkit release notes, table "CUDA
# Toolkit and Corresponding Driver Versions", column "Toolkit Driver Version", GA release of each minor,
# https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html (13.0 GA >= 580.65.06).
# Conservative rule, on purpose: we require the toolkit's own driver and do NOT apply CUDA minor-version
# compatibility (any 12.x on >= 525.60.13, any 13.x on >= 580;
# https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html). Under minor-version
# compatibility, code runs "with limited feature-set": PTX newer than the driver cannot be JIT-compiled,
# which breaks frameworks that ship PTX or JIT kernels (PyTorch extensions, Triton, vLLM). A pool that
# passes this check runs every feature of its containers' CUDA. CUDA 12.7 was never released.
CUDA_MIN_DRIVER: Final[Mapping[str, str]] = MappingProxyType(
    {
        "11.8": "520.61.05",
        "12.0": "525.60.13",
        "12.1": "530.30.02",
        "12.2": "535.54.03",
        "12.3": "545.23.06",
        "12.4": "550.54.14",
        "12.5": "555.42.02",
        "12.6": "560.28.03",
        "12.8": "570.26",
        "12.9": "575.51.03",
        "13.0": "580.65.06",
    }
)

# Compute capability -> the last driver branch that still supports it. Source: NVIDIA technical blog,
# "Navigating GPU Architecture Support: A Guide for NVIDIA CUDA Developers" (2025),
# https://developer.nvidia.com/blog/navigating-gpu-architecture-support-a-guide-for-nvidia-cuda-developers
# : the R580 branch is the last to support Maxwell, Pascal and Volta (CC < 7.5). Only CCs found in EC2.
LAST_DRIVER_BRANCH_FOR_CC: Final[Mapping[str, int]] = MappingProxyType({"7.0": 580})

# EC2 instance families whose GPUs are joined by NVSwitch. On such a host NVIDIA Fabric Manager must be
# running before CUDA can use the GPUs at all. Sources: NVIDIA Fabric Manager User Guide ("NVSwitch-based
# HGX systems"), https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/ ; the EC2 families
# built on HGX A100/H100/H200/B200/B300 boards, https://aws.amazon.com/ec2/instance-types/p4/ , /p5/ , /p6/
# (EC2's DescribeInstanceTypes does not report NVSwitch, so this is a table, not generated data).
NVSWITCH_FAMILIES: Final[frozenset[str]] = frozenset(
    {"p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300"}
)


def needs_fabric_manager(instance_type: str) -> bool:
    """Whether an instance type's GPUs sit on NVSwitch, so its image must run NVIDIA Fabric Manager."""
    return instance_type.split(".", 1)[0] in NVSWITCH_FAMILIES


ProblemKind = Literal[
    "unknown-gpu",
    "unknown-cuda",
    "cuda-too-old-for-gpu",
    "cuda-dropped-gpu",
    "driver-too-old-for-cuda",
    "driver-too-old-for-gpu",
    "driver-dropped-gpu",
    "kernel-modules-unsupported",
]


@dataclass(frozen=True)
class CompatProblem:
    """One reason a GPU, a CUDA version and a driver do not work together, with the facts involved."""

    kind: ProblemKind
    message: str
    gpu_model: str | None = None
    compute_capability: str | None = None
    cuda: str | None = None
    driver: str | None = None


def parse_version(text: str) -> Version:
    """``"580.95.05"`` -> ``(580, 95, 5)``; ``CompatError`` for anything that is not dotted integers."""
    try:
        parts = tuple(int(part) for part in text.split("."))
    except ValueError:
        raise CompatError(f"{text!r} is not a version number (expected digits separated by dots)") from None
    return parts


def _unknown(kind: str, value: str, known: Iterable[str], fix: str) -> CompatError:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return CompatError(f"unknown {kind} {value!r}.{hint} Known: {', '.join(known)}. {fix}")


def compute_capability(gpu_model: str) -> str:
    """Compute capability ("major.minor") of a GPU model as EC2 names it, e.g. ``"H100"`` -> ``"9.0"``."""
    if gpu_model in GPU_COMPUTE_CAPABILITY:
        return GPU_COMPUTE_CAPABILITY[gpu_model]
    raise _unknown(
        "GPU model",
        gpu_model,
        GPU_COMPUTE_CAPABILITY,
        "Add it to GPU_COMPUTE_CAPABILITY in images/compat.py from https://developer.nvidia.com/cuda-gpus.",
    )


def _cuda_support(cc: str) -> CudaSupport:
    if cc in CC_CUDA_SUPPORT:
        return CC_CUDA_SUPPORT[cc]
    raise _unknown(
        "compute capability", cc, CC_CUDA_SUPPORT, "Add it to CC_CUDA_SUPPORT in images/compat.py."
    )


def min_cuda_for_gpu(gpu_model: str) -> str:
    """Lowest CUDA version that supports a GPU model, e.g. ``"B200"`` -> ``"12.8"``."""
    return _cuda_support(compute_capability(gpu_model)).introduced


def min_driver_for_cuda(cuda: str) -> str:
    """Minimum Linux driver for a CUDA "major.minor" (the toolkit's own driver; see CUDA_MIN_DRIVER)."""
    if cuda in CUDA_MIN_DRIVER:
        return CUDA_MIN_DRIVER[cuda]
    raise _unknown(
        "CUDA version",
        cuda,
        CUDA_MIN_DRIVER,
        "Add it to CUDA_MIN_DRIVER in images/compat.py from the CUDA Toolkit release notes.",
    )


def driver_supports_cuda(driver: str, cuda: str) -> bool:
    """Whether a driver version runs every feature of a CUDA version (``CompatError`` if CUDA is unknown)."""
    return parse_version(driver) >= parse_version(min_driver_for_cuda(cuda))


def cuda_supports_gpu(cuda: str, gpu_model: str) -> CompatProblem | None:
    """``None`` if code built with this CUDA can run on the GPU, else the problem (too old or dropped)."""
    cc = compute_capability(gpu_model)
    support = _cuda_support(cc)
    wanted = parse_version(cuda)
    if wanted < parse_version(support.introduced):
        return CompatProblem(
            kind="cuda-too-old-for-gpu",
            message=(
                f"{gpu_model} (compute capability {cc}) needs CUDA >= {support.introduced}, "
                f"but the CUDA is {cuda}"
            ),
            gpu_model=gpu_model,
            compute_capability=cc,
            cuda=cuda,
        )
    if support.dropped_in_major is not None and wanted[0] >= support.dropped_in_major:
        return CompatProblem(
            kind="cuda-dropped-gpu",
            message=(
                f"{gpu_model} (compute capability {cc}) is not supported by CUDA {cuda}: CUDA "
                f"{support.dropped_in_major}.0 dropped compute capability {cc}; "
                f"use CUDA {support.dropped_in_major - 1}.x"
            ),
            gpu_model=gpu_model,
            compute_capability=cc,
            cuda=cuda,
        )
    return None


def driver_supports_gpu(driver: str, gpu_model: str) -> CompatProblem | None:
    """``None`` if the driver can drive the GPU: new enough for the GPU's first CUDA, branch not past
    the last one that supports its architecture."""
    cc = compute_capability(gpu_model)
    first_cuda = _cuda_support(cc).introduced
    if first_cuda in CUDA_MIN_DRIVER and not driver_supports_cuda(driver, first_cuda):
        return CompatProblem(
            kind="driver-too-old-for-gpu",
            message=(
                f"driver {driver} is too old for {gpu_model} (compute capability {cc}): it needs CUDA "
                f">= {first_cuda}, i.e. driver >= {CUDA_MIN_DRIVER[first_cuda]}"
            ),
            gpu_model=gpu_model,
            compute_capability=cc,
            driver=driver,
        )
    last_branch = LAST_DRIVER_BRANCH_FOR_CC.get(cc)
    if last_branch is not None and parse_version(driver)[0] > last_branch:
        return CompatProblem(
            kind="driver-dropped-gpu",
            message=(
                f"driver {driver} no longer supports {gpu_model} (compute capability {cc}): "
                f"R{last_branch} is the last driver branch that does"
            ),
            gpu_model=gpu_model,
            compute_capability=cc,
            driver=driver,
        )
    return None


OPEN_MODULES_MIN_CC: Final = "7.5"
"""NVIDIA's open GPU kernel modules support Turing (7.5) and newer only; older GPUs (Volta V100) need the
proprietary modules. Source: NVIDIA/open-gpu-kernel-modules README ("Turing and later GPUs")."""
PROPRIETARY_MAX_CC: Final = "9.0"
"""Blackwell (10.0+) runs only with the open modules. Source: NVIDIA driver 560+ release notes / NVIDIA
technical blog "NVIDIA transitions fully towards open-source GPU kernel modules" (2024)."""


def kernel_modules_support_gpu(kernel_modules: str, gpu_model: str) -> CompatProblem | None:
    """``None`` if the kernel module flavour an image was built with can drive the GPU."""
    cc = compute_capability(gpu_model)
    if kernel_modules == "open" and parse_version(cc) < parse_version(OPEN_MODULES_MIN_CC):
        why = f"the open kernel modules need Turing (compute capability {OPEN_MODULES_MIN_CC}) or newer"
    elif kernel_modules == "proprietary" and parse_version(cc) > parse_version(PROPRIETARY_MAX_CC):
        why = "Blackwell and newer GPUs need the open kernel modules"
    else:
        return None
    return CompatProblem(
        kind="kernel-modules-unsupported",
        message=f"{gpu_model} (compute capability {cc}) cannot use {kernel_modules} kernel modules: {why}",
        gpu_model=gpu_model,
        compute_capability=cc,
    )


def _cudas_to_check(
    image: ImageEntry, container_cuda: str | Iterable[str] | None, catalog: Catalog | None
) -> tuple[str, ...]:
    if isinstance(container_cuda, str):
        return (container_cuda,)
    if container_cuda is not None:
        return tuple(dict.fromkeys(container_cuda))
    if catalog is not None and (cudas := catalog.workload_cudas(image.id)):
        return cudas
    return (image.cuda_max,)


def check_image_for_gpu(
    image: ImageEntry,
    gpu_model: str,
    container_cuda: str | Iterable[str] | None = None,
    *,
    catalog: Catalog | None = None,
) -> list[CompatProblem]:
    """Every reason ``image`` cannot run CUDA workloads on ``gpu_model``; an empty list means it can.

    The CUDA versions checked are, in order of preference: ``container_cuda`` (the CUDA runtimes of the
    containers that will run on the node); else, with ``catalog``, the CUDA of the image's pre-pulled
    training and serving containers; else the image's ``cuda_max`` (conservative: a workload may use
    any CUDA up to it). Unknown GPU models and CUDA versions are reported as problems, not raised.
    """
    try:
        cc = compute_capability(gpu_model)
    except CompatError as exc:
        return [
            CompatProblem(
                kind="unknown-gpu", message=str(exc), gpu_model=gpu_model, driver=image.driver_version
            )
        ]
    problems: list[CompatProblem] = []
    if (problem := driver_supports_gpu(image.driver_version, gpu_model)) is not None:
        problems.append(problem)
    modules = image.provenance.kernel_modules if image.provenance is not None else None
    if modules is not None and (problem := kernel_modules_support_gpu(modules, gpu_model)) is not None:
        problems.append(problem)
    for cuda in _cudas_to_check(image, container_cuda, catalog):
        if cuda not in CUDA_MIN_DRIVER:
            problems.append(
                CompatProblem(
                    kind="unknown-cuda",
                    message=str(
                        _unknown("CUDA version", cuda, CUDA_MIN_DRIVER, "Its minimum driver is not known.")
                    ),
                    gpu_model=gpu_model,
                    compute_capability=cc,
                    cuda=cuda,
                    driver=image.driver_version,
                )
            )
            continue
        if (problem := cuda_supports_gpu(cuda, gpu_model)) is not None:
            problems.append(problem)
        if not driver_supports_cuda(image.driver_version, cuda):
            problems.append(
                CompatProblem(
                    kind="driver-too-old-for-cuda",
                    message=(
                        f"image {image.id} has driver {image.driver_version} (CUDA <= {image.cuda_max}), "
                        f"too old for CUDA {cuda}, which needs driver >= {CUDA_MIN_DRIVER[cuda]}"
                    ),
                    gpu_model=gpu_model,
                    compute_capability=cc,
                    cuda=cuda,
                    driver=image.driver_version,
                )
            )
    return problems


def suggest_images(
    catalog: Catalog,
    gpu_model: str,
    cuda_needed: str | None,
    region: str,
    *,
    kubernetes_version: str | None = None,
    architecture: str | None = None,
) -> list[str]:
    """Ids of catalog images that would work: an AMI in ``region``, no compatibility problem for
    ``gpu_model`` with ``cuda_needed`` (or, if ``None``, with the image's own workload containers),
    optionally the same Kubernetes version and CPU architecture. Newest driver first."""
    matches = [
        image
        for image in catalog.images_in_region(region)
        if (kubernetes_version is None or image.kubernetes_version == kubernetes_version)
        and (architecture is None or image.architecture == architecture)
        and not check_image_for_gpu(image, gpu_model, cuda_needed, catalog=catalog)
    ]
    matches.sort(key=lambda image: (parse_version(image.driver_version), image.id), reverse=True)
    return [image.id for image in matches]
