"""The stacks package's exception hierarchy.

Every error that can reach a user carries the message they need to act and the CLI exit code
that reports it. The CLI prints ``str(error)`` and exits with ``error.exit_code``; a traceback
never reaches a user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pulumi import RunError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

CREDENTIALS_HELP = (
    "no AWS credentials found: set AWS_PROFILE (after `aws configure` or `aws sso login`), or "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance or pod role is available"
)
"""What to do when boto3 finds no credentials: the providers of its documented credential chain
(boto3 docs, "Credentials": environment variables, shared credentials/config file with a profile,
SSO, container and instance metadata roles)."""


class MlenvError(Exception):
    """Base of every error mlenv reports to a user; ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_INTERNAL


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a stack file: where it is, what was received, and what is allowed."""

    path: str
    received: Any
    message: str

    def render(self) -> str:
        """``gpu_pools[1].max_size: 0 is below min_size 2`` style line."""
        return f"{self.path}: {self.message}"


class SpecError(MlenvError, RunError):
    """A stack file does not describe a valid environment. Lists every problem at once.

    Also a ``pulumi.RunError``, so under ``pulumi up`` the language host prints the message
    without a traceback.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, source: str, problems: Sequence[SpecProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = [f"{source}: {count} problem{'s' if count != 1 else ''} in the environment spec"]
        lines += [f"  - {p.render()}" for p in self.problems]
        super().__init__("\n".join(lines))


class StackFileError(MlenvError):
    """A stack file is missing or is not readable YAML."""

    exit_code = EXIT_BAD_INPUT


class OfflineEngineError(MlenvError):
    """The offline engine could not run the program (e.g. an invoke it has no mock for)."""

    exit_code = EXIT_INTERNAL


class PlanFileError(MlenvError):
    """A saved plan file is missing or not a plan this version can read."""

    exit_code = EXIT_BAD_INPUT
