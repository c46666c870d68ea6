"""Cross-field rules of an EnvironmentSpec, checked once before any resource is created.

Each rule is a small function from a spec to the problems it finds, with the exact field path.
``check_environment`` runs them all and returns every problem, so a user fixes a stack file in
one pass. Rules that need the image catalog or instance data live in their own modules and are
listed in ``RULES`` like the others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from stacks.errors import SpecProblem
from stacks.spec.capacity_rules import pool_capacity_modes, pools_hold_their_models
from stacks.spec.compute_rules import gpu_pools_are_compatible
from stacks.spec.experiment_rules import experiment_request_is_valid
from stacks.spec.name_rules import (
    names_within_limits,
    namespace_not_reserved,
    pool_labels_valid,
    tag_count_within_limit,
)
from stacks.spec.network_rules import (
    public_endpoint_restricted,
    region_in_partition,
    vpc_clear_of_service_cidr,
)
from stacks.spec.serving_rules import (
    feature_users_have_a_store,
    served_models_schedule,
    served_replicas_fit_their_pools,
)

if TYPE_CHECKING:
    from stacks.spec.model import EnvironmentSpec

Rule = Callable[["EnvironmentSpec"], Iterable[SpecProblem]]

REQUIRED_BUCKETS = ("models", "datasets")


def sections_match_kind(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Platforms own a network and a cluster; experiments borrow the platform's and say which."""
    if spec.kind == "platform":
        for section in ("network", "cluster"):
            if getattr(spec, section) is None:
                yield SpecProblem(section, None, "is required when kind is platform; add a section")
        if spec.experiment is not None:
            yield SpecProblem("experiment", "(section)", "is only allowed when kind is experiment; remove it")
    else:
        if spec.experiment is None:
            yield SpecProblem("experiment", None, "is required when kind is experiment; add a section")
        for section in ("network", "cluster", "feature_store", "serving"):
            if getattr(spec, section) is not None:
                yield SpecProblem(
                    section,
                    "(section)",
                    "is not allowed when kind is experiment (experiments share the platform's); remove it",
                )


def pool_sizes_are_ordered(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """min_size <= max_size for every GPU pool and the system pool."""
    for i, pool in enumerate(spec.gpu_pools):
        base = f"gpu_pools[{i}]"
        if pool.max_size < pool.min_size:
            yield SpecProblem(
                f"{base}.max_size", pool.max_size, f"{pool.max_size} is below min_size {pool.min_size}"
            )
    if spec.cluster is not None:
        system = spec.cluster.system_pool
        if system.max_size < system.min_size:
            yield SpecProblem(
                "cluster.system_pool.max_size",
                system.max_size,
                f"{system.max_size} is below min_size {system.min_size}",
            )


def _duplicates(names: Iterable[str]) -> set[str]:
    return {name for name, count in Counter(names).items() if count > 1}


def names_are_unique(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Pool, bucket, repository, feature view and model names each appear once."""
    lists: list[tuple[str, list[str]]] = [
        ("gpu_pools", [p.name for p in spec.gpu_pools]),
        ("artifacts.buckets", [b.name for b in spec.artifacts.buckets]),
        ("artifacts.ecr_repositories", list(spec.artifacts.ecr_repositories)),
    ]
    if spec.feature_store is not None:
        lists.append(("feature_store.feature_views", [v.name for v in spec.feature_store.feature_views]))
    if spec.serving is not None:
        lists.append(("serving.models", [m.name for m in spec.serving.models]))
    for path, names in lists:
        dupes = _duplicates(names)
        for i, name in enumerate(names):
            if name in dupes:
                suffix = ".name" if path != "artifacts.ecr_repositories" else ""
                yield SpecProblem(
                    f"{path}[{i}]{suffix}", name, f"{name!r} is used more than once; names must be unique"
                )


def artifact_buckets_complete(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """A models bucket with Object Lock and a datasets bucket exist: serving and features need them."""
    names = [b.name for b in spec.artifacts.buckets]
    for required in REQUIRED_BUCKETS:
        if required not in names:
            yield SpecProblem(
                "artifacts.buckets",
                names,
                f"has no {required!r} bucket; add {{name: {required}}} (models and datasets are required)",
            )
    for i, bucket in enumerate(spec.artifacts.buckets):
        if bucket.name == "models" and bucket.object_lock is None:
            yield SpecProblem(
                f"artifacts.buckets[{i}].object_lock",
                None,
                "is required on the models bucket: model artifacts must not be overwritten; "
                "add object_lock: {mode: GOVERNANCE, retention_days: 30}",
            )


def online_store_settings_match(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Redis settings only make sense with a Redis online store."""
    store = spec.feature_store
    if store is not None and store.redis is not None and store.online_store != "redis":
        yield SpecProblem(
            "feature_store.redis",
            "(section)",
            f"is set but online_store is {store.online_store!r}; remove it or set online_store: redis",
        )


RESERVED_TAG_PREFIXES = ("aws:", "mlenv:")


def tags_not_reserved(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """aws: tags belong to AWS and mlenv: tags to mlenv itself; a stack file may not set them."""
    for key in spec.tags:
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            yield SpecProblem(
                f"tags.{key}",
                key,
                f"tag key {key!r} uses a reserved prefix (aws: or mlenv:); choose another key",
            )


def replica_bounds_ordered(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """min_replicas <= max_replicas for every served model."""
    if spec.serving is None:
        return
    for i, model in enumerate(spec.serving.models):
        if model.max_replicas < model.min_replicas:
            yield SpecProblem(
                f"serving.models[{i}].max_replicas",
                model.max_replicas,
                f"{model.max_replicas} is below min_replicas {model.min_replicas}",
            )


RULES: tuple[Rule, ...] = (
    sections_match_kind,
    pool_sizes_are_ordered,
    pool_capacity_modes,
    pools_hold_their_models,
    names_are_unique,
    artifact_buckets_complete,
    region_in_partition,
    vpc_clear_of_service_cidr,
    public_endpoint_restricted,
    online_store_settings_match,
    replica_bounds_ordered,
    tags_not_reserved,
    tag_count_within_limit,
    names_within_limits,
    namespace_not_reserved,
    pool_labels_valid,
    served_models_schedule,
    served_replicas_fit_their_pools,
    feature_users_have_a_store,
    gpu_pools_are_compatible,
    experiment_request_is_valid,
)


def check_environment(spec: EnvironmentSpec) -> list[SpecProblem]:
    """Every cross-field problem of a structurally valid spec, in rule order."""
    return [problem for rule in RULES for problem in rule(spec)]
