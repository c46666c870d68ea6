"""`mlenv drift` against a real deployed stack (opt-in: ``MLENV_E2E=1 MLENV_DRIFT_STACK=dev pytest -m e2e``).

Needs the ``pulumi`` CLI on PATH, a logged-in backend holding the stack, and (read-only) AWS
credentials. Runs the real refresh through the adapter, the export, and the AWS sweep; the layers
must all run (none skipped), and every finding must name a resource and a fix. Changes nothing.
"""

from __future__ import annotations

import os

import pytest

from stacks.drift.findings import Layer
from stacks.drift.run import DriftRequest, pulumi_backend, run_drift
from tests.e2e.prerequisites import missing_prerequisite

pytestmark = pytest.mark.e2e


SKIP_REASON = missing_prerequisite(
    ("MLENV_E2E", "MLENV_DRIFT_STACK"),
    "set MLENV_E2E=1 and MLENV_DRIFT_STACK=<deployed stack> to run drift against a real stack",
)


@pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")
def test_drift_runs_the_refresh_and_the_aws_sweep_on_a_real_stack() -> None:
    stack = os.environ["MLENV_DRIFT_STACK"]
    backend, missing = pulumi_backend()
    assert backend is not None, missing
    report = run_drift(DriftRequest(stack), backend=backend)
    ran = {r.layer for r in report.layers if r.ran}
    assert {Layer.STATE, Layer.AWS} <= ran
    assert all(f.resource and f.how for f in report.findings)
