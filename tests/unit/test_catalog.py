"""The image catalog: the committed file is valid and complete, lookups fail clearly, bad entries are
rejected with their location. Formats are checked against AWS's and NVIDIA's published shapes and
botocore's endpoint data, not against the loader's own patterns."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pydantic
import pytest
import yaml

from images.catalog import DEFAULT_CATALOG_PATH, Catalog, load_catalog, parse_catalog
from images.compat import driver_supports_cuda
from images.errors import CatalogError, ImagesError
from tests.oracles.botocore_models import enum_values

# Published formats: EC2 AMI ids are "ami-" + 17 hex digits (AWS docs, "Find an AMI"); OCI image
# digests are "sha256:" + 64 hex digits (OCI image spec, descriptor digests).
AMI = re.compile(r"ami-[0-9a-f]{17}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def raw() -> dict[str, Any]:
    """The committed catalog as plain YAML data, to derive invalid variants from."""
    data = yaml.safe_load(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def _parse(data: dict[str, Any]) -> Catalog:
    return parse_catalog(yaml.safe_dump(data), source="test-catalog.yaml")


def test_committed_catalog_loads_once_per_process(catalog: Catalog) -> None:
    assert load_catalog() is load_catalog()
    assert len(catalog.images) >= 3


def test_every_ami_and_digest_is_well_formed(catalog: Catalog) -> None:
    for image in catalog.images:
        for region, ami in image.amis.items():
            assert AMI.fullmatch(ami), f"{image.id} {region}: {ami}"
    for container in catalog.containers.values():
        assert DIGEST.fullmatch(container.digest), container.id
        assert container.ref.endswith("@" + container.digest)


def test_regions_are_ec2_regions_and_architectures_are_ec2_architectures(catalog: Catalog) -> None:
    ec2_regions = set(boto3.session.Session().get_available_regions("ec2"))
    architectures = enum_values("ec2", "ArchitectureValues")
    for image in catalog.images:
        assert set(image.amis) <= ec2_regions, image.id
        assert image.architecture in architectures, image.id


def test_catalog_covers_two_driver_branches_and_the_main_regions(catalog: Catalog) -> None:
    assert len({image.driver_branch for image in catalog.images}) >= 2
    for region in ("us-east-1", "us-west-2"):
        assert catalog.images_in_region(region), region


@pytest.mark.parametrize(
    ("repository", "purpose"),
    [
        ("nvcr.io/nvidia/pytorch", "training"),
        ("nvcr.io/nvidia/tritonserver", "serving"),
        ("vllm/vllm-openai", "serving"),
        ("nvcr.io/nvidia/k8s-device-plugin", "system"),
    ],
)
def test_required_containers_are_pinned(catalog: Catalog, repository: str, purpose: str) -> None:
    matches = [c for c in catalog.containers.values() if c.repository == repository]
    assert matches, f"no {repository} container in the catalog"
    for container in matches:
        assert container.purpose == purpose
        assert (container.cuda is not None) == (purpose != "system")
        assert (container.privileged_reason is not None) == (purpose == "system")


def test_device_plugin_chart_is_pinned_to_the_release_of_its_container(catalog: Catalog) -> None:
    chart = catalog.chart("nvidia-device-plugin")
    assert chart.repository == "https://nvidia.github.io/k8s-device-plugin"
    container = catalog.container(chart.container)
    assert container.repository == "nvcr.io/nvidia/k8s-device-plugin"
    # The chart and the device plugin are released together: chart 0.17.4 deploys image v0.17.4.
    assert container.tag == f"v{chart.version}"


def test_every_image_runs_its_own_containers(catalog: Catalog) -> None:
    for image in catalog.images:
        assert driver_supports_cuda(image.driver_version, image.cuda_max), image.id
        for container in catalog.containers_of(image.id):
            if container.cuda is not None:
                assert driver_supports_cuda(image.driver_version, container.cuda), (image.id, container.id)


def test_ids_and_amis_are_unique_in_the_committed_file(raw: dict[str, Any]) -> None:
    ids = [entry["id"] for entry in raw["images"]]
    amis = [ami for entry in raw["images"] for ami in entry["amis"].values()]
    assert len(ids) == len(set(ids))
    assert len(amis) == len(set(amis))


def test_unknown_image_id_names_it_and_lists_known_ids(catalog: Catalog) -> None:
    wanted = catalog.images[-1].id[:-1]  # a typo: last character dropped
    with pytest.raises(CatalogError) as error:
        catalog.image(wanted)
    message = str(error.value)
    assert repr(wanted) in message
    assert f"Did you mean {catalog.images[-1].id!r}" in message
    assert all(image.id in message for image in catalog.images)


def test_region_without_ami_names_region_and_images_that_have_one(catalog: Catalog) -> None:
    image = next(i for i in catalog.images if "us-west-2" not in i.amis)
    with pytest.raises(CatalogError) as error:
        catalog.ami(image.id, "us-west-2")
    message = str(error.value)
    assert image.id in message and "'us-west-2'" in message
    for other in catalog.images_in_region("us-west-2"):
        assert other.id in message


@pytest.mark.parametrize(
    ("lookup", "name"),
    [
        (lambda c, n: c.container(n), "pytorch-99.99"),
        (lambda c, n: c.chart(n), "gpu-operator"),
        (lambda c, n: c.ami(n, "us-east-1"), "al2023-nvidia-999-k8s1.99-20990101"),
    ],
)
def test_other_unknown_lookups_raise_catalog_error(
    catalog: Catalog, lookup: Callable[[Catalog, str], object], name: str
) -> None:
    with pytest.raises(CatalogError, match=re.escape(repr(name))):
        lookup(catalog, name)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _duplicate_first_image(data: dict[str, Any]) -> None:
    clone = copy.deepcopy(data["images"][0])
    clone["amis"] = {"us-east-1": "ami-0123456789abcdef0"}
    data["images"].append(clone)


def _reuse_ami(data: dict[str, Any]) -> None:
    data["images"][1]["amis"]["us-east-1"] = data["images"][0]["amis"]["us-east-1"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set(("images", 0, "amis", "us-east-1"), "ami-12345678"), r"images\[0\].*amis\.us-east-1"),
        (_set(("images", 0, "amis", "us-east-1"), "ami-0123456789ABCDEF0"), r"amis\.us-east-1"),
        (_set(("images", 0, "amis", "mars-north-1x"), "ami-0123456789abcdef0"), r"amis\.mars-north-1x"),
        (_set(("containers", "pytorch-25.01", "digest"), "sha256:abc"), r"pytorch-25\.01\.digest"),
        (_set(("containers", "pytorch-25.01", "digest"), "latest"), r"digest"),
        (_set(("images", 0, "driver_version"), "535"), r"driver_version"),
        (_set(("images", 0, "cuda_max"), "12"), r"cuda_max"),
        (_set(("images", 0, "cuda_max"), 12.8), r"quote versions"),
        (_set(("images", 0, "kubernetes_version"), "v1.33"), r"kubernetes_version"),
        (_set(("images", 0, "colour"), "red"), r"colour: Extra inputs"),
        (_set(("images", 0, "containers"), ["no-such-container"]), r"unknown container 'no-such-container'"),
        (_set(("images", 0, "driver_version"), "570.172.08"), r"-nvidia-570-"),
        (_set(("containers", "pytorch-25.01", "cuda"), None), r"must state the CUDA"),
        (
            _set(("containers", "pytorch-25.01", "privileged_reason"), "x"),
            r"only allowed for purpose: system",
        ),
        (_set(("helm_charts", "nvidia-device-plugin", "version"), "~0.17"), r"exact chart version"),
        (_set(("helm_charts", "nvidia-device-plugin", "container"), "nope"), r"unknown container 'nope'"),
        (_duplicate_first_image, r"appears more than once"),
        (_reuse_ami, r"each build has its own AMIs"),
    ],
)
def test_invalid_catalogs_are_rejected_with_their_location(
    raw: dict[str, Any], mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    mutate(raw)
    with pytest.raises(CatalogError, match=expected) as error:
        _parse(raw)
    assert str(error.value).startswith("test-catalog.yaml: ")
    assert isinstance(error.value, ImagesError) and error.value.exit_code == 2


def test_several_problems_are_reported_together(raw: dict[str, Any]) -> None:
    raw["images"][0]["amis"]["us-east-1"] = "ami-1"
    raw["containers"]["pytorch-25.01"]["digest"] = "sha256:1"
    with pytest.raises(CatalogError, match="2 problems") as error:
        _parse(raw)
    assert "amis.us-east-1" in str(error.value) and "pytorch-25.01.digest" in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("schema_version: 1\nimages: [\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("schema_version: 1\ncontainers: {a: {}, a: {}}\nimages: []\n", "duplicate key 'a'"),
    ],
)
def test_unreadable_catalog_text_is_a_catalog_error(text: str, expected: str) -> None:
    with pytest.raises(CatalogError, match=expected):
        parse_catalog(text)


def test_missing_catalog_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the image catalog"):
        load_catalog(tmp_path / "missing.yaml")


def test_entries_are_frozen(catalog: Catalog) -> None:
    with pytest.raises(pydantic.ValidationError):
        catalog.images[0].driver_version = "999.1.1"  # type: ignore[misc]
