"""Reading a stack file (``stacks/Pulumi.<stack>.yaml``) strictly, before any program runs.

A stack file is hand-edited. PyYAML's safe loader silently keeps the last of two duplicate keys,
expands aliases without bound (a 600-byte "billion laughs" document becomes gigabytes once the
config is serialised for the program), and the Pulumi CLI's own answers to an empty file, a
misspelt ``mlenv:environment`` or a non-mapping value are hints about ``pulumi config set``. Here
every such problem is a :class:`StackFileError` (exit 2) that names the file, and every problem the
loader can see is listed in one run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stacks.errors import StackFileError

MAX_STACK_FILE_BYTES = 1024 * 1024
"""Stack files are a few kilobytes; anything larger is not a stack file (and would be slow to read)."""
MAX_EXPANDED_NODES = 100_000
"""Nodes the document may have once aliases are expanded: the shipped stacks have a few hundred;
the bound stops an alias bomb before it is constructed or serialised."""
ENVIRONMENT_KEY = "mlenv:environment"
TOP_LEVEL_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
"""Keys the Pulumi CLI reads from a stack settings file (pulumi/pkg/workspace ProjectStack)."""

_BASE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(_BASE_LOADER):  # type: ignore[misc]
    """Safe loader (libyaml when present) that records duplicate mapping keys instead of keeping
    the last one silently."""

    duplicates: list[str]


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.setdefault(key, line)
        except TypeError:  # an unhashable key: SafeConstructor reports it below
            continue
        if first != line:
            loader.duplicates.append(
                f"line {line}: duplicate key {key!r} (first at line {first}); YAML would keep only the last"
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def expanded_size(node: yaml.Node, limit: int) -> int:
    """Nodes in the document with every alias expanded, counted up to ``limit`` (memoised per node,
    so an alias bomb is measured without being expanded)."""
    sizes: dict[int, int] = {}

    def size(current: yaml.Node, depth: int) -> int:
        known = sizes.get(id(current))
        if known is not None:
            return known
        if depth > 200:  # deeper than any config; also keeps the recursion bounded
            return limit + 1
        total = 1
        if isinstance(current, yaml.SequenceNode):
            for item in current.value:
                total += size(item, depth + 1)
                if total > limit:
                    break
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                total += size(key, depth + 1) + size(value, depth + 1)
                if total > limit:
                    break
        sizes[id(current)] = total
        return total

    return size(node, 0)


@dataclass
class StackDocument:
    """A stack file read and checked: its ``config`` mapping, as YAML gave it."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)


def read_stack_document(path: Path, *, shown_as: str | None = None) -> StackDocument:
    """Read and check a stack file; StackFileError lists every problem, each prefixed by the file."""
    name = shown_as or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StackFileError(f"{name}: cannot read the stack file: {exc.strerror}") from None
    if len(data) > MAX_STACK_FILE_BYTES:
        limit = MAX_STACK_FILE_BYTES
        raise StackFileError(f"{name}: {len(data)} bytes is not a stack file (at most {limit})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StackFileError(
            f"{name}: not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "save the file as UTF-8"
        ) from None
    document = _parse(text, name)
    problems = list(_document_problems(document))
    if problems:
        raise StackFileError(_render(name, problems))
    assert isinstance(document, dict)
    return StackDocument(path=path, config=dict(document["config"]))


def _parse(text: str, name: str) -> Any:
    loader = _StrictLoader(text)
    loader.duplicates = []
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if expanded_size(node, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise StackFileError(
                f"{name}: aliases expand to more than {MAX_EXPANDED_NODES} YAML nodes (or nest deeper "
                "than 200 levels); write the values out instead of nesting aliases"
            )
        document = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise StackFileError(f"{name}: not valid YAML: {exc}") from None
    except RecursionError:
        raise StackFileError(f"{name}: nested too deeply to be a stack file") from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise StackFileError(_render(name, loader.duplicates))
    return document


def _document_problems(document: Any) -> Iterator[str]:
    if document is None:
        yield f"the file is empty; it needs config: {{{ENVIRONMENT_KEY}: {{...}}}} (see Pulumi.dev.yaml)"
        return
    if not isinstance(document, dict):
        yield f"the top level is a {type(document).__name__}, not a mapping with a 'config' key"
        return
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            hint = _did_you_mean(key, TOP_LEVEL_KEYS)
            yield f"unknown top-level key {key!r}{hint}; allowed: {', '.join(TOP_LEVEL_KEYS)}"
    config = document.get("config")
    if not isinstance(config, dict):
        yield f"'config' must map namespaced keys ({ENVIRONMENT_KEY}: ...), got {_kind(config)}"
        return
    for key in config:
        if not isinstance(key, str):
            yield f"config key {key!r} is not a string; write namespaced keys such as {ENVIRONMENT_KEY}"
        elif key != ENVIRONMENT_KEY and (key.startswith("mlenv:") or ":" not in key):
            yield (
                f"config key {key!r} is not one mlenv reads{_did_you_mean(key, (ENVIRONMENT_KEY,))}; "
                f"mlenv reads only {ENVIRONMENT_KEY}"
            )
    if ENVIRONMENT_KEY not in config:
        yield f"config has no {ENVIRONMENT_KEY!r}: the whole environment lives under that key"
    elif not isinstance(config[ENVIRONMENT_KEY], dict):
        got = _kind(config[ENVIRONMENT_KEY])
        yield f"config.{ENVIRONMENT_KEY} must be a mapping of environment settings, got {got}"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return f"a {type(value).__name__} ({text if len(text) <= 40 else text[:37] + '...'})"


def _did_you_mean(key: object, choices: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(str(key), choices, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _render(name: str, problems: list[str]) -> str:
    count = len(problems)
    lines = [f"{name}: {count} problem{'s' if count != 1 else ''} in the stack file"]
    return "\n".join([*lines, *(f"  - {p}" for p in problems)])
