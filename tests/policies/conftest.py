"""Plans of the real program that the policy fixtures start from (so they cannot drift from the "
"components)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stacks.offline.engine import STACKS_DIR, plan_stack
from stacks.offline.plan import Plan


def _variant(tmp: Path, stack: str, edit: dict[str, object]) -> Plan:
    """Plan ``stack`` with ``edit`` merged into its mlenv:environment (one field changed, real program)."""
    document = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    environment = document["config"]["mlenv:environment"]
    for key, value in edit.items():
        section, _, field = key.partition(".")
        environment[section][field] = value
    for source in STACKS_DIR.glob("Pulumi.*.yaml"):
        if source.name != f"Pulumi.{stack}.yaml":
            (tmp / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return plan_stack(stack, stacks_dir=tmp)


@pytest.fixture(scope="session")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plan]:
    """dev, prod and experiment as the stack files say; redis: prod with a Redis online store."""
    return {
        "dev": plan_stack("dev"),
        "prod": plan_stack("prod"),
        "experiment": plan_stack("experiment"),
        "redis": _variant(tmp_path_factory.mktemp("redis"), "prod", {"feature_store.online_store": "redis"}),
    }
