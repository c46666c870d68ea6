"""Pure functions of `mlenv exp`: durations, cost, default instance type, name rules, config shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stacks.experiments.durations import format_duration, from_iso, parse_duration, to_iso
from stacks.experiments.errors import InvalidDurationError, InvalidNameError
from stacks.experiments.pricing import estimate_cost, instances_needed, load_price_table
from stacks.experiments.records import ExperimentRecord
from stacks.experiments.settings import (
    ExperimentSettings,
    default_instance_type,
    experiment_config,
    refusal_reason,
    validate_name,
)
from stacks.spec.load import parse_environment

PRICES = load_price_table()
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8h", timedelta(hours=8)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m", timedelta(days=1, hours=2, minutes=3)),
        (" 4H ", timedelta(hours=4)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "8", "h", "8 h", "1.5h", "0h", "0d0h0m", "30m1h", "1h1h", "-1h", "8hours", "1w"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidDurationError) as raised:
        parse_duration(text)
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(hours=5, minutes=12), "5h12m"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(minutes=40), "40m"),
        (timedelta(hours=-1), "-1h"),
        (timedelta(0), "0m"),
    ],
)
def test_format_duration(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_iso_round_trip_uses_the_tag_format() -> None:
    assert to_iso(T0) == "2026-11-22T12:00:00Z"
    assert from_iso("2026-11-22T12:00:00Z") == T0 == from_iso("2026-11-22T13:00:00+01:00")


@pytest.mark.parametrize(
    ("gpus", "instance_type", "hours", "expected"),
    [
        (4, "g6e.12xlarge", 2.0, 2 * 10.49264),  # one 4-GPU instance
        (2, "g6e.12xlarge", 1.0, 10.49264),  # half used, whole instance billed
        (16, "g6e.48xlarge", 0.5, 0.5 * 2 * 30.13118),  # two 8-GPU instances
        (1, "g5.xlarge", 10.0, 10.06),
    ],
)
def test_cost_is_hours_times_instances_times_price(
    gpus: int, instance_type: str, hours: float, expected: float
) -> None:
    cost = estimate_cost(gpus, instance_type, timedelta(hours=hours), PRICES)
    assert cost == pytest.approx(expected)


def test_cost_unknown_for_an_instance_type_not_in_the_table() -> None:
    assert estimate_cost(1, "x9.huge", timedelta(hours=1), PRICES) is None
    assert instances_needed(9, 8) == 2 and instances_needed(1, 4) == 1


@pytest.mark.parametrize(("gpus", "expected"), [(1, "g6e.xlarge"), (3, "g6e.12xlarge"), (8, "g6e.48xlarge")])
def test_default_instance_type_is_the_cheapest_that_fits(gpus: int, expected: str) -> None:
    assert default_instance_type(gpus, PRICES, "g6e") == expected


@pytest.mark.parametrize("name", ["ab", "-abc", "abc-", "Abc", "a_b", "a" * 31, "9lives"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_name(name)


def test_experiment_config_is_a_valid_environment_spec() -> None:
    """The config the adapter sets is accepted by the real spec validator (the schema's owner)."""
    record = ExperimentRecord(
        "churn-v7",
        "ana",
        4,
        "g6e.12xlarge",
        "al2023-nvidia-580-k8s1.33-20251020",
        "pool",
        T0,
        T0 + timedelta(hours=8),
        "creating",
        T0,
    )
    config = experiment_config(record, ExperimentSettings(platform_stack="prod"))
    spec = parse_environment(config, source="exp-churn-v7")
    assert spec.experiment is not None and spec.experiment.expires_at == T0 + timedelta(hours=8)
    assert refusal_reason(config, record, T0) is not None  # not yet expired
    assert refusal_reason(config, record, T0 + timedelta(hours=8)) is None
