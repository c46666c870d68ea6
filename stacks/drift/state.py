"""Read a stack's state: the JSON ``pulumi stack export`` writes (checkpoint deployment version 3).

The format is Pulumi's ``apitype.UntypedDeployment`` / ``DeploymentV3`` (pulumi/pulumi
``sdk/go/common/apitype/core.go``; JSON schema ``sdk/go/common/apitype/deployments.json`` and
``resources.json``): ``{"version": 3, "deployment": {"manifest": {"time", "magic", "version"},
"secrets_providers"?, "resources": [ResourceV3], "pending_operations"?}}``, each ResourceV3 with a
required ``urn`` and optional ``custom``, ``id``, ``type``, ``inputs``, ``outputs``, ``parent``,
``external``, ``delete``, and (engine >= 3.100) ``created`` / ``modified`` timestamps, which give
findings their "since".

Only what drift needs is kept. Secret values (``{"4dabf1...": "1b4706...", "ciphertext": ...}``)
stay opaque: tags and names are never secret in mlenv's program.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.drift.errors import StateFileError

DEPLOYMENT_VERSION = 3
STACK_TYPE = "pulumi:pulumi:Stack"
EXPORT_HINT = "write it with `pulumi stack export --stack STACK --file FILE`"


@dataclass(frozen=True)
class StateResource:
    """One resource of the state, as drift sees it."""

    urn: str
    type: str
    custom: bool
    id: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    parent: str | None = None
    external: bool = False
    """Read with ``get`` (not managed by this stack)."""
    modified: str | None = None
    """When the engine last wrote the resource (``modified``, else ``created``), if recorded."""

    @property
    def name(self) -> str:
        """The logical name: the URN's last ``::`` part."""
        return self.urn.rsplit("::", 1)[-1]

    def output(self, key: str) -> Any:
        """An output, falling back to the input of the same name."""
        value = self.outputs.get(key)
        return self.inputs.get(key) if value is None else value

    def tags(self) -> dict[str, str] | None:
        """The AWS tags the state recorded (``tagsAll`` includes provider default tags), or None."""
        for key in ("tagsAll", "tags"):
            value = self.outputs.get(key)
            if isinstance(value, Mapping):
                return {str(k): str(v) for k, v in value.items()}
        value = self.inputs.get("tags")
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        return None


@dataclass(frozen=True)
class StackState:
    """The resources of one stack's state, with where they were read from."""

    source: str
    resources: tuple[StateResource, ...]
    project: str = ""
    stack: str = ""

    def managed(self) -> Iterator[StateResource]:
        """Custom resources the stack manages (read-only ``get`` resources and providers excluded)."""
        for resource in self.resources:
            if (
                resource.custom
                and not resource.external
                and not resource.type.startswith("pulumi:providers:")
            ):
                yield resource

    def of_type(self, type_: str) -> list[StateResource]:
        return [r for r in self.managed() if r.type == type_]

    def ids(self) -> set[str]:
        """Every provider id and ARN the state holds (what the AWS sweep compares against)."""
        found: set[str] = set()
        for resource in self.managed():
            if resource.id:
                found.add(resource.id)
            arn = resource.outputs.get("arn")
            if isinstance(arn, str) and arn:
                found.add(arn)
        return found


def parse_state(data: Any, *, source: str) -> StackState:
    """A StackState from the parsed export; StateFileError names what is wrong and how to fix it."""
    if not isinstance(data, dict):
        raise StateFileError(f"{source}: expected a JSON object, got {type(data).__name__}; {EXPORT_HINT}")
    version = data.get("version")
    if version != DEPLOYMENT_VERSION:
        raise StateFileError(
            f"{source}: version: {version!r} is not a deployment this mlenv reads "
            f"(only version {DEPLOYMENT_VERSION}, what current `pulumi stack export` writes); "
            f"{EXPORT_HINT}"
        )
    deployment = data.get("deployment")
    if not isinstance(deployment, dict):
        raise StateFileError(f"{source}: deployment: missing or not an object; {EXPORT_HINT}")
    manifest = deployment.get("manifest")
    if not isinstance(manifest, dict) or not all(isinstance(manifest.get(k), str) for k in ("time", "magic")):
        raise StateFileError(
            f"{source}: deployment.manifest: missing, or without its time and magic strings; {EXPORT_HINT}"
        )
    raw_resources = deployment.get("resources") or []
    if not isinstance(raw_resources, list):
        raise StateFileError(f"{source}: deployment.resources: expected a list; {EXPORT_HINT}")
    resources = tuple(_resource(item, i, source) for i, item in enumerate(raw_resources))
    project, stack = "", ""
    for resource in resources:
        if resource.type == STACK_TYPE:
            # urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<project>-<stack>
            parts = resource.urn.split("::")
            stack = parts[0].removeprefix("urn:pulumi:").rsplit("/", 1)[-1]
            project = parts[1] if len(parts) > 1 else ""
    return StackState(source, resources, project, stack)


def _resource(item: Any, index: int, source: str) -> StateResource:
    where = f"{source}: deployment.resources[{index}]"
    if not isinstance(item, dict):
        raise StateFileError(f"{where}: expected an object, got {type(item).__name__}")
    urn = item.get("urn")
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:"):
        raise StateFileError(f"{where}.urn: {urn!r} is not a Pulumi URN (urn:pulumi:<stack>::<project>::...)")
    type_ = item.get("type")
    if not isinstance(type_, str) or not type_:
        raise StateFileError(f"{where}.type: {type_!r} is not a type token; {EXPORT_HINT}")
    for key in ("inputs", "outputs"):
        if key in item and not isinstance(item[key], dict):
            raise StateFileError(f"{where}.{key}: expected an object, got {type(item[key]).__name__}")
    identifier = item.get("id")
    modified = item.get("modified") or item.get("created")
    return StateResource(
        urn=urn,
        type=type_,
        custom=bool(item.get("custom", False)),
        id=identifier if isinstance(identifier, str) and identifier else None,
        inputs=item.get("inputs") or {},
        outputs=item.get("outputs") or {},
        parent=item.get("parent") if isinstance(item.get("parent"), str) else None,
        external=bool(item.get("external", False)),
        modified=modified if isinstance(modified, str) else None,
    )


def load_state(path: Path) -> StackState:
    """Read a ``pulumi stack export`` file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc.strerror or exc}; {EXPORT_HINT}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(f"{path}: not JSON ({exc}); {EXPORT_HINT}") from None
    return parse_state(data, source=str(path))
