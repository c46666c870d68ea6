"""The committed GPU instance-type file is what EC2's DescribeInstanceTypes says, regenerated here
against a moto server (whose instance-type data is AWS's) through real boto3 HTTP calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from images.instance_types import (
    DEFAULT_INSTANCE_TYPES_PATH,
    load_instance_types,
    refresh_command,
    refresh_instance_types,
)
from stacks.cli.images import images_app

pytestmark = pytest.mark.integration


@pytest.fixture
def ec2(boto_session: boto3.Session, moto_endpoint: str) -> Any:
    return boto_session.client("ec2", endpoint_url=moto_endpoint)


@pytest.fixture
def regenerated(ec2: Any) -> dict[str, Any]:
    return refresh_instance_types(ec2)


def test_committed_file_matches_a_fresh_refresh(regenerated: dict[str, Any]) -> None:
    committed = json.loads(DEFAULT_INSTANCE_TYPES_PATH.read_text(encoding="utf-8"))
    fresh = regenerated["instance_types"]
    stale = {name for name, facts in committed["instance_types"].items() if fresh.get(name) != facts}
    assert not stale, (
        f"facts differ from EC2's for {sorted(stale)}; run `mlenv images refresh-instance-types`"
    )
    missing = set(fresh) - set(committed["instance_types"])
    assert not missing, f"EC2 lists GPU types the file lacks: {sorted(missing)}; refresh it"
    assert committed["source"]["api"] == "ec2:DescribeInstanceTypes"
    assert committed["generated_at"]


def _raw(ec2: Any, instance_type: str) -> dict[str, Any]:
    (item,) = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    assert isinstance(item, dict)
    return item


@pytest.mark.parametrize(
    ("instance_type", "count", "model"),
    [
        ("p5.48xlarge", 8, "H100"),
        ("g6e.xlarge", 1, "L40S"),
        ("p4d.24xlarge", 8, "A100"),
        ("g5.xlarge", 1, "A10G"),
        ("p6-b200.48xlarge", 8, "B200"),
        ("p3dn.24xlarge", 8, "V100"),
    ],
)
def test_well_known_gpu_types_are_in_the_committed_file(
    ec2: Any, instance_type: str, count: int, model: str
) -> None:
    raw = _raw(ec2, instance_type)
    (gpu,) = raw["GpuInfo"]["Gpus"]
    assert (gpu["Count"], gpu["Name"]) == (count, model)  # AWS's published facts, as moto serves them
    info = load_instance_types().gpu_info(instance_type)
    assert (info.gpu_count, info.gpu_model, info.gpu_manufacturer) == (gpu["Count"], gpu["Name"], "NVIDIA")
    assert info.gpu_memory_mib == gpu["MemoryInfo"]["SizeInMiB"]
    assert info.total_gpu_memory_mib == raw["GpuInfo"]["TotalGpuMemoryInMiB"]
    assert info.vcpus == raw["VCpuInfo"]["DefaultVCpus"]
    assert info.memory_mib == raw["MemoryInfo"]["SizeInMiB"]
    assert info.efa_supported == raw["NetworkInfo"]["EfaSupported"]
    assert info.max_efa_interfaces == raw["NetworkInfo"].get("EfaInfo", {}).get("MaximumEfaInterfaces", 0)


def test_only_nvidia_gpu_types_are_kept(ec2: Any, regenerated: dict[str, Any]) -> None:
    pages = ec2.get_paginator("describe_instance_types").paginate()
    every = {item["InstanceType"]: item for page in pages for item in page["InstanceTypes"]}
    with_nvidia = {
        name
        for name, item in every.items()
        if any(g["Manufacturer"] == "NVIDIA" for g in item.get("GpuInfo", {}).get("Gpus", []))
    }
    assert set(regenerated["instance_types"]) == with_nvidia
    assert "m5.large" in every and "m5.large" not in regenerated["instance_types"]


def test_refresh_command_writes_a_loadable_file(moto_endpoint: str, aws_env: None, tmp_path: Path) -> None:
    output = tmp_path / "gpu_instance_types.json"
    result = refresh_command("us-east-1", moto_endpoint, output)
    loaded = load_instance_types(output)
    assert result.count == len(loaded.instance_types) > 0
    assert loaded.source["endpoint_url"] == moto_endpoint
    assert set(result.gpu_models) == {r.gpu_model for r in loaded.instance_types.values()}


@pytest.mark.parametrize(
    ("endpoint", "output_name", "exit_code", "expected"),
    [
        ("moto", "out.json", 0, "NVIDIA GPU instance types"),
        ("http://127.0.0.1:9", "out.json", 1, "could not describe instance types"),
        ("moto", "missing-dir/out.json", 2, "does not exist"),
    ],
)
def test_cli_exit_codes(
    moto_endpoint: str,
    aws_env: None,
    tmp_path: Path,
    endpoint: str,
    output_name: str,
    exit_code: int,
    expected: str,
) -> None:
    url = moto_endpoint if endpoint == "moto" else endpoint
    args = ["refresh-instance-types", "--endpoint-url", url, "--output", str(tmp_path / output_name)]
    result = CliRunner().invoke(images_app, args)
    assert result.exit_code == exit_code, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert (tmp_path / output_name).exists() == (exit_code == 0)
