"""The platform stack file's experiment settings: quotas, the experiments bucket, reserved labels."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
import yaml

from components.ledger_table import platform_quotas
from stacks.errors import SpecError
from stacks.offline.engine import STACKS_DIR
from stacks.spec.load import parse_environment

DEV: dict[str, Any] = yaml.safe_load((STACKS_DIR / "Pulumi.dev.yaml").read_text())["config"][
    "mlenv:environment"
]


def dev_with(change: Any) -> dict[str, Any]:
    environment = copy.deepcopy(DEV)
    change(environment)
    return environment


def bucket(environment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in environment["artifacts"]["buckets"] if b["name"] == name)


def problems(environment: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as raised:
        parse_environment(environment, source="stacks/Pulumi.dev.yaml")
    return str(raised.value)


def test_the_dev_and_prod_quotas_are_the_documented_defaults_unless_set() -> None:
    spec = parse_environment(DEV, source="dev")
    quotas = platform_quotas(spec.experiments)
    assert (quotas.owner_gpu_quota, quotas.global_gpu_quota, quotas.max_ttl) == (8, 32, timedelta(hours=72))
    custom = parse_environment(
        dev_with(
            lambda e: e.update(
                experiments={
                    "owner_gpu_quota": 4,
                    "operators": ["arn:aws:iam::123456789012:role/ml-platform-ops"],
                }
            )
        ),
        source="dev",
    )
    assert platform_quotas(custom.experiments).operators == (
        "arn:aws:iam::123456789012:role/ml-platform-ops",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda e: e.update(experiments={"owner_gpu_quota": 40}),
            "owner_gpu_quota 40 is above global_gpu_quota 32",
        ),
        (lambda e: e.update(experiments={"max_ttl_hours": 24 * 30}), "experiments.max_ttl_hours"),
        (lambda e: e.update(experiments={"operators": ["alice"]}), "experiments.operators"),
        (
            lambda e: bucket(e, "experiments").update(
                object_lock={"mode": "GOVERNANCE", "retention_days": 1}
            ),
            "bucket 'experiments' must not have object_lock",
        ),
        (
            lambda e: bucket(e, "experiments").pop("expiration_days"),
            "bucket 'experiments' needs expiration_days",
        ),
        (
            lambda e: e["gpu_pools"][0].update(labels={"mlenv.io/experiment": "churn"}),
            "'mlenv.io/experiment' is in the reserved mlenv.io domain",
        ),
        (lambda e: e["gpu_pools"][0].update(labels={"mlenv.io/pool": "serving"}), "reserved mlenv.io domain"),
    ],
)
def test_bad_experiment_settings_are_refused_with_the_fix(change: Any, message: str) -> None:
    assert message in problems(dev_with(change))
