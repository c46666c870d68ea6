"""The pull-request policy workflow: valid against GitHub's workflow schema, and wired as intended."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml

from stacks.cli.app import app
from stacks.offline.engine import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "policy-check.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _schema() -> dict[str, Any]:
    """GitHub's workflow schema (SchemaStore), vendored by check-jsonschema: no network needed."""
    path = resources.files("check_jsonschema.builtin_schemas.vendor") / "github-workflows.json"
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_workflow_validates_against_the_github_workflow_schema(workflow: dict[Any, Any]) -> None:
    # PyYAML reads the `on:` key as True (YAML 1.1); GitHub reads it as "on".
    document = {("on" if key is True else key): value for key, value in workflow.items()}
    validator = jsonschema.Draft7Validator(_schema())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


def _run_lines(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_offline_job_checks_dev_prod_and_experiment_with_sarif_and_markdown(workflow: dict[Any, Any]) -> None:
    assert "pull_request" in workflow[True]
    job = workflow["jobs"]["offline-check"]
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod", "experiment"]
    assert job["permissions"]["security-events"] == "write"
    commands = _run_lines(job)
    assert (
        "mlenv check ${{ matrix.stack }} --format sarif --output reports/policy-${{ matrix.stack }}.sarif"
        in commands
    )
    assert "--format markdown" in commands and '>> "$GITHUB_STEP_SUMMARY"' in commands
    uploads = [
        s for s in job["steps"] if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif")
    ]
    assert uploads and uploads[0]["with"]["sarif_file"] == "reports/policy-${{ matrix.stack }}.sarif"
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "3.11"
    # The options the workflow passes exist on the command.
    assert {"--format", "--output"} <= _check_options()


def test_preview_job_only_with_credentials(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["preview"]
    assert "vars.MLENV_PREVIEW_ROLE_ARN" in job["if"]
    assert "pulumi preview --policy-pack policies" in _run_lines(job)
    assert (Path(REPO_ROOT) / "Makefile").read_text(encoding="utf-8").count("install:") >= 1


def _check_options() -> set[str]:
    group = typer.main.get_command(app)
    check = group.commands["check"]  # type: ignore[attr-defined]
    return {opt for param in check.params for opt in param.opts}
