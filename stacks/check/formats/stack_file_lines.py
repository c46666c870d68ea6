"""Where in a stack file a resource comes from: a best-effort line number for SARIF and reports.

The program derives every resource from one section of ``mlenv:environment`` (``gpu_pools``,
``artifacts``, ``cluster``, ``network`` ...). The section is found from the mlenv component in the
resource's URN type chain; inside it, the list item (or key) whose name the resource name carries
(``prod-models`` -> ``buckets: - name: models``). Falls back to the section, then to the
``mlenv:environment`` line, then to line 1.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ENVIRONMENT_KEY = "mlenv:environment"
# mlenv:<area>:<Component> -> the stack-file section the component is built from.
SECTIONS = {
    "network": "network",
    "cluster": "cluster",
    "compute": "gpu_pools",
    "artifacts": "artifacts",
    "serving": "serving",
    "feature-store": "feature_store",
    "featurestore": "feature_store",
    "features": "feature_store",
    "experiment": "experiment",
}


class StackFileLines:
    """Line numbers (1-based) of a stack file's sections and named items."""

    def __init__(self, text: str) -> None:
        self._environment_line = 1
        self._sections: dict[str, yaml.Node] = {}
        self._section_lines: dict[str, int] = {}
        try:
            root = yaml.compose(text)
        except yaml.YAMLError:
            return
        config = _get(root, "config")
        environment_key, environment = _get_with_key(config, ENVIRONMENT_KEY)
        if environment_key is not None:
            self._environment_line = environment_key.start_mark.line + 1
        if isinstance(environment, yaml.MappingNode):
            for key, value in environment.value:
                if isinstance(key, yaml.ScalarNode):
                    self._sections[str(key.value)] = value
                    self._section_lines[str(key.value)] = key.start_mark.line + 1

    @classmethod
    def load(cls, path: Path) -> StackFileLines:
        try:
            return cls(path.read_text(encoding="utf-8"))
        except OSError:
            return cls("")

    def line_for(self, urn: str, stack: str) -> int:
        """The best line for a resource URN."""
        section = _section_of(urn)
        if section is None or section not in self._sections:
            return self._environment_line
        suffix = _resource_name(urn)
        if suffix.startswith(f"{stack}-"):
            suffix = suffix[len(stack) + 1 :]
        found = _find_named(self._sections[section], suffix) if suffix else None
        if found is not None:
            return found
        return self._section_lines.get(section, self._environment_line)


def _get_with_key(node: yaml.Node | None, key: str) -> tuple[yaml.Node | None, yaml.Node | None]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    return None, None


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    return _get_with_key(node, key)[1]


def _resource_name(urn: str) -> str:
    parts = urn.split("::", 3)
    return parts[3] if len(parts) == 4 else urn


def _section_of(urn: str) -> str | None:
    parts = urn.split("::", 3)
    if len(parts) != 4:
        return None
    for token in parts[2].split("$"):
        pieces = token.split(":")
        if len(pieces) == 3 and pieces[0] == "mlenv" and pieces[1] != "environment":
            return SECTIONS.get(pieces[1], pieces[1])
    return None


def _matches(name: str, suffix: str) -> bool:
    return suffix == name or suffix.startswith(f"{name}-") or suffix.startswith(f"{name}_")


def _find_named(node: yaml.Node, suffix: str) -> int | None:
    """Depth-first: a list item named like the resource, a scalar item, or a key."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode) and _matches(str(item.value), suffix):
                return int(item.start_mark.line) + 1
            name = _get(item, "name")
            if isinstance(name, yaml.ScalarNode) and _matches(str(name.value), suffix):
                return int(item.start_mark.line) + 1
        for item in node.value:
            found = _find_named(item, suffix)
            if found is not None:
                return found
    elif isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if (
                isinstance(key, yaml.ScalarNode)
                and str(key.value) != "name"
                and _matches(str(key.value).split("_")[0], suffix)
            ):
                return int(key.start_mark.line) + 1
        for _, value in node.value:
            found = _find_named(value, suffix)
            if found is not None:
                return found
    return None
