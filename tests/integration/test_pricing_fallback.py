"""Price table: shipped data checked against moto's instance data; refresh falls back when the API fails."""

from __future__ import annotations

from datetime import date

import boto3
import pytest
from botocore.config import Config
from moto.ec2.models.instance_types import INSTANCE_TYPES

from stacks.experiments.pricing import load_price_table, refresh_price_table

pytestmark = pytest.mark.integration

SHIPPED = load_price_table()
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5)


@pytest.mark.parametrize("instance_type", sorted(SHIPPED.prices))
def test_shipped_gpu_counts_match_aws_instance_data(instance_type: str) -> None:
    """moto ships AWS's DescribeInstanceTypes data: the oracle for GPUs per instance."""
    gpus = INSTANCE_TYPES[instance_type]["GpuInfo"]["Gpus"]
    assert SHIPPED.prices[instance_type].gpus == sum(g["Count"] for g in gpus)
    assert SHIPPED.prices[instance_type].gpu == gpus[0]["Name"]


def test_shipped_table_says_where_and_when() -> None:
    assert SHIPPED.region == "us-east-1" and SHIPPED.as_of.year >= 2025
    assert all(p.source and p.usd_per_hour > 0 for p in SHIPPED.prices.values())


def test_refresh_falls_back_when_the_pricing_api_refuses(
    boto_session: boto3.Session, moto_endpoint: str
) -> None:
    """moto has no Pricing API: the call fails like an unavailable endpoint would."""
    client = boto_session.client("pricing", endpoint_url=moto_endpoint, config=NO_RETRIES)
    table = refresh_price_table(client, today=date(2026, 11, 22))
    assert table.fallback_reason is not None and "using shipped prices" in table.fallback_reason
    assert table.prices == SHIPPED.prices and table.as_of == SHIPPED.as_of


def test_refresh_falls_back_when_the_pricing_api_is_unreachable(boto_session: boto3.Session) -> None:
    client = boto_session.client("pricing", endpoint_url="http://127.0.0.1:9", config=NO_RETRIES)
    table = refresh_price_table(client, today=date(2026, 11, 22))
    assert table.fallback_reason is not None and "unavailable" in table.fallback_reason
    assert table.prices == SHIPPED.prices
