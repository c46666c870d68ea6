"""The packer wrapper against the real binary (Debian's `packer`), and every catalog template through
`packer validate`, the oracle for rendered HCL.

Tests marked ``needs_packer`` skip when the binary is absent, unless MLENV_REQUIRE_PACKER is set (as
.ci/run does), in which case they fail. The others replace the binary at its boundary with
``packer_double``: a shell script named ``packer`` on PATH, standing in for what cannot run here (a
real build needs AWS credentials and creates EC2 resources).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from images.build import build_image, validate_template
from images.build_spec import load_build_spec, params_for_entry, target_for_entry
from images.catalog import DEFAULT_CATALOG_PATH, load_catalog
from images.errors import PackerError
from images.packer import Packer
from images.render import PLUGINS_FILE, render_template
from stacks.cli.app import app

pytestmark = pytest.mark.integration
needs_packer = pytest.mark.skipif(
    shutil.which("packer") is None and not os.environ.get("MLENV_REQUIRE_PACKER"),
    reason="packer binary not installed (`apt-get install packer`; .ci/run installs it)",
)

CATALOG = load_catalog()
SOURCE_AMI = "ami-0123456789abcdef0"
FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures"
SPEC = FIXTURES / "build-spec.yaml"
NEW_ID = "al2023-nvidia-580-k8s1.33-20251201"  # the id SPEC adds
# A template Packer 1.6.6 builds with no plugin, no network and no cloud: a null source and a local
# shell provisioner that prints and then waits.
WAITING_BUILD = """
source "null" "wait" {
  communicator = "none"
}
build {
  sources = ["source.null.wait"]
  provisioner "shell-local" {
    inline = ["echo started-waiting", "sleep 60"]
  }
}
"""


def packer_double(directory: Path, body: str) -> Path:
    """A TEST DOUBLE of the packer binary: ``directory/packer``, a /bin/sh script running ``body``
    (``$1`` is -machine-readable, ``$2`` the subcommand). Put ``directory`` on PATH to use it."""
    script = directory / "packer"
    script.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    script.chmod(0o755)
    return script


def build_double(directory: Path) -> Path:
    """A packer double for a successful build: reports version 1.11.2, and `build` (only with the
    rendered plugins file next to it) writes the manifest in Packer's documented format that
    $MLENV_TEST_MANIFEST points to."""
    return packer_double(
        directory,
        'case "$2" in\n'
        "  version) echo '1,,version,1.11.2' ;;\n"
        "  init) echo '1,,ui,say,Installed plugin github.com/hashicorp/amazon' ;;\n"
        "  build) test -f plugins.pkr.hcl || exit 3\n"
        "         echo '1,,ui,say,==> amazon-ebs.gpu: AMIs were created'\n"
        '         /bin/cp "$MLENV_TEST_MANIFEST" packer-manifest.json ;;\n'
        "  *) exit 9 ;;\n"
        "esac\n",
    )


@needs_packer
@pytest.mark.parametrize("image_id", CATALOG.image_ids)
@pytest.mark.parametrize(("fabric_manager", "efa"), [(None, None), (True, False), (True, True)])
def test_every_catalog_entry_passes_packer_validate(
    image_id: str, fabric_manager: bool | None, efa: bool | None
) -> None:
    entry = CATALOG.image(image_id)
    params = params_for_entry(entry, fabric_manager=fabric_manager, efa=efa)
    result = validate_template(target_for_entry(entry, CATALOG), params, Packer())
    assert result.run.returncode == 0


@needs_packer
def test_example_build_spec_passes_packer_validate() -> None:
    spec = load_build_spec(
        Path(__file__).parents[2] / "images" / "builds" / "al2023-nvidia-580-k8s1.34-example.yaml"
    )
    assert validate_template(target_for_entry(spec.image, CATALOG), spec.build, Packer()).run.returncode == 0


@needs_packer
def test_version_is_parsed_from_machine_readable_output() -> None:
    version = Packer().version()
    assert version.split(".")[0].isdigit()


@needs_packer
def test_broken_template_raises_packer_error_with_command_and_last_lines(tmp_path: Path) -> None:
    entry = CATALOG.images[0]
    rendered = render_template(target_for_entry(entry, CATALOG), params_for_entry(entry), legacy_packer=True)
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


@needs_packer
def test_good_template_validates_and_keeps_output(tmp_path: Path) -> None:
    entry = CATALOG.images[0]
    rendered = render_template(target_for_entry(entry, CATALOG), params_for_entry(entry), legacy_packer=True)
    rendered.write(tmp_path)
    run = Packer().validate(tmp_path)
    assert run.returncode == 0
    assert run.command[1:] == ("-machine-readable", "validate", ".")


@needs_packer
def test_timeout_interrupts_the_real_packer_which_cancels_its_build(tmp_path: Path) -> None:
    (tmp_path / "wait.pkr.hcl").write_text(WAITING_BUILD, encoding="utf-8")
    seen: list[str] = []
    packer = Packer(on_output=seen.append, interrupt_grace_s=20)
    started = time.monotonic()
    with pytest.raises(PackerError, match=r"timed out after 3 s and was stopped") as info:
        packer.run(["build", "."], cwd=tmp_path, timeout_s=3)
    assert time.monotonic() - started < 25  # stopped by SIGINT, long before `sleep 60` ends
    assert "started-waiting" in str(info.value)  # the last lines are quoted ...
    assert any("started-waiting" in line for line in seen)  # ... and were streamed as they came


def test_timeout_of_a_double_that_ignores_sigint_ends_in_sigkill(tmp_path: Path) -> None:
    packer_double(tmp_path, "trap '' INT\necho '1,,ui,say,starting'\n/bin/sleep 30\n")
    packer = Packer(env={"PATH": str(tmp_path)}, interrupt_grace_s=1)
    started = time.monotonic()
    with pytest.raises(PackerError, match=r"timed out after 0\.5 s") as info:
        packer.run(["build", "."], timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert "starting" in str(info.value)


def test_timeout_applies_to_a_double_that_never_stops_printing(tmp_path: Path) -> None:
    packer_double(tmp_path, "while :; do echo '1,,ui,message,tick'; done\n")
    packer = Packer(env={"PATH": str(tmp_path)}, interrupt_grace_s=1)
    started = time.monotonic()
    with pytest.raises(PackerError, match=r"timed out after 0\.5 s") as info:
        packer.run(["build", "."], timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert "tick" in str(info.value)


@needs_packer
def test_missing_binary_gives_the_install_hint(tmp_path: Path) -> None:
    # The real binary is on this machine's PATH; with a PATH without it, it must not be found.
    with pytest.raises(PackerError, match="apt-get install packer") as info:
        Packer(env={"PATH": str(tmp_path)})
    assert info.value.exit_code == 1


def test_build_runs_packer_and_adds_the_manifest_build_to_the_catalog(tmp_path: Path) -> None:
    """End to end up to the Packer call, with a packer double that writes the documented manifest."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    build_double(bin_dir)
    catalog_path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)
    packer = Packer(env={"PATH": str(bin_dir), "MLENV_TEST_MANIFEST": str(FIXTURES / "packer-manifest.json")})

    result = build_image(load_build_spec(SPEC), packer, catalog_path=catalog_path, out_dir=tmp_path / "t")

    assert (result.template_dir / PLUGINS_FILE).exists()
    image = load_catalog(catalog_path).image(NEW_ID)
    assert (
        image.amis
        == result.amis
        == {"us-east-1": "ami-0123456789abcdef1", "us-west-2": "ami-0fedcba9876543210"}
    )
    assert image.provenance is not None and image.provenance.template is not None
    assert image.provenance.template.startswith("sha256:")


def test_build_refuses_old_packer_before_running_anything(tmp_path: Path) -> None:
    # A double reporting Debian's version: a real newer packer here would start a real build.
    packer_double(tmp_path, "[ \"$2\" = version ] && echo '1,,version,1.6.6' || exit 9\n")
    catalog_path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)
    packer = Packer(env={"PATH": str(tmp_path)})
    with pytest.raises(PackerError, match="cannot build"):
        build_image(load_build_spec(SPEC), packer, catalog_path=catalog_path, out_dir=tmp_path)
    assert catalog_path.read_text(encoding="utf-8") == DEFAULT_CATALOG_PATH.read_text(encoding="utf-8")


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["images", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_build_adds_a_new_entry_and_prints_the_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    build_double(bin_dir)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MLENV_TEST_MANIFEST", str(FIXTURES / "packer-manifest.json"))
    catalog_path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)
    before = catalog_path.read_text(encoding="utf-8")

    code, stdout, stderr = _invoke(
        "build", str(SPEC), "--catalog", str(catalog_path), "--out", str(tmp_path / "t")
    )

    assert code == 0, stdout + stderr
    assert "packer | ==> amazon-ebs.gpu: AMIs were created" in stderr  # Packer's output, streamed
    assert f"built {NEW_ID}: us-east-1 ami-0123456789abcdef1, us-west-2 ami-0fedcba9876543210" in stdout
    diff = stdout[stdout.index("--- ") :]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed == []
    assert f"  - id: {NEW_ID}" in added
    assert "      source_ami: ami-0123456789abcdef0" in added
    after = catalog_path.read_text(encoding="utf-8")
    assert len(after.splitlines()) == len(before.splitlines()) + len(added)
    assert load_catalog(catalog_path).image_ids == (*CATALOG.image_ids, NEW_ID)

    # Building the same spec again is refused before Packer runs: entries are never overwritten.
    code, stdout, stderr = _invoke("build", str(SPEC), "--catalog", str(catalog_path))
    assert code == 2 and "already in" in stderr
    assert catalog_path.read_text(encoding="utf-8") == after


@needs_packer
def test_cli_build_with_the_real_packer_fails_cleanly_without_aws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No usable AWS credentials: whatever the installed Packer is (too old to build, or unable to
    # install its plugin offline, or refused by AWS), the build stops with a PackerError, exit 1.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAMLENVTESTNOTREAL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    catalog_path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)

    code, stdout, stderr = _invoke(
        "build",
        str(SPEC),
        "--catalog",
        str(catalog_path),
        "--out",
        str(tmp_path / "t"),
        "--timeout-hours",
        "0.1",
    )

    assert code == 1, stdout + stderr
    assert stderr.count("error: ") == 1 and "packer" in stderr
    assert "Traceback" not in stdout + stderr
    assert catalog_path.read_text(encoding="utf-8") == DEFAULT_CATALOG_PATH.read_text(encoding="utf-8")


@needs_packer
@pytest.mark.parametrize(
    ("args", "path_has_packer", "code", "fragment"),
    [
        (["validate", "no-such-image"], True, 2, "unknown image id"),
        (["validate", CATALOG.image_ids[0]], False, 1, "apt-get install packer"),
        (["validate", CATALOG.image_ids[0]], True, 0, "template valid"),
        (["validate", CATALOG.image_ids[0], "--source-ami", SOURCE_AMI, "--efa"], True, 0, "template valid"),
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
    if not path_has_packer:
        monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["images", *args])
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
