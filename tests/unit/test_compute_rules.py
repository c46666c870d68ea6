"""Plan-time GPU pool rules: table-driven on the pure checks, and end to end through `mlenv plan`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import stacks.offline.engine
import stacks.spec.compute_rules
from images.catalog import DEFAULT_CATALOG_PATH, Catalog, load_catalog, parse_catalog
from stacks.cli.app import app
from stacks.spec.compute_rules import check_compute
from stacks.spec.model import EnvironmentSpec

runner = CliRunner()
CUDA_12_4_IMAGE = "al2023-nvidia-550-k8s1.33-20240601"
STALE_DRIVER_IMAGE = "al2023-nvidia-535-k8s1.33-20240901"
BARE_IMAGE = "al2023-nvidia-580-k8s1.33-bare"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The real catalog plus two entries it (rightly) lacks: a CUDA 12.4 build, and a build whose
    containers need a newer driver than its AMI has."""
    raw = yaml.safe_load(DEFAULT_CATALOG_PATH.read_text())
    raw["containers"]["pytorch-24.05"] = {
        **raw["containers"]["pytorch-23.08"],
        "tag": "24.05-py3",
        "digest": "sha256:" + "4" * 64,
        "cuda": "12.4",
    }
    raw["images"] += [
        {
            **raw["images"][0],
            "id": CUDA_12_4_IMAGE,
            "driver_version": "550.90.07",
            "cuda_max": "12.4",
            "kubernetes_version": "1.33",
            "amis": {"us-east-1": "ami-" + "1" * 17, "us-west-2": "ami-" + "2" * 17},
            "containers": ["pytorch-24.05"],
        },
        {
            **raw["images"][0],
            "id": STALE_DRIVER_IMAGE,
            "kubernetes_version": "1.33",
            "amis": {"us-east-1": "ami-" + "3" * 17, "us-west-2": "ami-" + "5" * 17},
            "containers": ["pytorch-25.01"],
        },
        {  # the 580 image, built without Fabric Manager or EFA (as its provenance says)
            **raw["images"][3],
            "id": BARE_IMAGE,
            "amis": {"us-east-1": "ami-" + "6" * 17, "us-west-2": "ami-" + "7" * 17},
            "provenance": {"source_ami": "ami-" + "8" * 17, "fabric_manager": False},
        },
    ]
    return parse_catalog(yaml.safe_dump(raw), source="test-catalog")


def spec_with(
    pools: list[dict[str, Any]], region: str = "us-east-1", version: str = "1.33"
) -> EnvironmentSpec:
    return EnvironmentSpec.model_validate(
        {
            "name": "test",
            "kind": "platform",
            "owner": "me",
            "region": region,
            "network": {},
            "cluster": {"version": version},
            "gpu_pools": pools,
        }
    )


def pool(instance_type: str, image: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "pool",
        "purpose": "training",
        "instance_types": [instance_type],
        "image": image,
        "max_size": 2,
        **extra,
    }


def messages(spec: EnvironmentSpec, catalog: Catalog) -> list[str]:
    return [p.render() for p in check_compute(spec, catalog)]


def test_committed_stacks_have_no_compute_problems(catalog: Catalog) -> None:
    assert messages(spec_with([pool("g6.xlarge", "al2023-nvidia-580-k8s1.33-20251020")]), catalog) == []


@pytest.mark.parametrize(
    ("instance_type", "image", "expected"),
    [
        (
            "p6-b200.48xlarge",
            CUDA_12_4_IMAGE,
            [
                "gpu_pools[0].image",
                "B200",
                "compute capability 10.0 needs CUDA >= 12.8",
                "driver 550.90.07",
                "CUDA 12.4",
                "use al2023-nvidia-580-k8s1.33-20251020 (driver 580.95.05, CUDA 13.0) instead",
            ],
        ),
        (
            "g6.xlarge",
            STALE_DRIVER_IMAGE,
            [
                "gpu_pools[0].image",
                "L4",
                "compute capability 8.9",
                "driver 535.183.06",
                "CUDA 12.8",
                "needs driver >= 570.26",
                "instead",
            ],
        ),
    ],
)
def test_incompatible_gpu_and_image(
    catalog: Catalog, instance_type: str, image: str, expected: list[str]
) -> None:
    (message,) = messages(spec_with([pool(instance_type, image)]), catalog)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize(
    ("pool_args", "region", "version", "path", "fragment"),
    [
        (
            pool("g6.xlarge", "al2023-nvidia-999"),
            "us-east-1",
            "1.33",
            "gpu_pools[0].image",
            "unknown image id",
        ),
        (
            pool("g6.xlarge", "al2023-nvidia-570-k8s1.33-20250825"),
            "us-west-2",
            "1.33",
            "gpu_pools[0].image",
            "no AMI in region 'us-west-2'",
        ),
        (
            pool("m7i.large", "al2023-nvidia-580-k8s1.33-20251020"),
            "us-east-1",
            "1.33",
            "gpu_pools[0].instance_types[0]",
            "without NVIDIA GPUs",
        ),
        (
            pool("g6.xlarge", "al2023-nvidia-580-k8s1.33-20251020", efa=True),
            "us-east-1",
            "1.33",
            "gpu_pools[0].instance_types[0]",
            "has no EFA; EFA-capable L4 types: g6.12xlarge",
        ),
        (
            pool("g6.xlarge", "al2023-nvidia-580-k8s1.33-20251020"),
            "us-east-1",
            "1.32",
            "gpu_pools[0].image",
            "kubelet 1.33 is newer than the cluster",
        ),
        (
            pool("g6.xlarge", "al2023-nvidia-580-k8s1.33-20251020"),
            "us-east-1",
            "1.20",
            "cluster.version",
            "no pinned EKS add-on versions",
        ),
    ],
)
def test_rule_problems_name_the_field(
    catalog: Catalog, pool_args: dict[str, Any], region: str, version: str, path: str, fragment: str
) -> None:
    found = [
        m for m in messages(spec_with([pool_args], region, version), catalog) if m.startswith(path + ":")
    ]
    assert any(fragment in m for m in found), found


def test_mixed_gpu_models_in_one_pool(catalog: Catalog) -> None:
    spec = spec_with(
        [
            {
                **pool("g6.xlarge", "al2023-nvidia-580-k8s1.33-20251020"),
                "instance_types": ["g6.xlarge", "g6e.xlarge"],
            }
        ]
    )
    assert any("mixes GPU models (L4, L40S)" in m for m in messages(spec, catalog))


@pytest.fixture
def stack_with_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog: Catalog
) -> Callable[[str, str], Path]:
    """Write a dev stack whose GPU pool uses the given instance type and image; plan it via the CLI."""
    monkeypatch.setattr(stacks.spec.compute_rules, "default_catalog", lambda: catalog)
    source = (stacks.offline.engine.STACKS_DIR / "Pulumi.dev.yaml").read_text()
    stacks_dir = tmp_path / "stacks"
    stacks_dir.mkdir()
    # A project of its own, found as the Pulumi CLI finds one: Pulumi.yaml in the working directory.
    (tmp_path / "Pulumi.yaml").write_text("name: mlenv\nstackConfigDir: stacks\n")
    monkeypatch.chdir(tmp_path)

    def write(instance_type: str, image: str) -> Path:
        document = yaml.safe_load(source)
        env = document["config"]["mlenv:environment"]
        env["gpu_pools"] = [pool(instance_type, image)]
        (stacks_dir / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
        return stacks_dir

    return write


@pytest.mark.parametrize(
    ("instance_type", "image", "fragment"),
    [
        ("p6-b200.48xlarge", CUDA_12_4_IMAGE, "cannot run on B200"),
        ("g6.xlarge", STALE_DRIVER_IMAGE, "needs driver >= 570.26"),
    ],
)
def test_mlenv_plan_exits_2_for_incompatible_pools(
    stack_with_pool: Callable[[str, str], Path], instance_type: str, image: str, fragment: str
) -> None:
    stack_with_pool(instance_type, image)
    result = runner.invoke(app, ["plan", "dev"])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "gpu_pools[0].image" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("instance_type", "extra", "expected"),
    [
        ("p5.48xlarge", {}, ["Fabric Manager (p5.48xlarge join their GPUs with NVSwitch"]),
        ("p4d.24xlarge", {"efa": True}, ["Fabric Manager (p4d.24xlarge", " or the EFA host software"]),
        ("g6e.12xlarge", {"efa": True}, ["does not record the EFA host software"]),
        ("g6.xlarge", {}, []),
    ],
)
def test_nvswitch_and_efa_pools_need_the_host_software_on_their_image(
    catalog: Catalog, instance_type: str, extra: dict[str, Any], expected: list[str]
) -> None:
    """The rule reads the image's provenance; the committed 580 image records both and is suggested."""
    found = messages(spec_with([pool(instance_type, BARE_IMAGE, **extra)]), catalog)
    if not expected:
        assert found == []
        return
    (message,) = found
    assert message.startswith("gpu_pools[0].image: ")
    assert f"pool 'pool': {BARE_IMAGE} does not record" in message
    for fragment in expected:
        assert fragment in message
    assert "al2023-nvidia-580-k8s1.33-20251020" in message.split("images that carry it in us-east-1:")[1]
    fixed = spec_with([pool(instance_type, "al2023-nvidia-580-k8s1.33-20251020", **extra)])
    assert messages(fixed, catalog) == []


def test_the_default_catalog_is_what_rules_use_by_default() -> None:
    assert stacks.spec.compute_rules.default_catalog() is load_catalog()


def _serving_on(pool_spec: dict[str, Any], container: str) -> EnvironmentSpec:
    spec = spec_with([pool_spec]).model_dump()
    spec["serving"] = {
        "models": [{"name": "model", "container": container, "pool": "pool", "model_path": "m/v1"}]
    }
    return EnvironmentSpec.model_validate(spec)


def test_v100_pool_is_judged_by_the_containers_it_serves(catalog: Catalog) -> None:
    """The 580 image pre-pulls CUDA 12.8 and 13.0 containers; V100 (7.0) runs the first only."""
    v100 = pool("p3dn.24xlarge", "al2023-nvidia-580-k8s1.33-20251020", purpose="serving")
    assert messages(_serving_on(v100, "vllm-openai-v0.10.1.1"), catalog) == []
    (message,) = messages(_serving_on(v100, "tritonserver-25.08"), catalog)
    for fragment in (
        "gpu_pools[0].image",
        "cannot run on V100",
        "CUDA 13.0",
        "dropped compute capability 7.0",
    ):
        assert fragment in message, message


def test_v100_training_pool_needs_one_runnable_pre_pulled_container(catalog: Catalog) -> None:
    assert messages(spec_with([pool("p3dn.24xlarge", "al2023-nvidia-580-k8s1.33-20251020")]), catalog) == []


def test_p3_is_not_called_a_type_without_gpus(stack_with_pool: Callable[[str, str], Path]) -> None:
    stack_with_pool("p3.2xlarge", "al2023-nvidia-580-k8s1.33-20251020")
    result = runner.invoke(app, ["plan", "dev"])
    assert result.exit_code == 2, result.output
    assert "gpu_pools[0].instance_types[0]" in result.output
    assert "has NVIDIA V100 GPUs, but the GPU instance data has no record" in result.output
    assert "without NVIDIA GPUs" not in result.output
