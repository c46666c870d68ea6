"""Rendering image templates from catalog entries and build specs (packer validate: tests/integration)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from images.build_spec import (
    BuildParams,
    load_build_spec,
    params_for_entry,
    parse_build_spec,
    target_for_entry,
)
from images.catalog import load_catalog
from images.errors import BuildSpecError
from images.render import MAIN_FILE, PLUGINS_FILE, hcl_string, render_template

CATALOG = load_catalog()
SOURCE_AMI = "ami-0123456789abcdef0"
EXAMPLE_SPECS = sorted((Path(__file__).parents[2] / "images" / "builds").glob("*.yaml"))


@pytest.mark.parametrize("image_id", CATALOG.image_ids)
@pytest.mark.parametrize(("fabric_manager", "efa"), [(None, None), (True, True)])
def test_every_catalog_entry_renders_with_its_pins(
    image_id: str, fabric_manager: bool | None, efa: bool | None
) -> None:
    entry = CATALOG.image(image_id)
    # No source AMI given: the one the entry's provenance records is pinned.
    params = params_for_entry(entry, fabric_manager=fabric_manager, efa=efa)
    files = render_template(target_for_entry(entry, CATALOG), params).files
    main = files[MAIN_FILE]

    assert entry.provenance is not None and entry.provenance.source_ami is not None
    assert f'source_ami         = "{entry.provenance.source_ami}"' in main
    assert "source_ami_filter" not in main and "most_recent" not in main
    assert f'driver_version     = "{entry.driver_version}"' in main
    for container in CATALOG.containers_of(image_id):
        assert f'"{container.repository}@{container.digest}"' in main
    # Every script the template calls is rendered, and no other.
    called = set(re.findall(r'"\$\{path\.root\}/(scripts/[^"]+)"', main))
    assert called == {name for name in files if name.startswith("scripts/")}
    # A flag left out means "as the entry's provenance records".
    recorded = entry.provenance
    assert ("scripts/40-fabric-manager.sh" in files) is bool(
        recorded.fabric_manager if fabric_manager is None else fabric_manager
    )
    assert ("scripts/50-efa.sh" in files) is bool(recorded.efa if efa is None else efa)
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
    hand_registered = CATALOG.images[0].model_copy(update={"provenance": None})
    with pytest.raises(BuildSpecError, match="--source-ami"):
        params_for_entry(hand_registered)
    assert params_for_entry(hand_registered, source_ami=SOURCE_AMI).source_ami == SOURCE_AMI


def test_rerendering_an_entry_reuses_its_recorded_build_options() -> None:
    entry = CATALOG.images[0]
    assert entry.provenance is not None
    built = entry.model_copy(
        update={
            "provenance": entry.provenance.model_copy(
                update={"fabric_manager": True, "efa": True, "kernel_modules": "proprietary"}
            )
        }
    )
    recorded = params_for_entry(built)
    assert (recorded.fabric_manager, recorded.efa, recorded.kernel_modules) == (True, True, "proprietary")
    assert recorded.regions == tuple(entry.amis)
    # An explicit option wins over the record; None means "as recorded".
    overridden = params_for_entry(built, source_ami=SOURCE_AMI, fabric_manager=False, efa=None)
    assert (overridden.source_ami, overridden.fabric_manager, overridden.efa) == (SOURCE_AMI, False, True)
    files = render_template(target_for_entry(built, CATALOG), recorded).files
    assert '"NVIDIA_KERNEL_MODULES=proprietary"' in files[MAIN_FILE]
    assert {"scripts/40-fabric-manager.sh", "scripts/50-efa.sh"} <= set(files)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "image: {id: X}\nbuild: {source_ami: ami-latest, regions: [], instance_type: G5}\n",
            [
                "image.id: expected an id of lowercase letters",
                "image.driver_version: Field required",
                "build.source_ami: expected an AMI id",
                "build.regions:",
                "build.instance_type: expected an EC2 instance type",
            ],
        ),
        ("image: {}\nimage: {}\nbuild: {}\n", ["duplicate key 'image'"]),
        ("- a list\n", ["expected a mapping with `image` and `build`"]),
        ("image: [\n", ["not valid YAML"]),
    ],
)
def test_malformed_build_spec_reports_every_problem_in_words(text: str, fragments: list[str]) -> None:
    with pytest.raises(BuildSpecError) as info:
        parse_build_spec(text, source="spec.yaml")
    message = str(info.value)
    assert message.startswith("spec.yaml:")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_example_build_specs_render(spec_path: Path) -> None:
    spec = load_build_spec(spec_path)
    files = render_template(target_for_entry(spec.image, CATALOG), spec.build).files
    assert spec.image.id in files[MAIN_FILE]


def test_build_params_report_every_problem_at_once() -> None:
    with pytest.raises(Exception) as info:
        BuildParams.model_validate({"source_ami": "ami-latest", "regions": ["us-east-1", "us-east-1"]})
    assert "source_ami" in str(info.value)
