"""The real Pulumi adapter on a real experiment stack (opt-in: ``MLENV_E2E=1 pytest -m e2e``).

Needs the ``pulumi`` CLI on PATH, a logged-in Pulumi backend, AWS credentials, and a deployed platform
stack (``MLENV_PLATFORM_STACK``, default prod) whose cluster the experiment joins. Creates a one-GPU
experiment stack through the adapter, reads it back, destroys and removes it. Costs a few GPU-minutes.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from stacks.automation import PulumiAutomationBackend
from stacks.experiments.records import CREATING, ExperimentRecord
from stacks.experiments.settings import ExperimentSettings, experiment_config, stack_name_for
from tests.e2e.prerequisites import missing_prerequisite

pytestmark = pytest.mark.e2e


SKIP_REASON = missing_prerequisite(
    ("MLENV_E2E",),
    "set MLENV_E2E=1 (and MLENV_EXP_IMAGE, MLENV_PLATFORM_STACK) to create a real experiment stack",
)


@pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")
def test_adapter_creates_reads_and_destroys_an_experiment_stack() -> None:
    settings = ExperimentSettings(platform_stack=os.environ.get("MLENV_PLATFORM_STACK", "prod"))
    now = datetime.now(UTC)
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    record = ExperimentRecord(
        name,
        "e2e",
        1,
        "g6e.xlarge",
        os.environ.get("MLENV_EXP_IMAGE", ""),
        "",
        now,
        now + timedelta(hours=1),
        CREATING,
        now,
    )
    stack = stack_name_for(name)
    backend = PulumiAutomationBackend(timeout_seconds=1800)
    lines: list[str] = []
    try:
        outputs = backend.up(stack, experiment_config(record, settings), on_output=lines.append)
        assert lines, "pulumi up streamed no output"
        assert stack in backend.list_stacks()
        assert backend.read_environment(stack) == experiment_config(record, settings)
        assert backend.outputs(stack) == outputs
    finally:
        backend.destroy(stack, on_output=lines.append)
        backend.remove_stack(stack)
    assert stack not in backend.list_stacks()
