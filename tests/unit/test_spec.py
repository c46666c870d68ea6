"""EnvironmentSpec validation: every problem at once, each naming its path, value and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.errors import SpecError, SpecProblem
from stacks.offline.engine import STACKS_DIR
from stacks.spec.load import parse_environment
from stacks.spec.model import EnvironmentSpec


def stack_environment(stack: str) -> dict[str, Any]:
    """The mlenv:environment object of a shipped stack file."""
    document = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
    env = document["config"]["mlenv:environment"]
    assert isinstance(env, dict)
    return env


def problems_of(raw: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_environment(raw, source="test")
    return [p.render() for p in info.value.problems]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_shipped_stacks_validate(stack: str) -> None:
    spec = parse_environment(stack_environment(stack), source=stack)
    assert spec.name == stack
    assert spec.kind == "platform"


def test_minimal_platform_gets_documented_defaults() -> None:
    spec = parse_environment(
        {
            "name": "mini",
            "kind": "platform",
            "owner": "team",
            "region": "eu-west-1",
            "network": {},
            "cluster": {},
        },
        source="test",
    )
    assert [b.name for b in spec.artifacts.buckets] == ["models", "datasets"]
    models = spec.artifacts.buckets[0]
    assert models.object_lock is not None
    assert models.object_lock.mode == "GOVERNANCE"
    assert spec.network is not None
    assert spec.network.nat_gateways == "single"
    assert spec.long_lived


def _with_pools(*pools: dict[str, Any]) -> dict[str, Any]:
    env = stack_environment("dev")
    env["gpu_pools"] = list(pools)
    return env


def _pool(name: str, **overrides: Any) -> dict[str, Any]:
    pool: dict[str, Any] = {
        "name": name,
        "purpose": "training",
        "instance_types": ["g6.xlarge"],
        "image": "any",
        "min_size": 0,
        "max_size": 2,
    }
    pool.update(overrides)
    return pool


def test_max_size_below_min_size_is_named_with_both_values() -> None:
    env = _with_pools(_pool("train"), _pool("serve", min_size=2, max_size=1))
    lines = problems_of(env)
    assert "gpu_pools[1].max_size: 1 is below min_size 2" in lines


def test_field_level_and_cross_field_problems_are_reported_together() -> None:
    env = _with_pools(_pool("gpu", capacity_type="RESERVED"), _pool("gpu"))
    env["owner"] = "has spaces!"
    lines = problems_of(env)
    assert any(line.startswith("gpu_pools[0].capacity_type: 'RESERVED' is not allowed") for line in lines)
    owner_hint = (
        "expected a team or user name of at most 64 ASCII letters, digits and . + @ - _ (it is a label value)"
    )
    assert f"owner: 'has spaces!' is not allowed: {owner_hint}" in lines
    # Cross-field rules run only on a structurally valid spec: fix the fields, then they report.
    env["owner"] = "team"
    env["gpu_pools"][0]["capacity_type"] = "SPOT"
    assert {
        "gpu_pools[0].name: 'gpu' is used more than once; names must be unique",
        "gpu_pools[1].name: 'gpu' is used more than once; names must be unique",
    } <= set(problems_of(env))


def test_unknown_key_lists_the_allowed_keys() -> None:
    env = stack_environment("dev")
    env["network"]["nat"] = "single"
    (line,) = problems_of(env)
    assert line.startswith("network.nat: unknown key 'nat'; allowed keys here: ")
    assert "nat_gateways" in line


def test_missing_required_field_says_so() -> None:
    env = stack_environment("dev")
    del env["owner"]
    assert problems_of(env) == [
        "owner: is required but missing; add it (see stacks/spec/model.py for what it means)"
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e.pop("network"), "network: is required when kind is platform; add a section"),
        (
            lambda e: e["artifacts"]["buckets"][0].pop("object_lock"),
            "artifacts.buckets[0].object_lock: is required on the models bucket",
        ),
        (
            lambda e: e["cluster"].update(public_access_cidrs=["0.0.0.0/0"]),
            "cluster.public_access_cidrs[0]: 0.0.0.0/0 opens the Kubernetes API to the internet",
        ),
        (
            lambda e: e["tags"].update({"mlenv:stack": "x"}),
            "tags.mlenv:stack: tag key 'mlenv:stack' uses a reserved",
        ),
        (lambda e: e["network"].update(cidr="8.8.0.0/16"), "network.cidr: '8.8.0.0/16' is not allowed"),
        (lambda e: e.update(kind="experiment"), "experiment: is required when kind is experiment"),
    ],
)
def test_cross_field_rules(mutate: Any, expected: str) -> None:
    env = stack_environment("dev")
    mutate(env)
    lines = problems_of(env)
    assert any(line.startswith(expected) for line in lines), lines


def test_not_a_mapping() -> None:
    assert problems_of(["not", "a", "mapping"]) == [
        "mlenv:environment: must be a mapping of environment settings"
    ]


# --- property: mutations either validate or raise SpecError naming the mutated path ------------------


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _format(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _names(problem: SpecProblem, path: tuple[str | int, ...], original: Any) -> bool:
    """Whether a problem points at the mutation: at the field (or inside or above it); elsewhere, for a
    rule across fields or sections, saying the field's name (max_size ... min_size, no feature_store);
    or, for a broken cross-reference, quoting the name the mutated entry had (a pool gone from gpu_pools)."""
    mutated = _format(path)
    if problem.path.startswith(mutated) or mutated.startswith(problem.path):
        return True
    if isinstance(path[-1], str) and path[-1] in problem.render():
        return True
    name = original.get("name") if isinstance(original, dict) else original
    return isinstance(name, str) and f"'{name}'" in problem.render()


BASE = stack_environment("prod")
PATHS = _paths(BASE)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), junk=JUNK, delete=st.booleans())
def test_mutations_validate_or_name_the_path(path: tuple[str | int, ...], junk: Any, delete: bool) -> None:
    env = copy.deepcopy(BASE)
    parent: Any = env
    for part in path[:-1]:
        parent = parent[part]
    original = parent[path[-1]]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    try:
        spec = parse_environment(env, source="hypothesis")
    except SpecError as exc:
        mutated = _format(path)
        assert any(_names(problem, path, original) for problem in exc.problems), (
            mutated,
            [p.render() for p in exc.problems],
        )
    else:
        assert isinstance(spec, EnvironmentSpec)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda e: e["network"].update(flow_log_retention_days=100),
            ("network.flow_log_retention_days: 100 is not allowed", "CloudWatch Logs keeps logs for one of"),
        ),
        (
            lambda e: e["cluster"].update(log_retention_days=0),
            ("cluster.log_retention_days: 0 is not allowed", "CloudWatch Logs keeps logs for one of"),
        ),
        (
            lambda e: e["serving"].update(egress_cidrs=["0.0.0.0/0"]),
            ("serving.egress_cidrs: ['0.0.0.0/0'] is not allowed", "is every address: name the destinations"),
        ),
        (
            lambda e: e["serving"].update(clients=[{"namespace": "apps", "pod_labels": {"a b": "x"}}]),
            ("serving.clients[0].pod_labels.a b", "is not allowed"),
        ),
    ],
)
def test_log_retention_and_network_paths_are_checked(mutate: Any, expected: tuple[str, str]) -> None:
    env = stack_environment("dev")
    mutate(env)
    lines = problems_of(env)
    prefix, reason = expected
    assert any(line.startswith(prefix) and reason in line for line in lines), lines
