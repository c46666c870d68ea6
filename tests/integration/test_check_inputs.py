"""`mlenv check` input hardening: impossible plans, broken files, disabled policies, --output guard.

Plans come from the real program under the offline engine (``small_program``), then are damaged the
way a hand-edited or truncated plan file would be.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stacks.check.plan_integrity import plan_problems
from stacks.cli.app import app
from stacks.offline.plan import Plan
from tests.policies.runner_fixtures import FIXTURE_PACK, plan_of, small_program

runner = CliRunner()


@pytest.fixture(scope="module")
def plan_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(plan_of(small_program()).to_json())
    return data


def _check(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, result.stdout + result.stderr


def _write(tmp_path: Path, data: Any, name: str = "plan.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _no_stack(d: dict[str, Any]) -> None:
    d["resources"] = [r for r in d["resources"] if r["type"] != "pulumi:pulumi:Stack"]


def _duplicate(d: dict[str, Any]) -> None:
    d["resources"].append(d["resources"][-1])


def _orphan(d: dict[str, Any]) -> None:
    d["resources"][-1]["parent"] = "urn:pulumi:runner::mlenv::pulumi:pulumi:Stack::elsewhere"


def _retyped(d: dict[str, Any]) -> None:
    d["resources"][-1]["type"] = (
        "aws:s3/bucket:Bucket" if "Bucket" not in d["resources"][-1]["type"] else "x:y:Z"
    )


def _other_stack(d: dict[str, Any]) -> None:
    d["stack"] = "prod"


IMPOSSIBLE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no resources": (lambda d: d.update(resources=[]), "it has no resources"),
    "no Stack resource": (_no_stack, "0 pulumi:pulumi:Stack resources"),
    "duplicate URN": (_duplicate, "is registered 2 times"),
    "parent missing": (_orphan, "is not in the plan"),
    "type not in URN": (_retyped, "does not end in its type"),
    "URN of another stack": (_other_stack, "is not urn:pulumi:prod::mlenv::"),
}


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE))
def test_impossible_plans_exit_2(case: str, plan_json: dict[str, Any], tmp_path: Path) -> None:
    damage, expected = IMPOSSIBLE[case]
    data = json.loads(json.dumps(plan_json))
    damage(data)
    code, output = _check("--plan", str(_write(tmp_path, data)), "--pack", str(FIXTURE_PACK))
    assert code == 2, output
    assert "not a plan the Pulumi engine could produce" in output and expected in output, output


def test_real_plans_are_possible(plan_json: dict[str, Any]) -> None:
    assert plan_problems(Plan.model_validate(plan_json)) == []


BROKEN: dict[str, Callable[[str], bytes]] = {
    "NaN": lambda text: text.replace('"format": 1', '"format": 1, "x": NaN', 1).encode(),
    "Infinity": lambda text: text.replace('"format": 1', '"format": 1, "x": -Infinity', 1).encode(),
    "non-UTF-8": lambda text: text.encode().replace(b"runner", b"r\xfcnner", 1),
    "100k deep": lambda text: ("[" * 100_000 + "]" * 100_000).encode(),
    "deep inputs": lambda text: text.replace(
        '"inputs": {', '"inputs": {"d": ' + "[" * 50_000 + "]" * 50_000 + ",", 1
    ).encode(),
    "not JSON": lambda text: b"{",
    "a list": lambda text: b"[]",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plan_files_exit_2_naming_the_file(
    case: str, plan_json: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(BROKEN[case](json.dumps(plan_json)))
    code, output = _check("--plan", str(path), "--pack", str(FIXTURE_PACK))
    assert code == 2, output
    assert str(path) in output.replace("\n", ""), output
    assert "internal error" not in output


@pytest.mark.parametrize("content", [b"\xff\xfe", b"[" * 100_000, b'{"all": NaN'])
def test_broken_policy_config_exits_2(content: bytes, plan_json: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(content)
    code, output = _check(
        "--plan", str(_write(tmp_path, plan_json)), "--pack", str(FIXTURE_PACK), "--config", str(config)
    )
    assert code == 2, output
    assert "internal error" not in output


def test_disabled_policies_are_reported_as_disabled(plan_json: dict[str, Any], tmp_path: Path) -> None:
    config = _write(tmp_path, {"all": "disabled"}, "config.json")
    code, output = _check(
        "--plan", str(_write(tmp_path, plan_json)), "--pack", str(FIXTURE_PACK), "--config", str(config)
    )
    assert code == 0, output
    assert "disabled by the policy config (not run): fixture-required-tags" in output
    assert "fixture-protect-buckets" in output
    assert "disabled)" in output.splitlines()[-1], output


@pytest.mark.parametrize("name", ["plan.json", "Pulumi.dev.yaml", "Pulumi.yaml", "waivers.yaml"])
def test_output_never_overwrites_an_input_or_a_stack_file(
    name: str, plan_json: dict[str, Any], tmp_path: Path
) -> None:
    plan = _write(tmp_path, plan_json)
    target = tmp_path / name
    if not target.exists():
        target.write_text("keep me\n", encoding="utf-8")
    before = target.read_bytes()
    code, output = _check("--plan", str(plan), "--pack", str(FIXTURE_PACK), "--output", str(target))
    assert code == 2, output
    assert target.read_bytes() == before


def test_plan_out_refuses_a_stack_file(tmp_path: Path) -> None:
    target = tmp_path / "Pulumi.dev.yaml"
    target.write_text("keep me\n", encoding="utf-8")
    result = runner.invoke(app, ["plan", "dev", "--out", str(target)])
    assert result.exit_code == 2
    assert target.read_text() == "keep me\n"
