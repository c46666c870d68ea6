"""Policy configuration as the Pulumi CLI builds it before calling Configure.

Follows ``ReconcilePolicyPackConfig`` (pulumi/pulumi ``pkg/resource/analyzer/config.go``): start
from every policy's enforcement level and the ``default`` of each property in its config schema,
apply the pack's ``initialConfig``, then the user's file (the format of ``pulumi preview
--policy-pack-config FILE``: ``{"all": "advisory", "<policy>": "mandatory" | {"enforcementLevel":
..., "<property>": ...}}``), and validate each policy's properties against its schema.

One stricter rule than the CLI: a file naming a policy the pack does not have is an error (the
CLI ignores it, so a typo would silently leave the default in force).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from stacks.check.errors import PolicyConfigError
from stacks.check.findings import ENFORCEMENT_LEVELS

LEVELS = {name: number for number, name in ENFORCEMENT_LEVELS.items()}
ALL = "all"


@dataclass(frozen=True)
class PolicyConfigEntry:
    """One policy's configuration: an enforcement level (or None: unchanged) and properties."""

    enforcement: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


def _level(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in LEVELS:
        raise PolicyConfigError(
            f"{where}: {value!r} is not an enforcement level; use one of {', '.join(sorted(LEVELS))}"
        )
    return value


def parse_policy_config(data: Any, *, source: str) -> dict[str, PolicyConfigEntry]:
    """Parse the CLI's policy-pack-config document (already loaded from JSON or YAML)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyConfigError(f"{source}: must map policy names to a level or an object")
    result: dict[str, PolicyConfigEntry] = {}
    for name, value in data.items():
        where = f"{source}: {name}"
        if isinstance(value, str):
            result[name] = PolicyConfigEntry(enforcement=_level(value, where))
        elif isinstance(value, dict):
            properties = dict(value)
            level = properties.pop("enforcementLevel", None)
            result[name] = PolicyConfigEntry(
                enforcement=_level(level, f"{where}.enforcementLevel") if level is not None else None,
                properties=properties,
            )
        else:
            raise PolicyConfigError(f"{where}: {value!r} is not valid; must be a string or an object")
    return result


def load_policy_config(path: Path) -> dict[str, PolicyConfigEntry]:
    """Read a policy config file (JSON, or YAML for .yaml/.yml)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyConfigError(f"cannot read policy config {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PolicyConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        return {}
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError, ValueError) as exc:
        raise PolicyConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from None
    except RecursionError:
        raise PolicyConfigError(f"{path}: nested too deeply to be a policy config") from None
    return parse_policy_config(data, source=str(path))


def _schema(info: analyzer_pb2.PolicyInfo) -> dict[str, Any] | None:
    if not info.HasField("configSchema"):
        return None
    properties = json_format.MessageToDict(info.configSchema.properties)
    required = list(info.configSchema.required)
    if not properties and not required:
        return None
    schema: dict[str, Any] = {"type": "object"}
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = required
    return schema


def reconcile(
    info: analyzer_pb2.AnalyzerInfo, user: Mapping[str, PolicyConfigEntry] | None = None
) -> dict[str, PolicyConfigEntry]:
    """Defaults from the pack, then its initial config, then the user's; validated."""
    names = [p.name for p in info.policies]
    result: dict[str, PolicyConfigEntry] = {}
    for policy in info.policies:
        schema = _schema(policy) or {}
        defaults = {
            key: prop["default"]
            for key, prop in schema.get("properties", {}).items()
            if isinstance(prop, dict) and "default" in prop
        }
        result[policy.name] = PolicyConfigEntry(
            enforcement=ENFORCEMENT_LEVELS.get(policy.enforcementLevel, "advisory"), properties=defaults
        )
    # As the CLI: an initialConfig entry always carries a level, and an unset proto enum reads as
    # ADVISORY (0), so a pack's initial_config entry without enforcementLevel makes that policy advisory.
    initial = {
        name: PolicyConfigEntry(
            enforcement=ENFORCEMENT_LEVELS.get(value.enforcementLevel, "advisory"),
            properties=json_format.MessageToDict(value.properties) if value.HasField("properties") else {},
        )
        for name, value in info.initialConfig.items()
    }
    result = _apply(result, initial)
    if user:
        unknown = sorted(set(user) - set(names) - {ALL})
        if unknown:
            raise PolicyConfigError(
                f"policy config names {', '.join(unknown)}, which pack {info.name!r} does not have; "
                f"its policies: {', '.join(sorted(names))}"
            )
        result = _apply(result, user)
    problems = validate(info, result)
    if problems:
        raise PolicyConfigError(
            f"policy config does not match pack {info.name!r}'s schemas:\n  " + "\n  ".join(problems)
        )
    return result


def _apply(
    result: dict[str, PolicyConfigEntry], overrides: Mapping[str, PolicyConfigEntry]
) -> dict[str, PolicyConfigEntry]:
    updated = dict(result)
    every = overrides.get(ALL)
    if every is not None and every.enforcement is not None:
        updated = {k: PolicyConfigEntry(every.enforcement, v.properties) for k, v in updated.items()}
    for name, given in overrides.items():
        if name == ALL:
            continue
        current = updated.get(name, PolicyConfigEntry())
        updated[name] = PolicyConfigEntry(
            enforcement=given.enforcement or current.enforcement,
            properties={**current.properties, **given.properties},
        )
    return updated


def validate(info: analyzer_pb2.AnalyzerInfo, config: Mapping[str, PolicyConfigEntry]) -> list[str]:
    """Each policy's properties against its schema: ``policy: path: message`` lines."""
    problems: list[str] = []
    for policy in info.policies:
        schema = _schema(policy)
        if schema is None:
            continue
        entry = config.get(policy.name, PolicyConfigEntry())
        validator = jsonschema.Draft7Validator(schema)
        for error in sorted(validator.iter_errors(dict(entry.properties)), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in error.path)
            problems.append(f"{policy.name}: {where + ': ' if where else ''}{error.message}")
    return problems


def to_proto(config: Mapping[str, PolicyConfigEntry]) -> dict[str, analyzer_pb2.PolicyConfig]:
    """The ConfigureAnalyzerRequest map."""
    result: dict[str, analyzer_pb2.PolicyConfig] = {}
    for name, entry in config.items():
        message = analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[entry.enforcement or "advisory"])
        if entry.properties:
            message.properties.update(dict(entry.properties))
        result[name] = message
    return result
