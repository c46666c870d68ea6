"""The scheduled drift workflow: valid against GitHub's workflow schema, and wired as intended."""

from __future__ import annotations

import shlex
from typing import Any

import jsonschema
import pytest
import typer
import yaml

from stacks.cli.app import app
from stacks.offline.engine import REPO_ROOT
from tests.unit.test_policy_workflow import _schema

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "drift.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_workflow_validates_against_the_github_workflow_schema(workflow: dict[Any, Any]) -> None:
    document = {("on" if key is True else key): value for key, value in workflow.items()}
    errors = [
        f"{list(e.path)}: {e.message}" for e in jsonschema.Draft7Validator(_schema()).iter_errors(document)
    ]
    assert errors == []


def test_runs_on_a_schedule_with_a_read_only_role_from_a_repository_variable(
    workflow: dict[Any, Any],
) -> None:
    triggers = workflow[True]
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["drift"]
    assert "vars.MLENV_DRIFT_ROLE_ARN" in job["if"]
    assert job["permissions"]["id-token"] == "write" and job["permissions"]["contents"] == "read"
    assume = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws"))
    assert assume["with"]["role-to-assume"] == "${{ vars.MLENV_DRIFT_ROLE_ARN }}"
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]


def _drift_command(job: dict[str, Any]) -> list[str]:
    for step in job["steps"]:
        for line in str(step.get("run", "")).splitlines():
            if line.strip().startswith("mlenv drift"):
                return shlex.split(line.strip())
    raise AssertionError("no `mlenv drift` step")


def test_publishes_the_report_from_one_run(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["drift"]
    command = _drift_command(job)
    assert command[:3] == ["mlenv", "drift", "${{ matrix.stack }}"]
    assert "--report-dir" in command and "--kubeconfig" in command
    group = typer.main.get_command(app)
    options = {opt for param in group.commands["drift"].params for opt in param.opts}  # type: ignore[attr-defined]
    assert {o for o in command if o.startswith("--")} <= options
    runs = "\n".join(str(s.get("run", "")) for s in job["steps"])
    assert 'reports/drift-${{ matrix.stack }}.md >> "$GITHUB_STEP_SUMMARY"' in runs
    upload = next(
        s for s in job["steps"] if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif")
    )
    assert upload["with"]["sarif_file"] == "reports/drift-${{ matrix.stack }}.sarif"
