"""Turn pydantic's validation errors into SpecProblems a platform engineer can act on."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from stacks.errors import SpecProblem

Loc = Sequence[int | str]


def format_path(loc: Loc) -> str:
    """``('gpu_pools', 1, 'max_size')`` -> ``gpu_pools[1].max_size``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(root)"


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The spec model that a location points into, following fields, lists, dicts and optionals."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) or current is None:
            if typing.get_origin(current) in (list, tuple):
                current = typing.get_args(current)[0]
                continue
            return None
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip ``X | None`` and ``Annotated[X, ...]`` down to X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def problems_from_validation_error(
    exc: ValidationError, root: type[BaseModel], pattern_hints: Mapping[str, str] | None = None
) -> list[SpecProblem]:
    """One SpecProblem per pydantic error, naming the field path, the value and what is allowed."""
    hints = pattern_hints or {}
    problems: list[SpecProblem] = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        path = format_path(loc)
        received = error.get("input")
        kind = error["type"]
        if kind == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            allowed = ", ".join(sorted(parent.model_fields)) if parent else "see stacks/spec/model.py"
            message = f"unknown key {loc[-1]!r}; allowed keys here: {allowed}"
        elif kind == "string_pattern_mismatch":
            pattern = str(error.get("ctx", {}).get("pattern", ""))
            allowed = hints.get(pattern, f"a value matching {pattern}")
            message = f"{_short(received)} is not allowed: expected {allowed}"
        elif kind == "missing":
            message = "is required but missing; add it (see stacks/spec/model.py for what it means)"
        else:
            message = f"{_short(received)} is not allowed: {error['msg']}"
        problems.append(SpecProblem(path=path, received=received, message=message))
    return problems
