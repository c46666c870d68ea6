"""Errors of `mlenv exp`: each says what went wrong and what to do, and carries its CLI exit code.

Exit codes (also printed by ``mlenv exp --help``):

* ``0`` success;
* ``1`` internal or environment problem: the ledger table is unreachable, the Pulumi CLI is missing,
  a ``pulumi up``/``destroy`` failed or timed out, GC gave up on an experiment;
* ``2`` bad input: malformed duration, TTL over the maximum, invalid name, unknown experiment,
  GPUs over a quota;
* ``3`` conflict: the experiment name already exists, or the experiment is busy (being created
  or destroyed by another run).
"""

from __future__ import annotations

from collections.abc import Sequence

from stacks.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, MlenvError

EXIT_CONFLICT = 3

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 internal error (ledger unreachable, Pulumi CLI missing, pulumi up/destroy "
    "failed, gc gave up on an experiment); 2 bad input (malformed duration, TTL over the maximum, "
    "invalid name, unknown experiment, GPUs over quota); 3 conflict (name already exists, experiment busy)."
)


class ExperimentError(MlenvError):
    """Base of every `mlenv exp` error; ``str(error)`` is the one message a user sees."""

    exit_code = EXIT_INTERNAL


class ExperimentInputError(ExperimentError):
    """The request itself is wrong; fixing the command line fixes it."""

    exit_code = EXIT_BAD_INPUT


class InvalidDurationError(ExperimentInputError):
    """A duration such as ``8h`` or ``1h30m`` could not be read."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(
            f"{text!r} is not a duration: write a number followed by a unit, d (days), h (hours) or "
            "m (minutes), e.g. 8h, 90m, 2d or 1h30m"
        )


class InvalidNameError(ExperimentInputError):
    """An experiment name is not a lowercase DNS label of the allowed length."""

    def __init__(self, name: str, pattern: str) -> None:
        self.name = name
        super().__init__(
            f"{name!r} is not a valid experiment name: use 3-30 lowercase letters, digits and '-', "
            f"starting with a letter and not ending with '-' (pattern {pattern})"
        )


class ExperimentRequestError(ExperimentInputError):
    """The instance type or image cannot run the experiment (catalog, instance data, compatibility)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            option, message = self.problems[0]
            super().__init__(f"the experiment cannot run as asked: {option}: {message}")
            return
        lines = [f"the experiment cannot run as asked ({len(self.problems)} problems):"]
        lines += [f"  - {option}: {message}" for option, message in self.problems]
        super().__init__("\n".join(lines))


class TtlTooLongError(ExperimentInputError):
    """A TTL or an extension would make an experiment live longer than the configured maximum."""

    def __init__(self, requested_hours: float, max_hours: float, what: str = "TTL") -> None:
        self.requested_hours = requested_hours
        self.max_hours = max_hours
        super().__init__(
            f"{what} of {requested_hours:g}h is over the maximum lifetime of {max_hours:g}h; "
            "ask for less, or raise --max-ttl / MLENV_MAX_TTL if your platform allows it"
        )


class UnknownExperimentError(ExperimentInputError):
    """No ledger record holds this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no experiment named {name!r}; `mlenv exp ls` lists the experiments that exist")


class QuotaExceededError(ExperimentInputError):
    """A create would take GPU usage over the owner's or the global quota."""

    def __init__(self, scope: str, requested: int, used: int | None, limit: int) -> None:
        self.scope = scope
        self.requested = requested
        self.used = used
        self.limit = limit
        in_use = f"{used} already in use, " if used is not None else ""
        super().__init__(
            f"{requested} GPUs would exceed the {scope} GPU quota ({in_use}limit {limit}); "
            "ask for fewer GPUs or bring an experiment down first (`mlenv exp down NAME`)"
        )


class ExperimentConflictError(ExperimentError):
    """The ledger's state does not allow the operation right now."""

    exit_code = EXIT_CONFLICT


class ExperimentExistsError(ExperimentConflictError):
    """An experiment with this name is already in the ledger."""

    def __init__(self, name: str, status: str | None = None) -> None:
        self.name = name
        self.status = status
        state = f" (status {status})" if status else ""
        super().__init__(
            f"experiment {name!r} already exists{state}; pick another name, or `mlenv exp down {name}` first"
        )


class ExperimentBusyError(ExperimentConflictError):
    """Another run is creating or destroying the experiment."""

    def __init__(self, name: str, status: str, action: str) -> None:
        self.name = name
        self.status = status
        super().__init__(
            f"cannot {action} experiment {name!r} while it is {status}; wait for that run to finish "
            "(`mlenv exp ls` shows its status) and try again"
        )


class LedgerError(ExperimentError):
    """The ledger table could not be read or written (missing table, no credentials, no network)."""


class StackBackendError(ExperimentError):
    """Running Pulumi for an experiment stack failed."""


class PulumiNotInstalledError(StackBackendError):
    """The Pulumi CLI, which the Automation API drives, is not on PATH."""

    def __init__(self, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            "the Pulumi CLI is not installed or not on PATH" + extra + "; install it from "
            "https://www.pulumi.com/docs/install/ (e.g. `curl -fsSL https://get.pulumi.com | sh`) "
            "and make sure `pulumi version` works"
        )


class StackOperationError(StackBackendError):
    """``pulumi up``/``destroy``/... failed or timed out; quotes the last lines Pulumi printed."""

    def __init__(self, operation: str, stack: str, reason: str, last_lines: Sequence[str] = ()) -> None:
        self.operation = operation
        self.stack = stack
        self.reason = reason
        self.last_lines = tuple(last_lines)
        message = f"pulumi {operation} of stack {stack!r} failed: {reason}"
        if self.last_lines:
            message += "\nlast lines of output:\n" + "\n".join(f"  | {line}" for line in self.last_lines)
        super().__init__(message)


class GcIncompleteError(ExperimentError):
    """GC finished but could not destroy some expired experiments (see the report)."""
