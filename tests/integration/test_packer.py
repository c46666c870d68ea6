"""The packer wrapper against the real binary (Debian's `packer`), and every catalog template through
`packer validate`, the oracle for rendered HCL."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from images.build import build_image, validate_template
from images.build_spec import load_build_spec, params_for_entry, target_for_entry
from images.catalog import DEFAULT_CATALOG_PATH, load_catalog
from images.errors import PackerError
from images.packer import Packer
from images.render import PLUGINS_FILE, render_template

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("packer") is None, reason="packer binary not installed (.ci/run installs it)"
    ),
]

CATALOG = load_catalog()
SOURCE_AMI = "ami-0123456789abcdef0"
FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures"


def _fake_packer(directory: Path, body: str) -> Path:
    script = directory / "packer"
    script.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("image_id", CATALOG.image_ids)
@pytest.mark.parametrize(("fabric_manager", "efa"), [(False, False), (True, False), (True, True)])
def test_every_catalog_entry_passes_packer_validate(image_id: str, fabric_manager: bool, efa: bool) -> None:
    entry = CATALOG.image(image_id)
    params = params_for_entry(entry, source_ami=SOURCE_AMI, fabric_manager=fabric_manager, efa=efa)
    result = validate_template(target_for_entry(entry, CATALOG), params, Packer())
    assert result.run.returncode == 0


def test_example_build_spec_passes_packer_validate() -> None:
    spec = load_build_spec(
        Path(__file__).parents[2] / "images" / "builds" / "al2023-nvidia-580-k8s1.34-example.yaml"
    )
    assert validate_template(target_for_entry(spec.image, CATALOG), spec.build, Packer()).run.returncode == 0


def test_version_is_parsed_from_machine_readable_output() -> None:
    version = Packer().version()
    assert version.split(".")[0].isdigit()


def test_broken_template_raises_packer_error_with_command_and_last_lines(tmp_path: Path) -> None:
    entry = CATALOG.images[0]
    rendered = render_template(
        target_for_entry(entry, CATALOG), params_for_entry(entry, source_ami=SOURCE_AMI), legacy_packer=True
    )
    rendered.write(tmp_path)
    main = tmp_path / "image.pkr.hcl"
    main.write_text(
        main.read_text(encoding="utf-8").replace("instance_type =", "instance_typo ="), encoding="utf-8"
    )
    seen: list[str] = []
    with pytest.raises(PackerError) as info:
        Packer(on_output=seen.append).validate(tmp_path)
    message = str(info.value)
    assert "`packer -machine-readable validate .` failed with exit code 1" in message
    assert "instance_typo" in message
    assert any("instance_typo" in line for line in seen)  # streamed as it was printed


def test_good_template_validates_and_keeps_output(tmp_path: Path) -> None:
    entry = CATALOG.images[0]
    rendered = render_template(
        target_for_entry(entry, CATALOG), params_for_entry(entry, source_ami=SOURCE_AMI), legacy_packer=True
    )
    rendered.write(tmp_path)
    run = Packer().validate(tmp_path)
    assert run.returncode == 0
    assert run.command[1:] == ("-machine-readable", "validate", ".")


def test_timeout_stops_packer_and_says_so(tmp_path: Path) -> None:
    _fake_packer(tmp_path, "echo '1,,ui,say,starting'\nexec /bin/sleep 30\n")
    packer = Packer(env={"PATH": str(tmp_path)}, interrupt_grace_s=2)
    started = time.monotonic()
    with pytest.raises(PackerError, match=r"timed out after 0\.5 s") as info:
        packer.run(["build", "."], timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert "starting" in str(info.value)


def test_missing_binary_gives_the_install_hint(tmp_path: Path) -> None:
    with pytest.raises(PackerError, match="apt-get install packer") as info:
        Packer(env={"PATH": str(tmp_path)})
    assert info.value.exit_code == 1


def test_build_runs_packer_and_adds_the_manifest_build_to_the_catalog(tmp_path: Path) -> None:
    """End to end up to the Packer call, with a stand-in packer that writes the documented manifest."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_packer(
        bin_dir,
        'case "$2" in\n'
        "  version) echo '1,,version,1.11.2' ;;\n"
        "  init) echo '1,,ui,say,Installed plugin github.com/hashicorp/amazon' ;;\n"
        '  build) test -f plugins.pkr.hcl && /bin/cp "$FAKE_MANIFEST" packer-manifest.json ;;\n'
        "esac\n",
    )
    catalog_path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)
    packer = Packer(env={"PATH": str(bin_dir), "FAKE_MANIFEST": str(FIXTURES / "packer-manifest.json")})

    result = build_image(
        load_build_spec(FIXTURES / "build-spec.yaml"),
        packer,
        catalog_path=catalog_path,
        out_dir=tmp_path / "t",
    )

    assert (result.template_dir / PLUGINS_FILE).exists()
    image = load_catalog(catalog_path).image("al2023-nvidia-580-k8s1.33-20251201")
    assert (
        image.amis
        == result.amis
        == {"us-east-1": "ami-0123456789abcdef1", "us-west-2": "ami-0fedcba9876543210"}
    )
    assert image.provenance is not None and image.provenance.template is not None
    assert image.provenance.template.startswith("sha256:")


def test_build_refuses_old_packer_before_running_anything(tmp_path: Path) -> None:
    # A stand-in reporting Debian's version: a real newer packer here would start a real build.
    _fake_packer(tmp_path, "[ \"$2\" = version ] && echo '1,,version,1.6.6' || exit 9\n")
    catalog_path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)
    packer = Packer(env={"PATH": str(tmp_path)})
    with pytest.raises(PackerError, match="cannot build"):
        build_image(
            load_build_spec(FIXTURES / "build-spec.yaml"), packer, catalog_path=catalog_path, out_dir=tmp_path
        )
    assert catalog_path.read_text(encoding="utf-8") == DEFAULT_CATALOG_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "path_has_packer", "code", "fragment"),
    [
        (["validate", "no-such-image"], True, 2, "unknown image id"),
        (["validate", CATALOG.image_ids[0], "--source-ami", SOURCE_AMI], False, 1, "apt-get install packer"),
        (["validate", CATALOG.image_ids[0], "--source-ami", SOURCE_AMI], True, 0, "template valid"),
    ],
)
def test_cli_validate_exit_codes(
    args: list[str],
    path_has_packer: bool,
    code: int,
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from stacks.cli import app

    if not path_has_packer:
        monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["images", *args])
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
