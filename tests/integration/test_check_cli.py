"""`mlenv check`: exit codes, formats and files, through the CLI (in-process) and the real runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stacks.cli.app import app
from stacks.offline.plan import Plan
from tests.policies.runner_fixtures import FIXTURE_PACK, plan_of, small_program

runner = CliRunner()


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plans") / "runner.json"
    path.write_text(plan_of(small_program()).to_json(), encoding="utf-8")
    return path


def check(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, result.stdout, result.stderr


def test_mandatory_violation_exits_1_naming_the_policy(plan_file: Path) -> None:
    code, out, _ = check("--plan", str(plan_file), "--pack", str(FIXTURE_PACK))
    assert code == 1, out
    assert "stack runner  fixture-protect-buckets  bad  ✗ violation: set protect=True on bad" in out
    assert "policy check FAILED" in out


def test_all_advisory_config_exits_0(plan_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"all": "advisory"}), encoding="utf-8")
    code, out, _ = check("--plan", str(plan_file), "--pack", str(FIXTURE_PACK), "--config", str(config))
    assert code == 0, out
    assert "policy check passed" in out


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "markdown", "text"])
def test_every_format_to_stdout_and_to_a_file(plan_file: Path, tmp_path: Path, fmt: str) -> None:
    code, out, _ = check(
        "--plan", str(plan_file), "--pack", str(FIXTURE_PACK), "--format", fmt, "--jobs", "1"
    )
    assert code == 1
    target = tmp_path / "reports" / f"report.{fmt}"
    code, _, err = check("--plan", str(plan_file), "--pack", str(FIXTURE_PACK), "-f", fmt, "-o", str(target))
    assert code == 1
    written = target.read_text(encoding="utf-8")
    assert f"written to {target}" in err
    if fmt == "json":
        assert json.loads(out) == json.loads(written)
        assert json.loads(out)["summary"]["violation"] == 3
    elif fmt == "sarif":
        assert json.loads(written)["version"] == "2.1.0"
    elif fmt == "junit":
        assert written.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    elif fmt == "markdown":
        assert written.startswith("### mlenv policy check: `runner`")
    else:
        assert "fixture-protect-buckets  bad  ✗ violation: set protect=True on bad" in written


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "give either a STACK"),
        (["dev", "--plan", "x.json"], "give either a STACK"),
        (["staging"], "unknown stack 'staging'"),
        (["--plan", "does-not-exist.json"], "cannot read plan file"),
        (["--plan", "{plan_dir}/not-a-plan.json"], "not JSON"),
        (["--plan", "{plan}", "--config", "{plan_dir}/bad-config.json"], "is not an enforcement level"),
        (["--plan", "{plan}", "--pack", "{plan_dir}"], "no policy pack at"),
    ],
)
def test_bad_input_exits_2_without_traceback(plan_file: Path, args: list[str], expected: str) -> None:
    (plan_file.parent / "not-a-plan.json").write_text("{not json", encoding="utf-8")
    (plan_file.parent / "bad-config.json").write_text('{"all": "sometimes"}', encoding="utf-8")
    filled = [a.format(plan=plan_file, plan_dir=plan_file.parent) for a in args]
    code, out, err = check(*filled)
    assert code == 2, out + err
    assert expected in " ".join(err.split())
    assert "Traceback" not in out + err


def test_help_documents_exit_codes() -> None:
    result = runner.invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "0 no mandatory policy violation" in text
    assert "1 at least one mandatory violation" in text
    assert "2 bad input" in text


def test_saved_plan_and_stack_give_the_same_report(tmp_path: Path) -> None:
    saved = tmp_path / "dev.json"
    assert runner.invoke(app, ["plan", "dev", "--out", str(saved)]).exit_code == 0
    assert Plan.load(saved).stack == "dev"
    by_stack = check("dev", "--pack", str(FIXTURE_PACK), "-f", "json")
    by_plan = check("--plan", str(saved), "--pack", str(FIXTURE_PACK), "-f", "json")
    assert by_stack[0] == by_plan[0] == 1
    assert json.loads(by_stack[1]) == json.loads(by_plan[1])
    assert json.loads(by_plan[1])["stack_file"] == "stacks/Pulumi.dev.yaml"


def test_more_pack_processes_join_once_the_plan_is_known() -> None:
    # The pack starts while the program plans (one process), then -j 2 adds one: same report.
    one = check("dev", "--pack", str(FIXTURE_PACK), "-f", "json", "-j", "1")
    two = check("dev", "--pack", str(FIXTURE_PACK), "-f", "json", "-j", "2")
    assert one[0] == two[0] == 1
    assert json.loads(one[1]) == json.loads(two[1])


def test_a_bad_stack_is_the_error_even_when_the_pack_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pack is started while the stack plans; the user must fix the stack first, so its error wins.
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((repo / "Pulumi.yaml").read_text())
    dev = (repo / "stacks" / "Pulumi.dev.yaml").read_text()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(dev.replace("max_size: 2", "max_size: 0", 1))
    monkeypatch.chdir(tmp_path)  # as -C would, but restored for the tests after this one
    result = runner.invoke(app, ["check", "dev", "--pack", str(tmp_path / "no-pack")])
    assert result.exit_code == 2, result.output
    assert "max_size: 0 is not allowed" in result.output
    assert "policy pack" not in result.output
