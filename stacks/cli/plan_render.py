"""Text rendering of a Plan: the resource tree, a count by type, and the stack outputs."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.tree import Tree

from stacks.offline.plan import Plan, PlannedResource, is_secret


def _label(resource: PlannedResource) -> str:
    flags = [
        flag
        for flag, on in (
            ("protect", resource.protect),
            ("retain", resource.retain_on_delete),
            ("read", resource.read),
            (f"ignore:{','.join(resource.ignore_changes)}", bool(resource.ignore_changes)),
        )
        if on
    ]
    suffix = f" [dim]({', '.join(flags)})[/dim]" if flags else ""
    return f"[bold]{resource.name}[/bold] [cyan]{resource.type}[/cyan]{suffix}"


def resource_tree(plan: Plan) -> Tree:
    """Parent -> children, from the stack down, in registration order of each level."""
    root_resource = next((r for r in plan.resources if r.type == "pulumi:pulumi:Stack"), None)
    root = Tree(f"[bold]stack {plan.stack}[/bold] ({plan.project}, {plan.mode})")
    if root_resource is None:
        return root
    pending: list[tuple[Tree, str]] = [(root, root_resource.urn)]
    while pending:
        node, urn = pending.pop()
        for child in sorted(plan.children(urn), key=lambda r: (r.custom, r.type, r.name)):
            pending.append((node.add(_label(child)), child.urn))
    return root


def counts_table(plan: Plan) -> Table:
    """How many resources of each type."""
    table = Table(title=f"{sum(plan.counts_by_type().values())} resources by type", title_justify="left")
    table.add_column("type")
    table.add_column("count", justify="right")
    for type_, count in sorted(plan.counts_by_type().items()):
        table.add_row(type_, str(count))
    return table


def _display(value: Any) -> str:
    if is_secret(value):
        return "[secret]"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def outputs_table(plan: Plan) -> Table:
    """The stack outputs (secrets masked)."""
    table = Table(title="stack outputs", title_justify="left")
    table.add_column("name")
    table.add_column("value", overflow="fold")
    for name, value in sorted(plan.outputs.items()):
        table.add_row(name, _display(value))
    return table


def print_plan(plan: Plan, console: Console) -> None:
    """Everything a reviewer needs to see of a plan, on one console."""
    console.print(Group(resource_tree(plan), "", counts_table(plan), "", outputs_table(plan)))
