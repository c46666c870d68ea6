"""Reading YAML data files strictly and reporting pydantic errors where they are in the file.

Shared by the loaders of hand-edited files in this package (the image catalog, build specs): duplicate
mapping keys are errors instead of silently keeping the last one, and every validation problem is one
line that names its location (``images[2] (al2023-...).amis.us-east-1``), says what was expected in
words rather than as a regular expression, and shows what was received.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

_SAFE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's SafeLoader where PyYAML was built with it (the same documents, parsed in C: the
catalog is read by every plan and every pack process), else the pure-Python one."""


class _UniqueKeyLoader(_SAFE_LOADER):  # type: ignore[misc]
    """A safe loader that rejects duplicate mapping keys: YAML would silently keep the last one,
    which would let a second entry with an existing id replace the pinned one unnoticed."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_yaml_strict(text: str) -> Any:
    """``yaml.safe_load`` that also rejects duplicate keys (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a safe loader: no arbitrary objects


def location(loc: Sequence[int | str], raw: Any) -> str:
    """``images[2] (al2023-...).amis.us-east-1`` from a pydantic error location; list items that have
    an ``id`` are named by it, because nobody counts list entries in a long file."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, Sequence) and 0 <= item < len(node):
                node = node[item]
                if isinstance(node, Mapping) and isinstance(node.get("id"), str):
                    label += f" ({node['id']})"
            else:
                node = None
            parts.append(label)
        else:
            node = node.get(item) if isinstance(node, Mapping) else None
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def validation_problems(error: ValidationError, raw: Any, formats: Mapping[str, str]) -> list[str]:
    """One ``location: message`` line per problem. ``formats`` maps a regex pattern to the words that
    describe it ("an AMI id: 'ami-' followed by 17 lowercase hex digits")."""
    lines = []
    for item in error.errors(include_url=False):
        # Model-level checks put their own message after pydantic's "Value error, " prefix.
        message = item["msg"].removeprefix("Value error, ")
        pattern = item.get("ctx", {}).get("pattern")
        if item["type"] == "string_pattern_mismatch" and isinstance(pattern, str) and pattern in formats:
            message = f"expected {formats[pattern]}"
        if item["type"] == "string_type" and isinstance(item.get("input"), int | float):
            message += ' (quote versions in YAML, e.g. "12.8": unquoted 12.10 would read as 12.1)'
        elif item["type"] not in {"value_error", "missing", "extra_forbidden"}:
            got = repr(item.get("input"))
            message += f" (got {got if len(got) <= 80 else got[:77] + '...'})"
        lines += [f"{location(item['loc'], raw)}: {line}" for line in message.splitlines()]
    return lines
