"""Orphan sweep through the Resource Groups Tagging API on the moto server (real tagged EC2/S3 resources)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from components.tags import Tagging
from stacks.experiments.gc import GarbageCollector
from stacks.experiments.ledger import Ledger
from stacks.experiments.orphans import TagSweeper
from stacks.experiments.records import ExperimentRecord
from stacks.experiments.settings import ExperimentSettings, experiment_config
from tests.integration.experiment_fixtures import T0, FakeClock, dynamodb, ledger
from tests.integration.in_memory_backend import InMemoryStackBackend

pytestmark = pytest.mark.integration

__all__ = ["dynamodb", "ledger"]  # fixtures used by name


def _tags(experiment: str) -> list[dict[str, str]]:
    tagging = Tagging(
        stack=f"exp-{experiment}", owner="ana", expires_at="2026-11-22T18:00:00Z", experiment=experiment
    )
    return [{"Key": k, "Value": v} for k, v in tagging.tags("experiment").items()]


@pytest.fixture
def tagged_world(boto_session: boto3.Session, moto_endpoint: str, reset_moto: None) -> Any:
    """Seven EBS volumes and a bucket of experiment 'left', one volume of 'kept', one untagged volume."""
    ec2 = boto_session.client("ec2", endpoint_url=moto_endpoint)
    for experiment, count in (("left", 7), ("kept", 1)):
        for _ in range(count):
            ec2.create_volume(
                Size=1,
                AvailabilityZone="us-east-1a",
                TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(experiment)}],
            )
    ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")
    s3 = boto_session.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="mlenv-left-scratch")
    s3.put_bucket_tagging(Bucket="mlenv-left-scratch", Tagging={"TagSet": _tags("left")})
    return boto_session.client("resourcegroupstaggingapi", endpoint_url=moto_endpoint)


def test_sweep_finds_every_tagged_resource_across_pages(tagged_world: Any) -> None:
    sweeper = TagSweeper(tagged_world, page_size=3)  # 8 resources of 'left' need three pages
    left = sweeper.tagged("left")
    assert len(left) == 8
    assert {r.experiment for r in left} == {"left"}
    assert any(r.arn.startswith("arn:aws:s3:::mlenv-left-scratch") for r in left)
    assert all(r.tags["mlenv:managed-by"] == "pulumi" for r in left)
    assert len(sweeper.tagged()) == 9  # the untagged volume never shows up
    assert {r.experiment for r in sweeper.orphans({"kept"})} == {"left"}


def test_gc_reports_resources_left_behind_by_a_destroyed_experiment(
    tagged_world: Any, ledger: Ledger
) -> None:
    settings = ExperimentSettings()
    backend = InMemoryStackBackend()
    record = ExperimentRecord(
        "left",
        "ana",
        1,
        "g6e.xlarge",
        "img",
        "p",
        T0 - timedelta(hours=3),
        T0 - timedelta(hours=1),
        "running",
        T0,
        backend_url=backend.url,
    )
    live = replace(record, name="kept", expires_at=T0 + timedelta(hours=5))
    for item in (record, live):
        ledger.client.put_item(TableName=ledger.table, Item=item.to_item())
        backend.add_stack(f"exp-{item.name}", experiment_config(item, settings))
    report = GarbageCollector(
        ledger, backend, settings, clock=FakeClock(T0), sweeper=TagSweeper(tagged_world)
    ).run()
    assert report.destroyed() == ["left"]
    # 'kept' is live in the ledger, so its volume is not an orphan; everything of 'left' is.
    assert len(report.orphans) == 8 and {o.experiment for o in report.orphans} == {"left"}
    assert report.to_json()["orphans"][0]["tags"]["mlenv:experiment"] == "left"
