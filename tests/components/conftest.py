"""Plans of the real program, recorded by the offline engine, shared by the component tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stacks.offline.engine import plan_stack, run_program
from stacks.offline.plan import Plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    """What `pulumi up -s dev` would register, as recorded from the real program."""
    return plan_stack("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    """What `pulumi up -s prod` would register, as recorded from the real program."""
    return plan_stack("prod")


@pytest.fixture(params=["dev", "prod"])
def plan(request: pytest.FixtureRequest) -> Plan:
    """Each platform stack's plan in turn. Modules about one stack define their own ``plan``."""
    fixture: Plan = request.getfixturevalue(f"{request.param}_plan")
    return fixture


ProgramRunner = Callable[[Callable[[], Any]], Plan]


@pytest.fixture
def run_offline() -> ProgramRunner:
    """Run an ad-hoc Pulumi program function (e.g. one component with chosen args) offline."""

    def run(program: Callable[[], Any], *, region: str = "us-east-1", stack: str = "test") -> Plan:
        return run_program(program, config={}, secret_keys=[], stack=stack, region=region)

    return run
