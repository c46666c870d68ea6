"""Reading EC2's instance-type data: pagination, filtering, the written file, lookups that fail clearly.
The input items are moto's copy of AWS's DescribeInstanceTypes data, split into pages here."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest

from images.errors import CatalogError
from images.instance_types import (
    gpu_info,
    load_instance_types,
    refresh_instance_types,
    write_instance_types,
)


def _aws_items() -> list[dict[str, Any]]:
    data = resources.files("moto.ec2.resources").joinpath("instance_types.json.gz").read_bytes()
    items = json.loads(gzip.decompress(data))
    return list(items.values())


class _PagedEc2:
    """An EC2 client whose DescribeInstanceTypes answers in pages of 100, as AWS does."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.meta = SimpleNamespace(
            region_name="us-east-1", endpoint_url="https://ec2.us-east-1.amazonaws.com"
        )
        self.pages_served = 0

    def get_paginator(self, operation_name: Literal["describe_instance_types"]) -> _PagedEc2:
        assert operation_name == "describe_instance_types"
        return self

    def paginate(self) -> Iterator[Mapping[str, Any]]:
        for start in range(0, len(self.items), 100):
            self.pages_served += 1
            yield {"InstanceTypes": self.items[start : start + 100]}


def test_refresh_reads_every_page() -> None:
    items = _aws_items()
    # Put a GPU type on the last page so a client that stops after page one would miss it.
    gpu = next(i for i in items if i["InstanceType"] == "p5.48xlarge")
    items = [i for i in items if i is not gpu] + [gpu]
    client = _PagedEc2(items)
    data = refresh_instance_types(client)
    assert client.pages_served == -(-len(items) // 100) > 1
    assert "p5.48xlarge" in data["instance_types"]
    expected = {
        i["InstanceType"]
        for i in items
        if any(g["Manufacturer"] == "NVIDIA" for g in i.get("GpuInfo", {}).get("Gpus", []))
    }
    assert set(data["instance_types"]) == expected


def test_written_file_round_trips_and_puts_provenance_first(tmp_path: Path) -> None:
    data = refresh_instance_types(_PagedEc2(_aws_items()))
    path = tmp_path / "types.json"
    write_instance_types(path, data)
    text = path.read_text(encoding="utf-8")
    assert list(json.loads(text))[:3] == ["schema_version", "generated_at", "source"]
    assert text.endswith("}\n")
    loaded = load_instance_types(path)
    assert set(loaded.instance_types) == set(data["instance_types"])
    write_instance_types(path, data)
    assert path.read_text(encoding="utf-8") == text  # stable output: no churn on refresh


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("p5.48xlarg", "is not an EC2 instance type.*Close matches: p5.48xlarge"),
        ("m5.large", "is an EC2 instance type without NVIDIA GPUs"),
        ("x99.huge", "is not an EC2 instance type"),
    ],
)
def test_gpu_info_rejects_unknown_and_non_gpu_types(instance_type: str, expected: str) -> None:
    with pytest.raises(CatalogError, match=expected):
        gpu_info(instance_type)


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "not valid JSON"), ('{"schema_version": 1}', "not a GPU instance-type file")],
)
def test_malformed_data_file_is_a_catalog_error(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "types.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=expected):
        load_instance_types(path)
