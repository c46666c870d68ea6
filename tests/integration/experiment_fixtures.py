"""Fixtures and builders shared by the experiment tests: a fresh ledger table on the moto server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from stacks.experiments.identity import CallerIdentity
from stacks.experiments.ledger import Ledger, create_ledger_table
from stacks.experiments.orphans import TagSweeper
from stacks.experiments.quotas import PlatformQuotas, publish_quotas

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
OPERATOR = CallerIdentity(f"arn:aws:iam::{ACCOUNT}:role/mlenv-operator")
"""The platform operator the tests act as: allowed to create experiments for the owners they name."""
QUOTAS = PlatformQuotas(
    owner_gpu_quota=8, global_gpu_quota=12, max_ttl=timedelta(hours=24), operators=(OPERATOR.arn,)
)
"""What the tests' platform publishes in its ledger unless a test says otherwise."""


def user(name: str) -> str:
    """The IAM user ARN of ``name`` in the test account: an owner key."""
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def new_ledger(dynamodb: Any, quotas: PlatformQuotas = QUOTAS) -> Ledger:
    """A ledger on a new, uniquely named table (cheaper than resetting moto per hypothesis example),
    holding the platform's ``quotas`` as the platform stack writes them."""
    table = f"mlenv-ledger-{uuid.uuid4().hex[:10]}"
    create_ledger_table(dynamodb, table)
    publish_quotas(dynamodb, table, quotas)
    return Ledger(dynamodb, table)


@pytest.fixture
def dynamodb(boto_session: boto3.Session, moto_endpoint: str, reset_moto: None) -> Any:
    """A DynamoDB client on the moto server; moto is reset after the test."""
    return boto_session.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture
def sweeper(boto_session: boto3.Session, moto_endpoint: str) -> TagSweeper:
    """The orphan sweep over the moto server's Resource Groups Tagging API."""
    return TagSweeper(boto_session.client("resourcegroupstaggingapi", endpoint_url=moto_endpoint))


@pytest.fixture
def ledger(dynamodb: Any) -> Ledger:
    """An empty ledger table."""
    return new_ledger(dynamodb)
