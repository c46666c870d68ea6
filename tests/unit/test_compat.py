"""GPU <-> CUDA <-> driver rules, table-driven. Expected values come from NVIDIA's publications (cited
per table below) and from EC2's instance-type data, never from images/compat.py's own tables."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from images.catalog import Catalog, ImageEntry, load_catalog
from images.compat import (
    CompatProblem,
    check_image_for_gpu,
    compute_capability,
    cuda_supports_gpu,
    driver_supports_cuda,
    driver_supports_gpu,
    min_cuda_for_gpu,
    min_driver_for_cuda,
    parse_version,
    suggest_images,
)
from images.errors import CompatError
from images.instance_types import load_instance_types


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _image(catalog: Catalog, branch: int) -> ImageEntry:
    """The newest catalog image of a driver branch (found by its facts, not its id)."""
    return [image for image in catalog.images if image.driver_branch == branch][-1]


def test_every_gpu_in_ec2_data_has_a_compute_capability_and_cuda_range() -> None:
    models = {record.gpu_model for record in load_instance_types().instance_types.values()}
    assert models, "the committed instance-type data lists no GPUs"
    for model in sorted(models):
        assert min_cuda_for_gpu(model)  # raises CompatError if either table lacks the model


# https://developer.nvidia.com/cuda-gpus
@pytest.mark.parametrize(
    ("gpu", "cc"),
    [
        ("V100", "7.0"),
        ("T4", "7.5"),
        ("A100", "8.0"),
        ("A10G", "8.6"),
        ("L4", "8.9"),
        ("L40S", "8.9"),
        ("H100", "9.0"),
        ("H200", "9.0"),
        ("B200", "10.0"),
    ],
)
def test_compute_capability_matches_nvidia(gpu: str, cc: str) -> None:
    assert compute_capability(gpu) == cc


# CUDA 12.8 introduced Blackwell (sm_100); CUDA 13.0 dropped Volta (sm_70); Hopper since CUDA 11.8.
@pytest.mark.parametrize(
    ("cuda", "gpu", "kind"),
    [
        ("12.4", "B200", "cuda-too-old-for-gpu"),
        ("12.8", "B200", None),
        ("13.0", "B200", None),
        ("13.0", "V100", "cuda-dropped-gpu"),
        ("12.9", "V100", None),
        ("12.8", "H100", None),
        ("11.8", "H100", None),
        ("11.0", "A10G", "cuda-too-old-for-gpu"),
        ("13.0", "T4", None),
        ("12.10", "B200", None),
    ],
)
def test_cuda_supports_gpu(cuda: str, gpu: str, kind: str | None) -> None:
    problem = cuda_supports_gpu(cuda, gpu)
    assert (problem.kind if problem else None) == kind
    if problem is not None:
        assert (problem.gpu_model, problem.cuda, problem.compute_capability) == (
            gpu,
            cuda,
            compute_capability(gpu),
        )
        assert gpu in problem.message and cuda in problem.message


# CUDA Toolkit release notes, "CUDA Toolkit and Corresponding Driver Versions" (Linux x86_64).
@pytest.mark.parametrize(
    ("driver", "cuda", "ok"),
    [
        ("570.26", "12.8", True),
        ("570.124.06", "12.8", True),  # a string compare would call 570.124.06 < 570.26
        ("570.133.20", "12.8", True),
        ("565.57.01", "12.8", False),
        ("535.183.06", "12.8", False),
        ("535.183.06", "12.2", True),
        ("580.65.06", "13.0", True),
        ("575.57.08", "13.0", False),
        ("580.95.05", "12.4", True),
    ],
)
def test_driver_supports_cuda(driver: str, cuda: str, ok: bool) -> None:
    assert driver_supports_cuda(driver, cuda) is ok


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: compute_capability("H10O"), "Did you mean 'H100'"),
        (lambda: min_driver_for_cuda("12.7"), "unknown CUDA version '12.7'"),
        (lambda: parse_version("12.x"), "not a version number"),
    ],
)
def test_unknown_values_raise_compat_error(call: Callable[[], object], expected: str) -> None:
    with pytest.raises(CompatError, match=expected):
        call()


@pytest.mark.parametrize(
    ("driver", "gpu", "kind"),
    [
        ("535.183.06", "B200", "driver-too-old-for-gpu"),
        ("570.172.08", "B200", None),
        ("580.95.05", "V100", None),  # R580 is the last branch supporting Volta
        ("590.44.01", "V100", "driver-dropped-gpu"),
        ("590.44.01", "T4", None),
    ],
)
def test_driver_supports_gpu(driver: str, gpu: str, kind: str | None) -> None:
    problem = driver_supports_gpu(driver, gpu)
    assert (problem.kind if problem else None) == kind


def _kinds(problems: list[CompatProblem]) -> set[str]:
    return {problem.kind for problem in problems}


def test_b200_with_a_cuda_12_4_container_is_incompatible(catalog: Catalog) -> None:
    problems = check_image_for_gpu(_image(catalog, 570), "B200", "12.4")
    assert _kinds(problems) == {"cuda-too-old-for-gpu"}
    assert problems[0].compute_capability == "10.0" and problems[0].cuda == "12.4"


def test_v100_with_a_cuda_13_image_is_incompatible(catalog: Catalog) -> None:
    image = _image(catalog, 580)
    assert "13.0" in catalog.workload_cudas(image.id)
    problems = check_image_for_gpu(image, "V100", catalog=catalog)
    assert _kinds(problems) == {"cuda-dropped-gpu"}
    assert [p.cuda for p in problems] == ["13.0"]


def test_h100_with_cuda_12_8_is_compatible(catalog: Catalog) -> None:
    assert check_image_for_gpu(_image(catalog, 570), "H100", "12.8") == []


def test_driver_too_old_for_the_container_cuda(catalog: Catalog) -> None:
    image = _image(catalog, 535)
    problems = check_image_for_gpu(image, "A10G", ["12.8", "12.2"])
    assert _kinds(problems) == {"driver-too-old-for-cuda"}
    (problem,) = problems
    assert (problem.driver, problem.cuda) == (image.driver_version, "12.8")
    assert image.id in problem.message and "570.26" in problem.message


def test_without_container_cuda_the_image_cuda_max_is_checked(catalog: Catalog) -> None:
    image = _image(catalog, 580)
    assert _kinds(check_image_for_gpu(image, "V100")) == {"cuda-dropped-gpu"}


def test_unknown_gpu_and_cuda_are_problems_not_exceptions(catalog: Catalog) -> None:
    image = _image(catalog, 580)
    assert _kinds(check_image_for_gpu(image, "X9000", "12.8")) == {"unknown-gpu"}
    assert _kinds(check_image_for_gpu(image, "H100", "12.7")) == {"unknown-cuda"}


@pytest.mark.parametrize(
    ("gpu", "cuda", "region"),
    [
        ("B200", None, "us-west-2"),
        ("B200", "12.8", "us-east-1"),
        ("V100", "12.8", "us-east-1"),
        ("H100", "13.0", "us-west-2"),
        ("L40S", "12.2", "us-west-2"),
    ],
)
def test_suggestions_are_exactly_the_images_that_work(
    catalog: Catalog, gpu: str, cuda: str | None, region: str
) -> None:
    suggested = suggest_images(catalog, gpu, cuda, region)
    assert suggested, f"no image suggested for {gpu} / CUDA {cuda} in {region}"
    working = {
        image.id
        for image in catalog.images
        if region in image.amis and not check_image_for_gpu(image, gpu, cuda, catalog=catalog)
    }
    assert set(suggested) == working
    drivers = [parse_version(catalog.image(image_id).driver_version) for image_id in suggested]
    assert drivers == sorted(drivers, reverse=True)
    for image_id in suggested:
        assert catalog.ami(image_id, region)


@pytest.mark.parametrize(("gpu", "cuda"), [("V100", "13.0"), ("B200", "12.4")])
def test_no_suggestion_when_the_cuda_cannot_run_on_the_gpu(catalog: Catalog, gpu: str, cuda: str) -> None:
    assert suggest_images(catalog, gpu, cuda, "us-east-1") == []


def test_suggestions_filter_by_kubernetes_version(catalog: Catalog) -> None:
    version = catalog.images[-1].kubernetes_version
    suggested = suggest_images(catalog, "H100", "12.8", "us-east-1", kubernetes_version=version)
    assert suggested
    assert {catalog.image(i).kubernetes_version for i in suggested} == {version}


def _with_modules(image: ImageEntry, modules: str) -> ImageEntry:
    assert image.provenance is not None
    provenance = image.provenance.model_copy(update={"kernel_modules": modules})
    return image.model_copy(update={"provenance": provenance})


@pytest.mark.parametrize(
    ("gpu", "modules", "refused"),
    [
        ("V100", "open", True),  # Volta predates the open modules (Turing and newer)
        ("V100", "proprietary", False),
        ("T4", "open", False),  # Turing: the first the open modules support
        ("H100", "proprietary", False),
        ("B200", "proprietary", True),  # Blackwell needs the open modules
        ("B200", "open", False),
    ],
)
def test_kernel_modules_against_the_gpu(catalog: Catalog, gpu: str, modules: str, refused: bool) -> None:
    image = _with_modules(_image(catalog, 580), modules)
    problems = check_image_for_gpu(image, gpu, "12.8")
    assert ("kernel-modules-unsupported" in _kinds(problems)) is refused, problems
