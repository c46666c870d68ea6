"""`mlenv images list|render|build --check` and their user errors: one message, a documented exit code,
never a traceback. (`validate` and `build` with Packer: tests/integration/test_packer.py.)"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from images.catalog import DEFAULT_CATALOG_PATH, load_catalog
from images.render import MAIN_FILE, PLUGINS_FILE
from stacks.cli.app import app

CATALOG = load_catalog()
FIXTURES = Path(__file__).with_name("fixtures")
SPEC = FIXTURES / "build-spec.yaml"
IMAGE = CATALOG.image_ids[-1]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["images", *args])
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_list_json_has_every_image_with_digests_and_provenance() -> None:
    code, stdout, _ = invoke("list", "--json")
    assert code == 0
    records = json.loads(stdout)
    assert [r["id"] for r in records] == list(CATALOG.image_ids)
    for record in records:
        image = CATALOG.image(record["id"])
        assert (record["os_family"], record["driver_version"], record["cuda_max"]) == (
            image.os_family,
            image.driver_version,
            image.cuda_max,
        )
        assert record["amis"] == image.amis
        assert [(c["id"], c["digest"]) for c in record["containers"]] == [
            (c.id, c.digest) for c in CATALOG.containers_of(image.id)
        ]
        assert image.provenance is not None
        assert record["provenance"]["source_ami"] == image.provenance.source_ami


def test_list_table_names_every_image_and_its_source_ami(monkeypatch: pytest.MonkeyPatch) -> None:
    # Wide enough that rich does not fold cells (consoles read COLUMNS when a command starts).
    monkeypatch.setenv("COLUMNS", "250")
    code, stdout, _ = invoke("list")
    assert code == 0
    for image in CATALOG.images:
        assert image.id in stdout
        assert image.provenance is not None and f"from {image.provenance.source_ami}" in stdout


def test_render_writes_the_template_and_only_the_scripts_it_calls(tmp_path: Path) -> None:
    code, stdout, _ = invoke("render", IMAGE, "--out", str(tmp_path), "--fabric-manager", "--no-efa")
    assert code == 0, stdout
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert MAIN_FILE in written and PLUGINS_FILE in written
    assert "scripts/40-fabric-manager.sh" in written and "scripts/50-efa.sh" not in written
    assert f"wrote {len(written)} files to {tmp_path}" in stdout


def test_build_check_runs_nothing_and_leaves_the_catalog(tmp_path: Path) -> None:
    catalog_path = tmp_path / "catalog.yaml"
    shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)
    code, stdout, _ = invoke("build", str(SPEC), "--check", "--catalog", str(catalog_path))
    assert code == 0
    assert "can be built and added to" in stdout
    assert catalog_path.read_bytes() == DEFAULT_CATALOG_PATH.read_bytes()


def _a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("x", encoding="utf-8")
    return path


def _spec_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("make_args", "fragment"),
    [
        (lambda tmp: ["render", "no-such-image", "--out", str(tmp)], "unknown image id 'no-such-image'"),
        (lambda tmp: ["validate", "no-such-image"], "unknown image id 'no-such-image'"),
        (lambda tmp: ["list", "--catalog", str(tmp / "missing.yaml")], "cannot read the image catalog"),
        (
            lambda tmp: ["render", IMAGE, "--out", str(_a_file(tmp) / "sub")],
            "cannot write the template",
        ),
        (
            lambda tmp: ["render", IMAGE, "--out", str(tmp), "--source-ami", "ami-latest"],
            "source_ami: expected an AMI id",
        ),
        (lambda tmp: ["build", str(tmp / "missing.yaml")], "cannot read the build spec"),
        (
            lambda tmp: ["build", str(_spec_with(tmp, "image: {id: X}\nbuild: {regions: []}\n"))],
            "image.id: expected an id of lowercase letters, digits",  # the [a-z] of a pattern survives
        ),
        (
            lambda tmp: [
                "build",
                str(_spec_with(tmp, SPEC.read_text().replace("20251201", "20251020"))),
                "--check",
            ],
            "is already in",
        ),
    ],
)
def test_user_errors_are_one_message_and_exit_2(
    make_args: Callable[[Path], list[str]], fragment: str, tmp_path: Path
) -> None:
    code, stdout, stderr = invoke(*make_args(tmp_path))
    assert code == 2, stdout + stderr
    assert stderr.startswith("error: ")
    assert fragment in stderr


@pytest.mark.parametrize("command", ["list", "render", "validate", "build", "refresh-instance-types"])
def test_every_command_documents_its_exit_codes(command: str) -> None:
    code, stdout, _ = invoke(command, "--help")
    assert code == 0
    text = " ".join(stdout.split())
    assert "Exit codes: 0 ok; 1" in text and "2 bad input" in text
