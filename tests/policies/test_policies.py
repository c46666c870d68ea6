"""Every policy against its fixtures (tests/policies/cases.py), called as the SDK's servicer calls it."""

from __future__ import annotations

import pytest

from policies.__main__ import POLICIES
from stacks.offline.plan import Plan
from tests.policies.cases import CASES
from tests.policies.fixtures import Case, apply
from tests.policies.harness import run

BY_NAME = {policy.name: policy for policy in POLICIES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policy_fixture(case: Case, plans: dict[str, Plan]) -> None:
    policy = BY_NAME[case.policy]
    resources = list(plans[case.base].resources)
    if case.edit is None:
        result = run(policy, resources, case.config)
        assert not result.violations, result.violations
        assert not result.unknown, result.unknown
        return
    edited, expected = apply(resources, case.edit)
    result = run(policy, edited, case.config)
    if case.reported_by is not None:
        assert not result.violations and not result.unknown, (result.violations, result.unknown)
        owner = run(BY_NAME[case.reported_by], edited, case.config)
        assert owner.urns == expected, owner.violations
    elif case.expect == "violation":
        assert result.violations, (
            f"no violation; not applicable: {result.not_applicable}, unknown: {result.unknown}"
        )
        assert result.urns == expected, result.violations
        assert all(message.strip() for message, _ in result.violations)
    elif case.expect == "not-applicable":
        assert not result.violations, result.violations
        assert result.not_applicable
    elif case.expect == "unknown":
        assert result.unknown, f"no UnknownValueError; violations: {result.violations}"
        assert not result.violations, result.violations
    else:
        assert not result.violations and not result.unknown, (result.violations, result.unknown)
