"""Elastic capacity: the plan-time capacity rules, and the pure decisions of components/gpu_capacity.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import stacks.offline.engine
from components.gpu_capacity import disruption_budgets, node_class_name, pool_limits
from images.instance_types import gpu_info, load_instance_types
from stacks.cli.app import app
from stacks.errors import SpecError
from stacks.spec.capacity_rules import pool_capacity_modes, pools_hold_their_models
from stacks.spec.model import EnvironmentSpec
from stacks.spec.pools import DisruptionSpec, GpuPoolSpec, HoldWindowSpec

runner = CliRunner()
IMAGE = "al2023-nvidia-580-k8s1.33-20251020"


def prod_raw() -> dict[str, Any]:
    """The prod stack file's environment, as plain data to change one thing in."""
    text = (stacks.offline.engine.STACKS_DIR / "Pulumi.prod.yaml").read_text()
    raw: dict[str, Any] = yaml.safe_load(text)["config"]["mlenv:environment"]
    return raw


def spec(raw: dict[str, Any]) -> EnvironmentSpec:
    return EnvironmentSpec.model_validate(raw)


def paths(problems: Any) -> list[str]:
    return [p.path for p in problems]


def test_the_stack_files_pass_the_capacity_rules() -> None:
    prod = spec(prod_raw())
    assert list(pool_capacity_modes(prod)) == [] and list(pools_hold_their_models(prod)) == []


@pytest.mark.parametrize(
    ("pool", "change", "path"),
    [
        (0, {"efa": False}, "gpu_pools[0].capacity"),  # a static pool without EFA
        (0, {"min_size": 0}, "gpu_pools[0].min_size"),  # a static pool that is not fixed-size
        (1, {"efa": True}, "gpu_pools[1].efa"),  # EFA on an elastic pool
        (1, {"capacity_type": "CAPACITY_BLOCK"}, "gpu_pools[1].capacity_type"),
    ],
)
def test_capacity_modes(pool: int, change: dict[str, Any], path: str) -> None:
    raw = prod_raw()
    raw["gpu_pools"][pool].update(change)
    assert path in paths(pool_capacity_modes(spec(raw)))


def test_a_pool_must_hold_its_models_most_replicas() -> None:
    raw = prod_raw()
    raw["gpu_pools"][1]["max_size"] = 7  # fraud-ranker 4 + support-chat 4 = 8 GPUs on 1-GPU nodes
    (problem,) = pools_hold_their_models(spec(raw))
    assert problem.path == "gpu_pools[1].max_size" and problem.received == 7
    assert "raise max_size to 8" in problem.message


def test_planning_refuses_a_pool_too_small_for_its_hpa(tmp_path: Path) -> None:
    document = yaml.safe_load((stacks.offline.engine.STACKS_DIR / "Pulumi.prod.yaml").read_text())
    document["config"]["mlenv:environment"]["gpu_pools"][1]["max_size"] = 4
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(SpecError) as caught:
        stacks.offline.engine.plan_stack("prod", stacks_dir=tmp_path)
    assert "gpu_pools[1].max_size" in str(caught.value)


def test_a_new_image_ami_or_disk_is_a_new_node_class() -> None:
    base = node_class_name(IMAGE, "ami-" + "1" * 17, 200)
    assert base.startswith(IMAGE) and len(base) <= 63
    others = {
        node_class_name("al2023-nvidia-570-k8s1.32-20250501", "ami-" + "1" * 17, 200),
        node_class_name(IMAGE, "ami-" + "2" * 17, 200),
        node_class_name(IMAGE, "ami-" + "1" * 17, 300),
    }
    assert base not in others and len(others) == 3
    assert len(node_class_name("x" * 63, "ami-" + "1" * 17, 200)) <= 63


def test_budgets_follow_the_disruption_spec() -> None:
    assert disruption_budgets(DisruptionSpec()) == [{"nodes": "1"}]
    held = DisruptionSpec(
        max_disrupted="10%",
        hold_windows=[HoldWindowSpec(schedule="0 13 * * mon-fri", duration="10h")],
        hold_rollouts=True,
    )
    assert disruption_budgets(held) == [
        {"nodes": "10%"},
        {"nodes": "0", "schedule": "0 13 * * mon-fri", "duration": "10h"},
        {"nodes": "0", "reasons": ["Drifted"]},
    ]


def test_limits_are_max_size_of_the_largest_instance_type() -> None:
    pool = GpuPoolSpec(
        name="serving",
        purpose="serving",
        instance_types=["g6e.2xlarge", "g6e.12xlarge"],
        image=IMAGE,
        max_size=3,
    )
    largest = gpu_info("g6e.12xlarge")
    assert pool_limits(pool, load_instance_types()) == {
        "nvidia.com/gpu": str(3 * largest.gpu_count),
        "cpu": str(3 * largest.vcpus),
        "memory": f"{3 * largest.memory_mib}Mi",
    }


def test_the_platform_publishes_a_node_class_per_image(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "dev", "--json"])
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.output)["outputs"]
    classes = outputs["gpu_node_classes"]
    assert classes == {IMAGE: outputs["gpu_pools"]["gpu"]["node_class"]}
