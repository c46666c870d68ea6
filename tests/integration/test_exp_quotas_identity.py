"""Quotas are the platform's and owners are STS identities: `mlenv exp` on the moto server.

The issue this guards: `--owner-gpu-quota`/`--global-gpu-quota` were flags and the owner was
self-declared, so reserving 88 GPUs against a "32 global" quota worked by passing larger flags.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from stacks.cli.app import app
from stacks.cli.exp import ExpRuntime
from stacks.experiments.ledger import Ledger
from stacks.experiments.quotas import PlatformQuotas, publish_quotas
from tests.integration.experiment_fixtures import FakeClock, dynamodb, ledger
from tests.integration.in_memory_backend import InMemoryStackBackend

pytestmark = pytest.mark.integration

__all__ = ["dynamodb", "ledger"]  # fixtures used by name

IMAGE = "al2023-nvidia-580-k8s1.33-20251020"
PLATFORM = PlatformQuotas(owner_gpu_quota=16, global_gpu_quota=32, max_ttl=timedelta(hours=24))


def iam_user_session(boto_session: boto3.Session, endpoint: str, name: str) -> boto3.Session:
    """A boto3 session with the access key of a new IAM user ``name`` on the moto server."""
    iam = boto_session.client("iam", endpoint_url=endpoint)
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )


class Caller:
    """One person running `mlenv exp` with their own AWS credentials against one shared backend."""

    def __init__(self, ledger: Ledger, endpoint: str, session: boto3.Session, backend: Any) -> None:
        self.ledger = ledger
        self.runtime = ExpRuntime(
            backend_factory=lambda: backend, endpoint_url=endpoint, session=session, clock=FakeClock()
        )

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        options = ["--platform-stack", "dev", "--ledger-table", self.ledger.table]
        result = CliRunner().invoke(app, ["exp", *options, *args], obj=self.runtime, env=env)
        assert "Traceback" not in result.output + result.stderr
        return result


@pytest.fixture
def callers(
    ledger: Ledger, boto_session: boto3.Session, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Caller]:
    monkeypatch.setenv("COLUMNS", "200")
    publish_quotas(ledger.client, ledger.table, PLATFORM)
    backend = InMemoryStackBackend()
    return {
        name: Caller(ledger, moto_endpoint, iam_user_session(boto_session, moto_endpoint, name), backend)
        for name in ("alice", "bob", "carol")
    }


@pytest.mark.parametrize(
    "flags",
    [
        ["--global-gpu-quota", "1000"],
        ["--owner-gpu-quota", "1000"],
        ["--max-ttl", "14d"],
    ],
)
def test_quota_flags_do_not_exist(callers: dict[str, Caller], flags: list[str]) -> None:
    result = callers["alice"](*flags, "up", "big", "--gpus", "24", "--image", IMAGE)
    assert result.exit_code == 2 and "No such option" in result.stderr
    assert callers["alice"].ledger.list_experiments() == []


def test_environment_variables_cannot_raise_the_platform_quotas(callers: dict[str, Caller]) -> None:
    raised = {
        "MLENV_GLOBAL_GPU_QUOTA": "1000",
        "MLENV_OWNER_GPU_QUOTA": "1000",
        "MLENV_MAX_TTL": "14d",
    }
    alice = callers["alice"]
    too_many = alice("up", "big", "--gpus", "24", "--image", IMAGE, env=raised)
    assert too_many.exit_code == 2 and "per-owner GPU quota" in too_many.stderr
    assert "limit 16" in too_many.stderr
    too_long = alice("up", "long", "--gpus", "1", "--ttl", "2d", "--image", IMAGE, env=raised)
    assert too_long.exit_code == 2 and "maximum lifetime of 24h" in too_long.stderr
    assert alice.ledger.list_experiments() == []


def test_88_gpus_never_fit_under_a_global_quota_of_32(callers: dict[str, Caller]) -> None:
    """Three owners each ask for 16 GPUs twice (96 in all): only 32 are ever granted."""
    granted = 0
    for name, caller in callers.items():
        for i in range(2):
            result = caller("up", f"{name}-{i}", "--gpus", "16", "--ttl", "2h", "--image", IMAGE)
            assert result.exit_code in (0, 2), result.stderr
            granted += 16 if result.exit_code == 0 else 0
            if result.exit_code == 2:
                assert "GPU quota" in result.stderr
    assert granted == 32
    assert sum(r.gpus for r in callers["alice"].ledger.list_experiments()) == 32


def test_two_callers_get_their_own_identities_and_quotas(callers: dict[str, Caller]) -> None:
    alice, bob = callers["alice"], callers["bob"]
    assert alice("up", "a-run", "--gpus", "12", "--image", IMAGE).exit_code == 0
    assert bob("up", "b-run", "--gpus", "12", "--image", IMAGE).exit_code == 0
    rows = {row["name"]: row for row in json.loads(alice("ls", "--json").stdout)}
    assert rows["a-run"]["owner_arn"] == "arn:aws:iam::123456789012:user/alice"
    assert rows["b-run"]["owner_arn"] == "arn:aws:iam::123456789012:user/bob"
    assert (rows["a-run"]["owner"], rows["b-run"]["owner"]) == ("alice", "bob")
    # Each owner's counter is their own: alice's 12 do not count against bob's 16.
    assert alice.ledger.usage("arn:aws:iam::123456789012:user/alice") == (12, 24)
    more = bob("up", "b-two", "--gpus", "5", "--image", IMAGE)
    assert more.exit_code == 2 and "per-owner (bob) GPU quota (12 already in use, limit 16)" in more.stderr


def test_only_operators_may_name_another_owner(callers: dict[str, Caller], ledger: Ledger) -> None:
    alice = callers["alice"]
    result = alice(
        "up", "for-bob", "--gpus", "1", "--image", IMAGE, "--owner", "arn:aws:iam::123456789012:user/bob"
    )
    assert result.exit_code == 2
    assert "arn:aws:iam::123456789012:user/alice may not create experiments for others" in result.stderr
    assert ledger.list_experiments() == []
    # The platform names alice an operator (a platform stack change): now she may.
    publish_quotas(
        ledger.client,
        ledger.table,
        PlatformQuotas(**{**PLATFORM.__dict__, "operators": ("arn:aws:iam::123456789012:user/alice",)}),
    )
    result = alice(
        "up", "for-bob", "--gpus", "1", "--image", IMAGE, "--owner", "arn:aws:iam::123456789012:user/bob"
    )
    assert result.exit_code == 0, result.stderr
    record = ledger.get("for-bob")
    assert record is not None and record.owner == "bob"
    assert record.created_by == "arn:aws:iam::123456789012:user/alice"
    assert ledger.usage("arn:aws:iam::123456789012:user/bob")[0] == 1
