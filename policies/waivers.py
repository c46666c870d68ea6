"""Waivers: a violation a team has accepted for a while is reported as waived, not as a violation.

Design (works the same under `pulumi preview --policy-pack policies` and ``mlenv check``):

* Every mlenv policy is a ``ResourcePolicy`` or ``StackPolicy`` (policies/policy_types.py) whose
  ``validate`` drops a violation when an in-force waiver of policies/waivers.yaml covers that
  policy and the resource's URN (exact, or an fnmatch pattern). The mandatory finding is gone.
* ``waived-violations`` (ADVISORY stack policy) re-runs the raw check of each policy that has an
  in-force waiver, over the resources the waiver matches, and reports every violation it finds as
  ``waived: <original message> (waiver: reason: <reason>; owner: <owner>; expires: <YYYY-MM-DD>)``
  on the resource's URN. Nothing is remembered between calls: the pack stays stateless. The
  re-run uses the waived policy's default config (a policy's config is not visible to another).
* ``waivers-are-valid`` (MANDATORY stack policy) reports every malformed waiver (missing field,
  unknown field, bad date), waiver of an unknown policy, expired waiver and waiver that expires
  more than 90 days ahead. Such waivers waive nothing. A waivers file that cannot be read or parsed
  is one violation of this policy; the pack still starts and every other policy still runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.policy_types import MlenvPolicy, Report, ResourcePolicy
from policies.waiver_file import Waiver, load_waivers, today, validity_problems

WAIVED_VIOLATIONS = "waived-violations"
WAIVERS_ARE_VALID = "waivers-are-valid"
WAIVED_PREFIX = "waived:"


def waived_message(message: str, waiver: Waiver) -> str:
    """How a waived violation is reported."""
    return f"{WAIVED_PREFIX} {message} (waiver: {waiver.describe()})"


class _Skip(Exception):
    """A re-run check said it does not apply: nothing was waived."""


class _RerunResourceArgs(ResourceValidationArgs):
    def not_applicable(self, reason: str | None = None) -> None:
        raise _Skip(reason)


class _RerunStackArgs(StackValidationArgs):
    def not_applicable(self, reason: str | None = None) -> None:
        raise _Skip(reason)


def _rerun(
    policy: MlenvPolicy, args: StackValidationArgs, waivers: list[Waiver]
) -> list[tuple[str, str, Waiver]]:
    """(message, urn, waiver) of every violation of ``policy`` that ``waivers`` cover."""
    found: list[tuple[str, str, Waiver]] = []

    def cover(message: str, urn: str | None = None) -> None:
        waiver = next((w for w in waivers if urn and w.matches(policy.name, urn)), None)
        if waiver is not None and urn:
            found.append((message, urn, waiver))

    if isinstance(policy, ResourcePolicy):
        for resource in args.resources:
            if not any(w.matches(policy.name, resource.urn) for w in waivers):
                continue
            rerun = _RerunResourceArgs(
                resource.resource_type,
                resource.props,
                resource.urn,
                resource.name,
                resource.opts,
                resource.provider,
                None,
                args.stack_tags,
            )
            with contextlib.suppress(_Skip):
                policy.check(rerun, _on(cover, resource.urn))
    else:
        with contextlib.suppress(_Skip):
            policy.check(_RerunStackArgs(args.resources, None, args.stack_tags), cover)
    return found


def _on(cover: Report, resource_urn: str) -> Report:
    """A reporter that files a resource check's violations under that resource's URN."""

    def report(message: str, urn: str | None = None) -> None:
        cover(message, urn or resource_urn)

    return report


def check_waived_violations(
    policies: Sequence[MlenvPolicy], args: StackValidationArgs, report: ReportViolation
) -> None:
    """Report, as waived, each violation an in-force waiver suppressed."""
    on = today()
    active = [w for w in load_waivers().waivers if w.in_force(on)]
    if not active:
        args.not_applicable("no waiver is in force")
    for policy in policies:
        waivers = [w for w in active if w.policy == policy.name]
        if waivers:
            for message, urn, waiver in _rerun(policy, args, waivers):
                report(waived_message(message, waiver), urn)


def waived_violations(policies: Sequence[MlenvPolicy]) -> StackValidationPolicy:
    """The advisory policy that reports waived violations of ``policies``."""

    def check(args: StackValidationArgs, report: ReportViolation) -> None:
        check_waived_violations(policies, args, report)

    return StackValidationPolicy(
        name=WAIVED_VIOLATIONS,
        description=(
            "Violations covered by an in-force waiver are shown as waived, with reason, owner and expiry."
        ),
        validate=check,
        enforcement_level=EnforcementLevel.ADVISORY,
    )


def check_waivers_are_valid(
    policies: Sequence[MlenvPolicy], args: StackValidationArgs, report: ReportViolation
) -> None:
    """Report every malformed, unknown-policy, expired or too-long waiver."""
    for problem in validity_problems(load_waivers(), [p.name for p in policies], today()):
        report(problem, None)


def waivers_are_valid(policies: Sequence[MlenvPolicy]) -> StackValidationPolicy:
    """The mandatory policy that rejects bad waivers of ``policies``."""

    def check(args: StackValidationArgs, report: ReportViolation) -> None:
        check_waivers_are_valid(policies, args, report)

    return StackValidationPolicy(
        name=WAIVERS_ARE_VALID,
        description=(
            "Every waiver names a policy of this pack, a resource, a reason, an owner and "
            "an expiry at most 90 days ahead."
        ),
        validate=check,
        enforcement_level=EnforcementLevel.MANDATORY,
    )
