"""Plan JSON: what `mlenv plan --json` writes loads back equal; bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.errors import PlanFileError
from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan


@pytest.fixture(scope="module")
def dev() -> Plan:
    return plan_stack("dev")


def test_json_round_trips(dev: Plan, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(dev.to_json())
    loaded = Plan.load(path)
    assert loaded == dev
    assert loaded.to_json() == dev.to_json()


def test_two_runs_give_the_same_plan(dev: Plan) -> None:
    assert plan_stack("dev").to_json() == dev.to_json()


def test_plan_records_options_and_invokes(dev: Plan) -> None:
    stack = dev.get(dev.stack_urn)
    assert stack.type == "pulumi:pulumi:Stack"
    assert dev.outputs["environment"] == "dev"
    assert {i.token for i in dev.invokes} >= {"aws:index/getCallerIdentity:getCallerIdentity"}
    buckets = dev.of_type("aws:s3/bucket:Bucket")
    assert buckets and all(b.protect and b.retain_on_delete for b in buckets)
    assert all(b.provider and "pulumi:providers:aws" in b.provider for b in buckets)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not JSON"),
        ('{"format": 99}', "plan format 99 is not 1"),
        ("[1, 2]", "plan format 'list' is not 1"),
        ('{"format": 1, "project": "mlenv"}', "not a valid plan at stack"),
    ],
)
def test_bad_plan_files_say_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(PlanFileError, match=expected):
        Plan.from_json(text, source="plan.json")


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="cannot read plan file"):
        Plan.load(tmp_path / "absent.json")
