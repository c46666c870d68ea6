"""Fixtures and builders shared by the experiment tests: a fresh ledger table on the moto server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from stacks.experiments.ledger import Ledger, create_ledger_table

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def new_ledger(dynamodb: Any) -> Ledger:
    """A ledger on a new, uniquely named table (cheaper than resetting moto per hypothesis example)."""
    table = f"mlenv-ledger-{uuid.uuid4().hex[:10]}"
    create_ledger_table(dynamodb, table)
    return Ledger(dynamodb, table)


@pytest.fixture
def dynamodb(boto_session: boto3.Session, moto_endpoint: str, reset_moto: None) -> Any:
    """A DynamoDB client on the moto server; moto is reset after the test."""
    return boto_session.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture
def ledger(dynamodb: Any) -> Ledger:
    """An empty ledger table."""
    return new_ledger(dynamodb)
