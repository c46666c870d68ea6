"""The two kinds of mlenv policy: a resource check or a stack check, each waivable.

A policy is declared with its raw check function (``check``), which reports every violation it
finds. ``validate`` (what pulumi-policy calls) runs that check with a reporter that drops the
violations an in-force waiver covers (policies/waiver_file.py); the ``waived-violations`` policy
re-runs ``check`` to report those as waived. Unknown values and not-applicable answers pass
through untouched, exactly as the SDK expects them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.waiver_file import waiver_for


class Report(Protocol):
    """How a check reports a violation: a message saying what to change, and (stack checks) the URN."""

    def __call__(self, message: str, urn: str | None = None) -> None: ...


ResourceCheck = Callable[[ResourceValidationArgs, Report], None]
StackCheck = Callable[[StackValidationArgs, Report], None]


def _unwaived(policy: str, report: ReportViolation, default_urn: str | None) -> Report:
    def report_unless_waived(message: str, urn: str | None = None) -> None:
        subject = urn or default_urn
        if subject and waiver_for(policy, subject) is not None:
            return
        report(message, urn)

    return report_unless_waived


C = TypeVar("C")


class _CheckedPolicy(Generic[C]):
    """The constructor both policy kinds share: the SDK's settings plus the check function.

    A mixin placed before the SDK's base class, whose ``__init__`` it forwards to.
    """

    def __init__(
        self,
        name: str,
        description: str,
        check: C,
        *,
        config_schema: PolicyConfigSchema | None = None,
        enforcement_level: EnforcementLevel | None = None,
        remediation_steps: str | None = None,
    ) -> None:
        super().__init__(  # type: ignore[call-arg]
            name,
            description,
            enforcement_level=enforcement_level,
            config_schema=config_schema,
            remediation_steps=remediation_steps,
        )
        self.check = check


class ResourcePolicy(_CheckedPolicy[ResourceCheck], ResourceValidationPolicy):
    """A policy that checks one resource at a time."""

    check: ResourceCheck

    def validate(self, args: ResourceValidationArgs, report_violation: ReportViolation) -> Any:
        """Run the check; violations an in-force waiver covers are not reported."""
        self.check(args, _unwaived(self.name, report_violation, args.urn))


class StackPolicy(_CheckedPolicy[StackCheck], StackValidationPolicy):
    """A policy that checks the stack as a whole (joins resources with their settings)."""

    check: StackCheck

    def validate(self, args: StackValidationArgs, report_violation: ReportViolation) -> Any:
        """Run the check; violations an in-force waiver covers are not reported."""
        self.check(args, _unwaived(self.name, report_violation, None))


MlenvPolicy = ResourcePolicy | StackPolicy
