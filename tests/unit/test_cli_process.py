"""The `mlenv` console script as a process: it leaves through os._exit (stacks/cli/interpreter.py),
so everything it wrote must still arrive whole and its exit codes must stay the documented ones."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stacks.offline.engine import plan_stack

CONSOLE_SCRIPT = "import sys; sys.argv[0] = 'mlenv'; from stacks.cli.app import main; main()"


def mlenv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CONSOLE_SCRIPT, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_a_large_json_plan_arrives_whole() -> None:
    result = mlenv("plan", "dev", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["resources"]) == len(plan_stack("dev").resources)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("plan", "no-such-stack"), 2, "unknown stack 'no-such-stack'"),
        (("plan",), 2, "Missing argument"),
    ],
)
def test_exit_codes_and_messages_survive(args: tuple[str, ...], code: int, message: str) -> None:
    result = mlenv(*args)
    assert result.returncode == code
    assert message in result.stderr
