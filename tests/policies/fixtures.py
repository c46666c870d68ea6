"""Fixture edits: one field of one real plan resource changed, removed or made unknown."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from stacks.offline.plan import UNKNOWN, PlannedResource

DELETE = object()
"""Remove the property (the 'attribute missing' fixtures)."""
Kind = Literal["pass", "fail", "missing", "unknown"]
Change = Callable[[PlannedResource], PlannedResource | None]


def _set(inputs: Any, path: tuple[str, ...], value: Any) -> Any:
    data = json.loads(json.dumps(inputs))
    node = data
    for step in path[:-1]:
        node = node[int(step)] if isinstance(node, list) else node.setdefault(step, {})
    last = path[-1]
    if value is DELETE:
        if isinstance(node, list):
            del node[int(last)]
        else:
            node.pop(last, None)
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


@dataclass(frozen=True)
class Edit:
    """Change the resource ``target`` (type, name); the violation is expected on ``on`` (default: target)."""

    id: str
    target: tuple[str, str]
    change: Change
    on: tuple[str, str] | None = None
    also: tuple[tuple[str, str], ...] = ()
    """Further resources the violation is expected on (a change that affects several)."""


def setv(
    type_: str,
    name: str,
    path: str | tuple[str, ...],
    value: Any,
    *,
    id: str,
    on: tuple[str, str] | None = None,
    also: tuple[tuple[str, str], ...] = (),
) -> Edit:
    """Set (or DELETE, or make UNKNOWN) one input of one resource."""
    steps = tuple(path.split(".")) if isinstance(path, str) else path

    def change(resource: PlannedResource) -> PlannedResource:
        return resource.model_copy(update={"inputs": _set(resource.inputs, steps, value)})

    return Edit(id, (type_, name), change, on, also)


def unknown(type_: str, name: str, path: str | tuple[str, ...], *, on: tuple[str, str] | None = None) -> Edit:
    """Make one input unknown, as it would be at preview before its dependency exists."""
    return setv(type_, name, path, UNKNOWN, id="unknown", on=on)


def drop(type_: str, name: str, *, id: str, on: tuple[str, str]) -> Edit:
    """Remove a whole resource (e.g. a bucket's versioning resource)."""
    return Edit(id, (type_, name), lambda _r: None, on)


def opts(type_: str, name: str, *, id: str, **updates: Any) -> Edit:
    """Change resource options (protect, ignore_changes ...)."""
    return Edit(id, (type_, name), lambda r: r.model_copy(update=updates))


def restack(urn: str, stack: str) -> str:
    """The same URN in another stack."""
    _, rest = urn.split("::", 1)
    return f"urn:pulumi:{stack}::{rest}"


def find(resources: Sequence[PlannedResource], target: tuple[str, str]) -> PlannedResource:
    """The one resource of a type and name; AssertionError if the plan changed under the fixture."""
    found = [r for r in resources if (r.type, r.name) == target]
    assert len(found) == 1, f"fixture target {target} found {len(found)} times in the plan"
    return found[0]


def apply(resources: Sequence[PlannedResource], edit: Edit) -> tuple[list[PlannedResource], set[str]]:
    """The edited resources and the URNs the violation is expected on."""
    subject = find(resources, edit.target)
    expected = {find(resources, edit.on).urn if edit.on else subject.urn}
    expected |= {find(resources, other).urn for other in edit.also}
    edited: list[PlannedResource] = []
    for resource in resources:
        if resource.urn == subject.urn:
            changed = edit.change(resource)
            if changed is not None:
                edited.append(changed)
        else:
            edited.append(resource)
    return edited, expected


@dataclass(frozen=True)
class Case:
    """One fixture of one policy."""

    policy: str
    kind: Kind
    base: str
    edit: Edit | None = None
    expect: Literal["violation", "not-applicable", "unknown", "pass"] = "violation"
    config: dict[str, Any] = field(default_factory=dict)
    reported_by: str | None = None
    """For a value one policy skips because another owns it: the policy that must report the
    violation instead (the skipping policy must then pass, not give up)."""

    @property
    def id(self) -> str:
        return f"{self.policy}:{self.kind}:{self.edit.id if self.edit else 'happy'}@{self.base}"


def cases(
    policy: str,
    base: str,
    *,
    fails: Sequence[Edit],
    missing: Edit,
    unknown_: Edit,
    missing_expect: Literal["violation", "not-applicable"] = "violation",
    missing_reported_by: str | None = None,
    unknown_expect: Literal["unknown", "pass"] = "unknown",
    extra_pass: Sequence[str] = (),
) -> list[Case]:
    """A policy's happy path on ``base`` (and other plans), failing fixtures, missing and unknown.

    ``unknown_expect="pass"`` is for a value the policy decides without reading (a join through
    property dependencies): the policy must still be evaluated, not give up.
    """
    return [
        Case(policy, "pass", base),
        *(Case(policy, "pass", other) for other in extra_pass),
        *(Case(policy, "fail", base, edit) for edit in fails),
        Case(policy, "missing", base, missing, expect=missing_expect, reported_by=missing_reported_by),
        Case(policy, "unknown", base, unknown_, expect=unknown_expect),
    ]


def both(first: Edit, second: Edit, *, id: str) -> Edit:
    """Two changes to the same resource (e.g. a non-catalog image that also runs as root)."""
    assert first.target == second.target

    def change(resource: PlannedResource) -> PlannedResource | None:
        changed = first.change(resource)
        return second.change(changed) if changed is not None else None

    return Edit(id, first.target, change, first.on, first.also)
