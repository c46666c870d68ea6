"""`mlenv plan STACK --against OLD.json`: which GPU nodes roll to a new image, under which budget."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import stacks.offline.engine
from stacks.cli.app import app, print_rollouts
from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan

runner = CliRunner()
NEW_IMAGE = "al2023-nvidia-570-k8s1.32-20250501"
OLD_IMAGE = "al2023-nvidia-580-k8s1.33-20251020"

Edit = Callable[[str], str]


@pytest.fixture(scope="module")
def saved_prod(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed prod stack's plan, saved as `mlenv plan prod --out` writes it."""
    path = tmp_path_factory.mktemp("saved") / "prod.json"
    result = runner.invoke(app, ["plan", "prod", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path


def plan_against(saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Edit) -> str:
    """The rollout summary of the edited prod stack against the saved plan, as `mlenv plan --against`
    prints it (print_rollouts), planned from a copy of the stack file."""
    text = (stacks.offline.engine.STACKS_DIR / "Pulumi.prod.yaml").read_text()
    (tmp_path / "Pulumi.prod.yaml").write_text(edit(text))
    console = Console(width=400, record=True)
    print_rollouts(Plan.load(saved), plan_stack("prod", stacks_dir=tmp_path), saved, console)
    return " ".join(console.export_text().split("GPU node rollouts against", 1)[1].split())


def serving_image(text: str) -> str:
    """Move the serving pool to the 570 image (and its models to containers that driver runs)."""
    head, tail = text.split("      - name: serving\n")
    tail = tail.replace(f"image: {OLD_IMAGE}", f"image: {NEW_IMAGE}", 1)
    tail = tail.replace("container: tritonserver-25.08", "container: tritonserver-25.01")
    return head + "      - name: serving\n" + tail


def test_an_image_change_rolls_the_pools_nodes_under_its_budgets(
    saved_prod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = plan_against(saved_prod, tmp_path, monkeypatch, serving_image)
    assert summary.startswith(f"{saved_prod}: 1 ")
    assert f"pool serving: {OLD_IMAGE} -> {NEW_IMAGE}" in summary
    assert "up to 8" in summary and "at most 1 node(s) at a time" in summary
    assert "none during '0 13 * * mon-fri' for 10h (UTC)" in summary
    assert "pool training" not in summary


def test_a_held_pool_says_so(saved_prod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def held(text: str) -> str:
        return serving_image(text).replace(
            '          max_disrupted: "1"\n', "          hold_rollouts: true\n"
        )

    summary = plan_against(saved_prod, tmp_path, monkeypatch, held)
    assert f"pool serving: {OLD_IMAGE} -> {NEW_IMAGE}" in summary and "HELD" in summary


def test_a_static_pool_image_change_replaces_its_node_group(
    saved_prod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def training(text: str) -> str:
        head, tail = text.split("      - name: serving\n")
        return head.replace(f"image: {OLD_IMAGE}", f"image: {NEW_IMAGE}") + "      - name: serving\n" + tail

    summary = plan_against(saved_prod, tmp_path, monkeypatch, training)
    assert f"pool training: {OLD_IMAGE} -> {NEW_IMAGE}: a new node group of 2 node(s)" in summary
    assert "pool serving" not in summary


def test_no_image_change_rolls_nothing(
    saved_prod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert plan_against(saved_prod, tmp_path, monkeypatch, lambda text: text) == f"{saved_prod}: none"


def test_a_bad_saved_plan_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "old.json"
    bad.write_text("{}")
    result = runner.invoke(app, ["plan", "prod", "--against", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.output
