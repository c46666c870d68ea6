"""Packer manifest parsing and the catalog update: a new entry is appended, nothing else changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from images.build_spec import load_build_spec
from images.catalog import DEFAULT_CATALOG_PATH, load_catalog
from images.catalog_update import add_image_entry, entry_from_build, placeholder_entry
from images.errors import CatalogError, PackerError
from images.packer_manifest import ManifestBuild, load_manifest, parse_manifest

FIXTURES = Path(__file__).with_name("fixtures")
MANIFEST = FIXTURES / "packer-manifest.json"
SPEC = FIXTURES / "build-spec.yaml"


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, path)
    return path


def test_manifest_last_run_is_the_build_of_last_run_uuid() -> None:
    manifest = load_manifest(MANIFEST)
    assert len(manifest.builds) == 2  # Packer appends runs to an existing manifest
    build = manifest.last_build()
    assert build.packer_run_uuid == manifest.last_run_uuid
    assert build.builder_type == "amazon-ebs"
    assert build.amis == {"us-east-1": "ami-0123456789abcdef1", "us-west-2": "ami-0fedcba9876543210"}
    assert build.custom_data["image_id"] == "al2023-nvidia-580-k8s1.33-20251201"


def test_the_example_manifest_of_packers_documentation_parses() -> None:
    # Verbatim from Packer's manifest post-processor docs (website/content/docs/post-processors/
    # manifest.mdx): a docker build, so it has files but no AMIs.
    manifest = load_manifest(FIXTURES / "packer-manifest-docs-example.json")
    build = manifest.last_build()
    assert (build.name, build.builder_type, build.build_time) == ("docker", "docker", 1507245986)
    assert build.files == ({"name": "packer_example", "size": 102219776},)
    assert build.custom_data == {"my_custom_data": "example"}
    with pytest.raises(PackerError, match="not 'region:ami-id'"):
        _ = build.amis


def test_manifest_written_with_strip_time_has_no_build_time() -> None:
    text = MANIFEST.read_text(encoding="utf-8").replace('"build_time": 1764583200,', "")
    assert parse_manifest(text).last_build().build_time is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[]", "expected an object"),
        ('{"builds": [], "last_run_uuid": 3}', "last_run_uuid"),
        ('{"builds": [{"name": "gpu"}], "last_run_uuid": "x"}', "builder_type"),
        ("not json", "not valid JSON"),
    ],
)
def test_manifest_not_in_packer_format_is_a_packer_error(text: str, fragment: str) -> None:
    with pytest.raises(PackerError, match=fragment):
        parse_manifest(text)


@pytest.mark.parametrize(
    "artifact_id", ["Container", "us-east-1:ami-0123456789abcdef1,us-east-1:ami-0123456789abcdef2"]
)
def test_artifact_id_that_is_not_region_ami_pairs_is_refused(artifact_id: str) -> None:
    build = ManifestBuild("gpu", "amazon-ebs", 0, artifact_id, "uuid")
    with pytest.raises(PackerError):
        _ = build.amis


def _entry() -> dict[str, object]:
    spec = load_build_spec(SPEC)
    build = load_manifest(MANIFEST).last_build()
    return entry_from_build(
        spec, build, load_catalog(), template_digest="sha256:" + "a" * 64, packer_version="x"
    )


def test_build_adds_a_new_entry_with_amis_and_provenance(catalog_copy: Path) -> None:
    change = add_image_entry(catalog_copy, _entry())

    catalog = load_catalog(catalog_copy)
    image = catalog.image("al2023-nvidia-580-k8s1.33-20251201")
    assert image.amis == {"us-east-1": "ami-0123456789abcdef1", "us-west-2": "ami-0fedcba9876543210"}
    assert image.provenance is not None
    assert image.provenance.source_ami == "ami-0123456789abcdef0"
    assert image.provenance.packer_version == "1.11.2"
    assert image.provenance.build_id == "6d5d3185-fa95-44e1-8775-9e64fe2e2d8f"
    assert image.provenance.built_at is not None and image.provenance.built_at.isoformat().startswith(
        "2025-12-01"
    )
    assert image.provenance.container_digests == {c.id: c.digest for c in catalog.containers_of(image.id)}
    assert catalog.image_ids[-1] == image.id
    assert "+  - id: al2023-nvidia-580-k8s1.33-20251201" in change.diff


def test_update_keeps_every_existing_line_order_and_comment(catalog_copy: Path) -> None:
    before = catalog_copy.read_text(encoding="utf-8")
    change = add_image_entry(catalog_copy, _entry())
    after = catalog_copy.read_text(encoding="utf-8")
    assert after == change.after

    # Only additions: removing the added lines gives back the original file byte for byte.
    added = [
        line[1:]
        for line in change.diff.splitlines(keepends=True)
        if line.startswith("+") and not line.startswith("+++")
    ]
    assert not [
        line for line in change.diff.splitlines() if line.startswith("-") and not line.startswith("---")
    ]
    old_lines, new_lines = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(new_lines) == len(old_lines) + len(added)
    start = next(i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b)
    assert new_lines[:start] + new_lines[start + len(added) :] == old_lines
    assert load_catalog(DEFAULT_CATALOG_PATH).image_ids == load_catalog(catalog_copy).image_ids[:-1]


def test_existing_id_is_refused_and_the_file_untouched(catalog_copy: Path) -> None:
    before = catalog_copy.read_text(encoding="utf-8")
    entry = _entry() | {"id": "al2023-nvidia-580-k8s1.33-20251020"}
    with pytest.raises(CatalogError, match="already in"):
        add_image_entry(catalog_copy, entry)
    assert catalog_copy.read_text(encoding="utf-8") == before


def test_entry_that_would_break_the_catalog_is_refused(catalog_copy: Path) -> None:
    before = catalog_copy.read_text(encoding="utf-8")
    # Reusing another image's AMI is something only the whole-catalog validation can see.
    entry = _entry() | {"amis": {"us-east-1": "ami-f513894e2b89aa3a7"}}
    with pytest.raises(CatalogError, match="would make the catalog invalid"):
        add_image_entry(catalog_copy, entry)
    assert catalog_copy.read_text(encoding="utf-8") == before


def test_build_options_are_recorded_and_must_match_the_manifest() -> None:
    spec = load_build_spec(SPEC)
    build = load_manifest(MANIFEST).last_build()
    provenance = _entry()["provenance"]
    assert isinstance(provenance, dict)
    assert {k: provenance[k] for k in ("fabric_manager", "efa", "kernel_modules")} == {
        "fabric_manager": False,
        "efa": False,
        "kernel_modules": "open",
    }
    efa_spec = spec.model_copy(update={"build": spec.build.model_copy(update={"efa": True})})
    with pytest.raises(PackerError, match="efa='false'"):
        entry_from_build(efa_spec, build, load_catalog(), template_digest="sha256:x", packer_version="x")


def test_manifest_of_another_build_is_refused() -> None:
    spec = load_build_spec(SPEC)
    other = load_manifest(MANIFEST).builds[0]  # an older run, another image id
    with pytest.raises(PackerError, match="does not describe this build"):
        entry_from_build(spec, other, load_catalog(), template_digest="sha256:x", packer_version="x")


def test_placeholder_entry_checks_a_spec_before_any_build(catalog_copy: Path) -> None:
    spec = load_build_spec(SPEC)
    change = add_image_entry(catalog_copy, placeholder_entry(spec), write=False)
    assert change.after != change.before
    assert catalog_copy.read_text(encoding="utf-8") == change.before
