"""Rendering image templates from catalog entries and build specs (packer validate: tests/integration)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from images.build_spec import BuildParams, load_build_spec, params_for_entry, target_for_entry
from images.catalog import load_catalog
from images.errors import BuildSpecError
from images.render import MAIN_FILE, PLUGINS_FILE, hcl_string, render_template

CATALOG = load_catalog()
SOURCE_AMI = "ami-0123456789abcdef0"
EXAMPLE_SPECS = sorted((Path(__file__).parents[2] / "images" / "builds").glob("*.yaml"))


@pytest.mark.parametrize("image_id", CATALOG.image_ids)
@pytest.mark.parametrize(("fabric_manager", "efa"), [(False, False), (True, True)])
def test_every_catalog_entry_renders_with_its_pins(image_id: str, fabric_manager: bool, efa: bool) -> None:
    entry = CATALOG.image(image_id)
    params = params_for_entry(entry, source_ami=SOURCE_AMI, fabric_manager=fabric_manager, efa=efa)
    files = render_template(target_for_entry(entry, CATALOG), params).files
    main = files[MAIN_FILE]

    assert f'source_ami         = "{SOURCE_AMI}"' in main
    assert "source_ami_filter" not in main and "most_recent" not in main
    assert f'driver_version     = "{entry.driver_version}"' in main
    for container in CATALOG.containers_of(image_id):
        assert f'"{container.repository}@{container.digest}"' in main
    # Every script the template calls is rendered, and no other.
    called = set(re.findall(r'"\$\{path\.root\}/(scripts/[^"]+)"', main))
    assert called == {name for name in files if name.startswith("scripts/")}
    assert ("scripts/40-fabric-manager.sh" in files) is fabric_manager
    assert ("scripts/50-efa.sh" in files) is efa
    assert 'http_tokens                 = "required"' in main


def test_packer_block_lives_only_in_the_plugins_file() -> None:
    entry = CATALOG.images[0]
    files = render_template(
        target_for_entry(entry, CATALOG), params_for_entry(entry, source_ami=SOURCE_AMI)
    ).files
    assert "required_plugins" in files[PLUGINS_FILE]
    assert not any("packer {" in text for name, text in files.items() if name != PLUGINS_FILE)


def test_legacy_rendering_leaves_out_only_what_old_packer_cannot_parse() -> None:
    entry = CATALOG.images[0]
    params = params_for_entry(entry, source_ami=SOURCE_AMI)
    full = render_template(target_for_entry(entry, CATALOG), params)
    legacy = render_template(target_for_entry(entry, CATALOG), params, legacy_packer=True)
    assert PLUGINS_FILE not in legacy.files
    assert "metadata_options {" not in legacy.files[MAIN_FILE]
    assert "imds_support =" not in legacy.files[MAIN_FILE]
    assert full.digest != legacy.digest


def test_hcl_string_never_lets_text_interpolate() -> None:
    assert hcl_string('a "b" ${c} %{d}') == '"a \\"b\\" $${c} %%{d}"'


def test_entry_without_recorded_source_ami_needs_one() -> None:
    with pytest.raises(BuildSpecError, match="--source-ami"):
        params_for_entry(CATALOG.images[0])


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_example_build_specs_render(spec_path: Path) -> None:
    spec = load_build_spec(spec_path)
    files = render_template(target_for_entry(spec.image, CATALOG), spec.build).files
    assert spec.image.id in files[MAIN_FILE]


def test_build_params_report_every_problem_at_once() -> None:
    with pytest.raises(Exception) as info:
        BuildParams.model_validate({"source_ami": "ami-latest", "regions": ["us-east-1", "us-east-1"]})
    assert "source_ami" in str(info.value)
