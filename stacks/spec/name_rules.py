"""Spec rules that hold every emitted name, label, tag set and namespace to ``stacks.spec.limits``.

``emitted_names`` lists, for a spec, each physical name the program will give a resource whose
service limits names, with the spec field it comes from; auto-named resources are measured with
the longest suffix Pulumi can add. ``tests/unit/test_limits.py`` checks that every such name in
the real offline plans of the shipped stacks is in this list, so a new resource cannot escape it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stacks.errors import SpecProblem
from stacks.spec.limits import (
    AUTONAME_SUFFIX_LENGTH,
    MAX_TAGS_PER_RESOURCE,
    NAME_LIMITS,
    RESERVED_LABEL_DOMAINS,
    RESERVED_NAMESPACE_PREFIXES,
    RESERVED_NAMESPACES,
)

if TYPE_CHECKING:
    from stacks.spec.model import EnvironmentSpec

AUTONAMED = "x" * (AUTONAME_SUFFIX_LENGTH - 1)
"""Stands for Pulumi's random suffix: as long as the longest it can be."""
LOG_BUCKET = "access-logs"  # components/artifact_store.py LOG_BUCKET
SERVING_ACCOUNTS = ("model-server", "model-server-features")  # components/serving.py
MLENV_TAGS = {"platform": 8, "experiment": 8}
"""Most tags mlenv itself puts on one resource: mlenv:stack/component/owner/managed-by, a subnet's
Name, its load-balancer role tag and discovery tags (components/network.py); experiments add
mlenv:expires-at and mlenv:experiment (components/tags.py). tests/unit/test_limits.py checks the
real plans stay within it."""


@dataclass(frozen=True)
class EmittedName:
    """One physical name the program emits: its kind (a NAME_LIMITS key), the spec field that
    decides it, and the resource (type, logical name) that carries it, for uniqueness."""

    kind: str
    path: str
    name: str
    resource: tuple[str, str] | None = None


def _auto(kind: str, path: str, type_: str, logical: str) -> EmittedName:
    return EmittedName(kind, path, f"{logical}-{AUTONAMED}", (type_, logical))


def _node_group_stem(environment: str, pool: str) -> str:
    """``<environment>-<pool>`` cut to leave room for ``-<8 hex>`` (components/gpu_node_pool.py):
    two pools whose stems are equal get one node group name."""
    return f"{environment}-{pool}"[: NAME_LIMITS["eks-nodegroup"].max_length - 9].rstrip("-")


def emitted_names(spec: EnvironmentSpec) -> Iterator[EmittedName]:
    """Every limited name the program emits for ``spec`` (see the module docstring)."""
    env = spec.name
    if spec.kind == "experiment":
        yield EmittedName("k8s-namespace", "name", f"exp-{env}")
        yield _auto("iam-role", "name", "aws:iam/role:Role", f"{env}-workload")
        yield _auto("iam-role", "name", "aws:iam/role:Role", f"exp-{env}-node")
        yield _auto("launch-template", "name", "aws:ec2/launchTemplate:LaunchTemplate", f"exp-{env}")
        yield EmittedName("eks-nodegroup", "name", _node_group_stem("exp", env))
        return
    role, bucket = "aws:iam/role:Role", "aws:s3/bucket:Bucket"
    yield EmittedName("eks-cluster", "name", f"mlenv-{env}")
    yield EmittedName("log-group", "name", f"/aws/eks/mlenv-{env}/cluster")
    yield EmittedName("log-group", "name", f"/mlenv/{env}/vpc-flow-logs")
    yield EmittedName("kms-alias", "name", f"alias/mlenv-{env}-artifacts")
    yield EmittedName("kms-alias", "name", f"alias/mlenv-{env}-eks-secrets")
    yield EmittedName("kms-alias", "name", f"alias/mlenv-{env}-logs")
    yield EmittedName("dynamodb-table", "name", f"mlenv-{env}-experiments")
    for suffix in ("eks-cluster", "flow-logs", "system-node", "karpenter-controller", "karpenter-node"):
        yield _auto("iam-role", "name", role, f"{env}-{suffix}")
    yield _auto("launch-template", "name", "aws:ec2/launchTemplate:LaunchTemplate", f"{env}-system")
    yield EmittedName(
        "eks-nodegroup", "name", f"{env}-system", ("aws:eks/nodeGroup:NodeGroup", f"{env}-system")
    )
    yield _auto("s3-bucket", "name", bucket, f"{env}-{LOG_BUCKET}")
    for i, spec_bucket in enumerate(spec.artifacts.buckets):
        yield _auto("s3-bucket", f"artifacts.buckets[{i}].name", bucket, f"{env}-{spec_bucket.name}")
    for i, repo in enumerate(spec.artifacts.ecr_repositories):
        repo_path = f"artifacts.ecr_repositories[{i}]"
        yield _auto("ecr-repository", repo_path, "aws:ecr/repository:Repository", f"{env}-{repo}")
    for i, pool in enumerate(spec.gpu_pools):
        path = f"gpu_pools[{i}].name"
        yield _auto("iam-role", path, role, f"{env}-{pool.name}-node")
        yield _auto("launch-template", path, "aws:ec2/launchTemplate:LaunchTemplate", f"{env}-{pool.name}")
        stem = _node_group_stem(env, pool.name)
        yield EmittedName("eks-nodegroup", path, stem, ("aws:eks/nodeGroup:NodeGroup", stem))
    store = spec.feature_store
    if store is not None:
        for i, view in enumerate(store.feature_views):
            path = f"feature_store.feature_views[{i}].name"
            yield EmittedName("dynamodb-table", path, f"mlenv-{env}.{store.project}.{view.name}")
        glue = f"mlenv_{env.replace('-', '_')}_{store.project}"
        yield EmittedName("glue-database", "feature_store.project", glue)
        yield EmittedName("athena-workgroup", "feature_store.project", f"mlenv-{env}-{store.project}")
        for suffix in ("fs-reader", "fs-writer"):
            yield _auto("iam-role", "name", role, f"{env}-{suffix}")
            yield _auto("iam-policy", "name", "aws:iam/policy:Policy", f"{env}-{suffix}")
        if store.online_store == "redis":
            yield _auto(
                "elasticache-replication-group",
                "name",
                "aws:elasticache/replicationGroup:ReplicationGroup",
                f"{env}-fs-redis",
            )
    if spec.serving is not None:
        yield EmittedName("k8s-namespace", "serving.namespace", spec.serving.namespace)
        for account in SERVING_ACCOUNTS:
            yield _auto("iam-role", "name", role, f"{env}-{account}")
        for i, model in enumerate(spec.serving.models):
            path = f"serving.models[{i}].name"
            service = f"{model.name}-predictor" if spec.serving.runtime == "kserve" else model.name
            yield EmittedName("k8s-service", path, service)
            yield EmittedName("k8s-service", path, f"{model.name}-ingress")


def names_within_limits(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Each emitted name against its row of NAME_LIMITS; two resources never share a name."""
    for emitted in emitted_names(spec):
        limit = NAME_LIMITS[emitted.kind]
        shown = emitted.name.replace(AUTONAMED, "<7 random>") if emitted.resource else emitted.name
        for reason in limit.problems(emitted.name):
            yield SpecProblem(
                emitted.path,
                shown,
                f"gives the {limit.what} {shown!r}, which {reason} ({limit.source}); shorten or rename it",
            )
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for emitted in emitted_names(spec):
        if emitted.resource is not None:
            owners[emitted.resource].append(emitted.path)
    for (type_, logical), paths in owners.items():
        if len(paths) > 1:
            yield SpecProblem(
                paths[-1],
                logical,
                f"gives a second {type_.rsplit(':', 1)[-1]} named {logical!r} (also from {paths[0]}); "
                "Pulumi refuses two resources with one URN: rename it",
            )


def namespace_not_reserved(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Serving gets a namespace of its own: not Kubernetes', not mlenv's, not an experiment's."""
    if spec.serving is None:
        return
    namespace = spec.serving.namespace
    if namespace in RESERVED_NAMESPACES or namespace.startswith(RESERVED_NAMESPACE_PREFIXES):
        yield SpecProblem(
            "serving.namespace",
            namespace,
            f"{namespace!r} belongs to Kubernetes, mlenv or experiments (reserved: "
            f"{', '.join(RESERVED_NAMESPACES)}, exp-*, kube-*); use e.g. serving",
        )


def label_problems(key: str, value: str) -> list[str]:
    """Why the kubelet or the API server would refuse the node label ``key=value``."""
    found: list[str] = []
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        found.append(f"key {key!r} has an empty prefix")
    for kind, part in (("k8s-label-prefix", prefix), ("k8s-label-name", name), ("k8s-label-value", value)):
        if kind == "k8s-label-prefix" and not prefix:
            continue
        limit = NAME_LIMITS[kind]
        found += [f"{limit.what} {part!r} {reason}" for reason in limit.problems(part)]
    domain = prefix.lower()
    for reserved in RESERVED_LABEL_DOMAINS:
        if domain == reserved or domain.endswith("." + reserved):
            found.append(f"key {key!r} is in the reserved {reserved} domain")
    return found


def pool_labels_valid(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Pool labels reach ``--node-labels`` and the NodePool: each must be a valid Kubernetes label
    (a ',' or '=' in a value would inject further labels)."""
    for i, pool in enumerate(spec.gpu_pools):
        for key, value in pool.labels.items():
            for reason in label_problems(key, value):
                yield SpecProblem(
                    f"gpu_pools[{i}].labels.{key}",
                    value,
                    f"{reason} ({NAME_LIMITS['k8s-label-value'].source}); e.g. team.example.com/owner: ml",
                )


def tag_count_within_limit(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """The stack's tags and mlenv's own together fit AWS's 50 tags per resource."""
    ours = MLENV_TAGS[spec.kind]
    if len(spec.tags) + ours > MAX_TAGS_PER_RESOURCE:
        yield SpecProblem(
            "tags",
            len(spec.tags),
            f"{len(spec.tags)} tags plus mlenv's {ours} exceed AWS's {MAX_TAGS_PER_RESOURCE} tags per "
            f"resource; keep at most {MAX_TAGS_PER_RESOURCE - ours}",
        )
