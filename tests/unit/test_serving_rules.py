"""The served-model scheduling contract: each broken stack file exits 2 naming the model and the pool."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from images.catalog import load_catalog
from images.instance_types import gpu_info
from stacks.cli.app import app
from stacks.errors import EXIT_BAD_INPUT, SpecError
from stacks.offline.engine import STACKS_DIR, plan_stack
from stacks.spec.load import parse_environment

POOL_IMAGE = "al2023-nvidia-570-k8s1.33-20250825"  # driver 570.172.08, in us-east-1

BASE: dict[str, Any] = {
    "name": "sched",
    "kind": "platform",
    "owner": "ml",
    "region": "us-east-1",
    "network": {},
    "cluster": {"version": "1.33"},
    "gpu_pools": [
        {
            "name": "serve",
            "purpose": "serving",
            "instance_types": ["g6e.xlarge"],
            "image": POOL_IMAGE,
            "max_size": 2,
        }
    ],
    "serving": {
        "models": [
            {"name": "ok", "container": "vllm-openai-v0.10.1.1", "pool": "serve", "model_path": "llm/v1"},
        ]
    },
}


def with_model(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    model = {"name": "broken", "container": "tritonserver-25.01", "pool": "serve", "model_path": "m/v1"}
    spec["serving"]["models"].append({**model, **changes})
    return spec


def serving_problems(raw: dict[str, Any]) -> list[str]:
    try:
        parse_environment(raw, source="test")
    except SpecError as exc:
        return [p.render() for p in exc.problems if p.path.startswith("serving.")]
    return []


def test_a_model_that_fits_passes() -> None:
    assert serving_problems(BASE) == []


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        ({"pool": "missing"}, "serving.models[1].pool", ["'broken'", "'missing'", "serve"]),
        (
            {"gpus_per_replica": 8},
            "serving.models[1].gpus_per_replica",
            ["8 GPUs", "pool 'serve'", "g6e.xlarge", "have 1"],
        ),
        (
            {"container": "tritonserver-25.08"},
            "serving.models[1].container",
            ["CUDA 13.0", "pool 'serve'", "570.172.08"],
        ),
        ({"container": "pytorch-25.01"}, "serving.models[1].container", ["training image"]),
    ],
)
def test_broken_models_are_named_with_their_pool(
    changes: dict[str, Any], path: str, words: list[str]
) -> None:
    problems = serving_problems(with_model(**changes))
    matching = [p for p in problems if p.startswith(f"{path}:")]
    assert matching, problems
    for word in words:
        assert word in matching[0]
    assert "'broken'" in matching[0]


def test_plan_exits_2_for_a_model_on_a_missing_pool(tmp_path: Path) -> None:
    document = {"config": {"aws:region": "us-east-1", "mlenv:environment": with_model(pool="missing")}}
    (tmp_path / "Pulumi.sched.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        plan_stack("sched", stacks_dir=tmp_path)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert "serving.models[1].pool: model 'broken': no GPU pool named 'missing'" in str(caught.value)


@pytest.fixture
def dev_stack_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Write a copy of the real dev stack file with its served model (and pool) changed; the CLI
    plans it from there."""
    source = STACKS_DIR / "Pulumi.dev.yaml"
    stacks_dir = tmp_path / "stacks"
    stacks_dir.mkdir()
    # A project of its own, found as the Pulumi CLI finds one: Pulumi.yaml in the working directory.
    (tmp_path / "Pulumi.yaml").write_text("name: mlenv\nstackConfigDir: stacks\n")
    monkeypatch.chdir(tmp_path)

    def write(pool_image: str | None = None, drop: str | None = None, **model: Any) -> None:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
        env = document["config"]["mlenv:environment"]
        env["serving"]["models"][0].update(model)
        if pool_image is not None:
            env["gpu_pools"][0]["image"] = pool_image
        if drop is not None:
            del env[drop]
        (stacks_dir / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")

    return write


def test_the_dev_stack_file_serves_one_model_on_its_gpu_pool() -> None:
    document = yaml.safe_load((STACKS_DIR / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    spec = parse_environment(document["config"]["mlenv:environment"], source="dev")
    assert spec.serving is not None and [m.pool for m in spec.serving.models] == ["gpu"]
    assert [p.name for p in spec.gpu_pools] == ["gpu"]


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        ({"pool": "missing"}, "serving.models[0].pool", ["no GPU pool named 'missing'", "pools: gpu"]),
        (
            {"gpus_per_replica": 8},
            "serving.models[0].gpus_per_replica",
            ["8 GPUs per replica", "pool 'gpu'", f"have {gpu_info('g6.xlarge').gpu_count}"],
        ),
        (
            {"pool_image": POOL_IMAGE, "container": "tritonserver-25.08"},
            "serving.models[0].container",
            ["CUDA 13.0", "pool 'gpu'", f"driver {load_catalog().image(POOL_IMAGE).driver_version}"],
        ),
        ({"drop": "feature_store"}, "serving.models[0].uses_features", ["no feature_store"]),
    ],
)
def test_mlenv_plan_exits_2_naming_the_model_and_the_pool(
    dev_stack_with: Callable[..., None], changes: dict[str, Any], path: str, words: list[str]
) -> None:
    dev_stack_with(**changes)
    result = CliRunner().invoke(app, ["plan", "dev"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    output = " ".join(result.output.split())
    assert f"{path}:" in output
    assert "model 'chat'" in output
    for word in words:
        assert word in output, output
    assert "Traceback" not in output
