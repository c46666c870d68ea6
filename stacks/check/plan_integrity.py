"""Plans the Pulumi engine could not have produced are refused before the pack sees them.

A policy check over an empty plan, a plan without its ``pulumi:pulumi:Stack`` root, or one with two
resources under one URN "passes" vacuously, while ``pulumi preview`` would have failed: the engine
always registers the stack first, refuses a second resource with an existing URN
("Duplicate resource URN"), and builds every URN from the stack, project, parent types, type and
name (``urn:pulumi:<stack>::<project>::<type chain>::<name>``, pulumi docs: Resource names/URNs).
"""

from __future__ import annotations

from collections import Counter

from stacks.errors import PlanFileError
from stacks.offline.plan import Plan

STACK_TYPE = "pulumi:pulumi:Stack"
MAX_SHOWN = 10


def plan_problems(plan: Plan) -> list[str]:
    """Why the engine could not have produced ``plan`` (empty when it could)."""
    problems: list[str] = []
    if not plan.resources:
        return ["it has no resources (the engine registers at least the pulumi:pulumi:Stack)"]
    stacks = [r for r in plan.resources if r.type == STACK_TYPE]
    if len(stacks) != 1:
        problems.append(f"it has {len(stacks)} {STACK_TYPE} resources; the engine registers exactly one")
    urns = Counter(r.urn for r in plan.resources)
    problems += [
        f"URN {urn} is registered {n} times; the engine refuses that" for urn, n in urns.items() if n > 1
    ]
    prefix = f"urn:pulumi:{plan.stack}::{plan.project}::"
    for resource in plan.resources:
        if not resource.urn.startswith(prefix) or not resource.urn.endswith(f"::{resource.name}"):
            problems.append(f"URN {resource.urn} is not {prefix}...::{resource.name}")
            continue
        qualified = resource.urn[len(prefix) : -len(f"::{resource.name}")]
        if qualified.rsplit("$", 1)[-1] != resource.type:
            problems.append(f"URN {resource.urn} does not end in its type {resource.type}")
        if resource.type != STACK_TYPE and resource.parent is not None and resource.parent not in urns:
            problems.append(f"{resource.urn}: parent {resource.parent} is not in the plan")
    return problems


def ensure_engine_could_produce(plan: Plan, *, source: str) -> None:
    """Raise PlanFileError (exit 2) listing what makes ``plan`` impossible."""
    problems = plan_problems(plan)
    if problems:
        shown = problems[:MAX_SHOWN]
        more = len(problems) - len(shown)
        lines = [f"{source}: not a plan the Pulumi engine could produce:", *(f"  - {p}" for p in shown)]
        if more:
            lines.append(f"  ... and {more} more")
        lines.append("re-create it with `mlenv plan STACK --json`")
        raise PlanFileError("\n".join(lines))
