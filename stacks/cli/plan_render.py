"""Text rendering of a Plan: the resource tree, a count by type, and the stack outputs.

Made to be read at 80 columns and piped: type tokens are shown as the Pulumi CLI shows them
(``aws:s3/bucketVersioning:BucketVersioning`` -> ``aws:s3:BucketVersioning``, the rule of
``simplifyTypeName`` in pulumi/pulumi pkg/backend/display), siblings of one type share one line, a
line wraps only between words, and a multi-line output (``feature_store.yaml``) is summarised with a
pointer to ``--out-dir``. ``--json`` has every value whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from stacks.offline.plan import UNKNOWN, Plan, PlannedResource, is_secret

STACK_TYPE = "pulumi:pulumi:Stack"
OUTPUT_INDENT = 2
ABBREVIATED = "…"


def display_type(type_: str) -> str:
    """A type token as the Pulumi CLI displays it: the module's trailing ``/<member>`` dropped."""
    parts = type_.split(":")
    if len(parts) != 3 or not parts[2]:
        return type_
    package, module, name = parts
    member = name[0].lower() + name[1:]
    if module.endswith(f"/{member}"):
        module = module[: -len(member) - 1]
    return f"{package}:{module}:{name}"


def _flags(resource: PlannedResource) -> tuple[str, ...]:
    return tuple(
        flag
        for flag, on in (
            ("protect", resource.protect),
            ("retain", resource.retain_on_delete),
            ("read", resource.read),
            (f"ignore:{','.join(resource.ignore_changes)}", bool(resource.ignore_changes)),
        )
        if on
    )


def _label(type_: str, names: list[str], flags: tuple[str, ...]) -> str:
    suffix = f" [dim]({escape(', '.join(flags))})[/dim]" if flags else ""
    return f"[cyan]{escape(display_type(type_))}[/cyan] {escape(' '.join(names))}{suffix}"


def resource_tree(plan: Plan) -> Tree:
    """Stack -> components -> resources; leaf siblings of one type and options share one line."""
    root_resource = next((r for r in plan.resources if r.type == STACK_TYPE), None)
    root = Tree(f"[bold]stack {escape(plan.stack)}[/bold] ({escape(plan.project)}, {escape(plan.mode)})")
    if root_resource is None:
        return root
    pending: list[tuple[Tree, str]] = [(root, root_resource.urn)]
    while pending:
        node, urn = pending.pop(0)
        children = sorted(plan.children(urn), key=lambda r: (r.custom, r.type, r.name))
        leaves: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for child in children:
            if plan.children(child.urn):
                branch = node.add(
                    f"[bold]{escape(child.name)}[/bold] [cyan]{escape(display_type(child.type))}[/cyan]"
                )
                pending.append((branch, child.urn))
            else:
                leaves.setdefault((child.type, _flags(child)), []).append(child.name)
        for (type_, flags), names in leaves.items():
            node.add(_label(type_, names, flags))
    return root


def resource_count(plan: Plan) -> int:
    """Resources the program registers, the Stack excluded (what `mlenv check` counts too)."""
    return sum(plan.counts_by_type().values())


def counts_block(plan: Plan) -> Group:
    """How many resources of each type: plain ``count  type`` lines (no padding cells)."""
    counts = sorted(plan.counts_by_type().items(), key=lambda item: display_type(item[0]))
    width = max((len(str(count)) for _, count in counts), default=1)
    lines = [Text(f"{resource_count(plan)} resources by type (the stack excluded)", style="italic")]
    lines += [Text(f"  {count:>{width}}  {display_type(type_)}") for type_, count in counts]
    return Group(*lines)


def _scalar(value: Any) -> str:
    if is_secret(value):
        return "[secret]"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _fit(text: str, room: int | None) -> str:
    """``text`` cut to ``room`` columns with an ellipsis (``None``: whole)."""
    if room is None or len(text) <= room:
        return text
    return text[: max(room - 1, 8)] + ABBREVIATED


def output_lines(
    name: str, value: Any, *, depth: int, room: int | None, generated: dict[str, str], stack: str
) -> Iterator[str]:
    """One output as indented ``key: value`` lines (nested objects one key a line)."""
    pad = " " * (OUTPUT_INDENT * depth)
    if isinstance(value, dict) and value and not is_secret(value):
        yield f"{pad}{name}:"
        for key in sorted(value):
            yield from output_lines(
                key, value[key], depth=depth + 1, room=room, generated=generated, stack=stack
            )
        return
    if isinstance(value, list) and value and all(not isinstance(v, dict | list) for v in value):
        yield f"{pad}{name}:"
        for item in value:
            text = _scalar(item)
            yield f"{pad}  - {_fit(text, None if room is None else room - len(pad) - 4)}"
        return
    text = _scalar(value)
    if isinstance(value, str) and "\n" in value and value != UNKNOWN:
        lines = value.count("\n") + (0 if value.endswith("\n") else 1)
        where = generated.get(name, "")
        pointer = f"; --out-dir DIR writes DIR/{where}" if where else ""
        yield f"{pad}{name}: {lines} lines{pointer}"
        return
    head = f"{pad}{name}: "
    if room is not None and len(head) + len(text) > room:
        yield f"{pad}{name}: {_fit(text, room - len(head))}"
        return
    yield head + text


def outputs_block(plan: Plan, *, width: int | None, generated: dict[str, str]) -> Group:
    """The stack outputs (secrets masked); at a terminal, long values are cut to ``width``."""
    texts = [
        line
        for name in sorted(plan.outputs)
        for line in output_lines(
            name, plan.outputs[name], depth=1, room=width, generated=generated, stack=plan.stack
        )
    ]
    lines: list[RenderableType] = [Text("stack outputs", style="italic"), *map(Text, texts)]
    if width is not None and any(ABBREVIATED in text for text in texts):
        lines.append(Text(f"(values cut with {ABBREVIATED}: `mlenv plan {plan.stack} --json`)", style="dim"))
    return Group(*lines)


def print_plan(plan: Plan, console: Console, *, generated: dict[str, str] | None = None) -> None:
    """Everything a reviewer needs to see of a plan, on one console; the count last, as a verdict."""
    width = console.width if console.is_terminal else None
    console.print(resource_tree(plan))
    console.print()
    console.print(counts_block(plan))
    console.print()
    console.print(outputs_block(plan, width=width, generated=generated or {}))
    console.print()
    console.print(
        Text(f"stack {plan.stack}: {resource_count(plan)} resources (the stack excluded)", style="bold")
    )
