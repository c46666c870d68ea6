"""Plan: what a run of the Pulumi program registered, as the engine received it.

A plan is recorded by ``stacks.offline.engine`` from the RegisterResource / Invoke requests the real
Pulumi SDK sent. Inputs are kept in Pulumi's wire form (the form the engine and policy analyzers
see), so secrets stay marked and unknowns stay unknown. Plans dump to JSON and load back equal.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stacks.errors import PlanFileError

PLAN_FORMAT = 1

# Pulumi's wire signatures (sdk/go/common/resource/sig); the SDK writes these into property Structs.
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class PlannedResource(BaseModel):
    """One RegisterResource (or ReadResource) request, recorded whole."""

    model_config = ConfigDict(frozen=True)

    urn: str
    type: str
    name: str
    parent: str | None = None
    custom: bool
    id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    protect: bool = False
    ignore_changes: list[str] = Field(default_factory=list)
    replace_on_changes: list[str] = Field(default_factory=list)
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    dependencies: list[str] = Field(default_factory=list)
    property_dependencies: dict[str, list[str]] = Field(default_factory=dict)
    provider: str | None = None
    additional_secret_outputs: list[str] = Field(default_factory=list)
    deleted_with: str | None = None
    import_id: str | None = None
    read: bool = False
    """True for resources read with ``get`` (ReadResource), which the program does not manage."""

    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secret markers removed (values kept), for assertions and display."""
        result = unwrap_secrets(self.inputs)
        assert isinstance(result, dict)
        return result


class PlannedInvoke(BaseModel):
    """One provider function call (data source lookup) made by the program."""

    model_config = ConfigDict(frozen=True)

    token: str
    args: dict[str, Any] = Field(default_factory=dict)
    provider: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)


class Plan(BaseModel):
    """Everything one run of the program registered, in registration order."""

    model_config = ConfigDict(frozen=True)

    format: int = PLAN_FORMAT
    mode: Literal["offline"] = "offline"
    project: str
    stack: str
    config: dict[str, Any] = Field(default_factory=dict)
    resources: list[PlannedResource] = Field(default_factory=list)
    invokes: list[PlannedInvoke] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)

    @property
    def stack_urn(self) -> str:
        """URN of the root ``pulumi:pulumi:Stack`` resource."""
        return next(r.urn for r in self.resources if r.type == "pulumi:pulumi:Stack")

    def of_type(self, type_: str) -> list[PlannedResource]:
        """Resources of one type token, in registration order."""
        return [r for r in self.resources if r.type == type_]

    def get(self, urn: str) -> PlannedResource:
        """The resource with this URN; KeyError names it when absent."""
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(f"no resource {urn} in the plan of stack {self.stack}")

    def children(self, urn: str) -> list[PlannedResource]:
        """Direct children of a resource."""
        return [r for r in self.resources if r.parent == urn]

    def descendants(self, urn: str) -> list[PlannedResource]:
        """Every resource below ``urn`` in the parent tree."""
        found: list[PlannedResource] = []
        frontier = [urn]
        while frontier:
            parent = frontier.pop()
            for child in self.children(parent):
                found.append(child)
                frontier.append(child.urn)
        return found

    def counts_by_type(self) -> Counter[str]:
        """How many resources of each type the plan creates (the stack itself excluded)."""
        return Counter(r.type for r in self.resources if r.type != "pulumi:pulumi:Stack")

    def to_json(self) -> str:
        """Stable, indented JSON; ``Plan.from_json`` reads it back equal."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str, *, source: str = "plan") -> Plan:
        """Load a plan written by ``to_json``; PlanFileError says what is wrong with it."""
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise PlanFileError(
                f"{source}: not JSON ({exc}); write it with `mlenv plan STACK --json`"
            ) from None
        except RecursionError:
            raise PlanFileError(
                f"{source}: nested too deeply to be a plan; write it with `mlenv plan STACK --json`"
            ) from None
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise PlanFileError(
                f"{source}: plan format {found!r} is not {PLAN_FORMAT}; "
                "re-create it with `mlenv plan STACK --json`"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlanFileError(f"{source}: not a valid plan at {where}: {first['msg']}") from None
        except RecursionError:
            raise PlanFileError(f"{source}: nested too deeply to be a plan") from None

    @classmethod
    def load(cls, path: Path) -> Plan:
        """Read a plan file."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PlanFileError(f"cannot read plan file {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise PlanFileError(f"{path}: not UTF-8 text (byte {exc.start}); plans are UTF-8 JSON") from None
        return cls.from_json(text, source=str(path))


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259) and no engine writes them into a plan."""
    raise ValueError(f"{name} is not a JSON number")


def unwrap_secrets(value: Any) -> Any:
    """Replace Pulumi secret envelopes by their values, recursively."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def is_secret(value: Any) -> bool:
    """Whether a wire value is a secret envelope."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG
