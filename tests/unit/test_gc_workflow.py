"""The scheduled GC workflow: valid against GitHub's workflow schema, and running `mlenv exp gc`."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
import typer
import yaml

from stacks.cli.app import app
from stacks.offline.engine import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "experiment-gc.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return {("on" if key is True else key): value for key, value in document.items()}


def test_workflow_validates_against_the_github_workflow_schema(workflow: dict[Any, Any]) -> None:
    path = resources.files("check_jsonschema.builtin_schemas.vendor") / "github-workflows.json"
    validator = jsonschema.Draft7Validator(json.loads(path.read_text(encoding="utf-8")))
    assert [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(workflow)] == []


def test_gc_runs_on_a_schedule_within_the_lease_and_never_twice_at_once(workflow: dict[Any, Any]) -> None:
    assert workflow["on"]["schedule"] == [{"cron": "*/15 * * * *"}]
    assert workflow["concurrency"]["cancel-in-progress"] is False  # never kill a GC mid-destroy
    job = workflow["jobs"]["gc"]
    assert job["timeout-minutes"] < 60  # the ledger's lease is one hour (ExperimentSettings.lease)
    assert job["permissions"]["id-token"] == "write"
    assert "vars.MLENV_GC_ROLE_ARN" in job["if"]
    commands = "\n".join(str(step.get("run", "")) for step in job["steps"])
    assert ".venv/bin/mlenv exp gc --json" in commands
    assert "PULUMI_BACKEND_URL" in job["env"]
    # The exp group is imported when asked for (stacks/cli/app.py): look it up as click does.
    group = typer.main.get_command(app)
    exp = group.get_command(group.context_class(group), "exp")  # type: ignore[attr-defined]
    gc = exp.get_command(exp.context_class(exp), "gc")
    assert "--json" in {opt for param in gc.params for opt in param.opts}
