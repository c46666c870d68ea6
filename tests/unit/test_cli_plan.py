"""`mlenv plan`: output, exit codes, and no traceback for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stacks.offline.engine
from stacks.cli.app import app
from stacks.offline.plan import Plan

runner = CliRunner()


def test_plan_dev_prints_tree_counts_and_outputs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "dev", "--out", str(tmp_path / "dev.json")])
    assert result.exit_code == 0, result.output
    plan = Plan.load(tmp_path / "dev.json")
    assert "stack dev" in result.output
    assert "resources by type" in result.output
    buckets = " ".join(sorted(r.name for r in plan.resources if r.type == "aws:s3/bucket:Bucket"))
    assert f"aws:s3:Bucket {buckets} (protect, retain)" in result.output  # siblings of one type, one line
    assert "stack outputs" in result.output
    # Not a terminal: whole values, one line each, and the same count `mlenv check` reports.
    lines = len(str(plan.outputs["feature_store_yaml"]).splitlines())
    assert f"feature_store_yaml: {lines} lines; --out-dir DIR writes DIR/feature_store.yaml" in result.output
    count = sum(1 for r in plan.resources if r.type != "pulumi:pulumi:Stack")
    assert f"\nstack dev: {count} resources (the stack excluded)\n" in result.output


def test_plan_json_is_a_loadable_plan(tmp_path: Path) -> None:
    out = tmp_path / "plans" / "prod.json"
    result = runner.invoke(app, ["plan", "prod", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = Plan.from_json(result.stdout)
    assert printed == Plan.load(out)
    assert printed.stack == "prod"
    assert json.loads(result.stdout)["format"] == 1


def test_unknown_stack_exits_2_and_lists_stacks() -> None:
    result = runner.invoke(app, ["plan", "staging"])
    assert result.exit_code == 2
    assert "unknown stack 'staging'" in result.output
    assert "dev" in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def broken_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project (Pulumi.yaml, stackConfigDir: stacks) with an invalid dev stack file."""
    monkeypatch.chdir(Path.cwd())  # `--cwd` changes directory; put it back after the test
    (tmp_path / "Pulumi.yaml").write_text("name: mlenv\nstackConfigDir: stacks\n")
    stacks_dir = tmp_path / "stacks"
    stacks_dir.mkdir()
    text = (stacks.offline.engine.STACKS_DIR / "Pulumi.dev.yaml").read_text()
    broken = text.replace("nat_gateways: single", "nat_gateways: sometimes").replace(
        "kind: platform", "kind: platform\n    colour: blue"
    )
    assert broken != text
    (stacks_dir / "Pulumi.dev.yaml").write_text(broken)
    shutil.copy(stacks.offline.engine.STACKS_DIR / "Pulumi.prod.yaml", stacks_dir)
    return stacks_dir


def test_invalid_stack_file_exits_2_naming_every_field(broken_stacks: Path) -> None:
    result = runner.invoke(app, ["--cwd", str(broken_stacks.parent), "plan", "dev"])
    assert result.exit_code == 2, result.output
    assert "network.nat_gateways: 'sometimes' is not allowed" in result.output
    assert "colour: unknown key 'colour'" in result.output
    assert "2 problems" in result.output
    assert "Traceback" not in result.output


def test_stack_files_come_from_the_project_found_above_the_working_directory(
    broken_stacks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a sub-folder, as the Pulumi CLI: a stack created after install is found, an invalid one fails."""
    (broken_stacks / "Pulumi.late.yaml").write_text(
        (stacks.offline.engine.STACKS_DIR / "Pulumi.dev.yaml").read_text()
    )
    monkeypatch.chdir(broken_stacks)
    assert runner.invoke(app, ["plan", "late", "--json"]).exit_code == 0
    assert runner.invoke(app, ["plan", "dev", "--json"]).exit_code == 2


def test_outside_any_project_exits_2_saying_how_to_point_at_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path.cwd())  # `--cwd` changes directory; put it back after the test
    result = runner.invoke(app, ["--cwd", str(tmp_path), "plan", "dev"])
    assert result.exit_code == 2, result.output
    assert f"no Pulumi project in {tmp_path.resolve()} or any parent directory" in result.output
    assert "--cwd DIR" in result.output
    assert "Traceback" not in result.output


def test_version_names_the_installed_distribution() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"mlenv {version('mlenv')}\n"
