"""The scheduling contract of served models, checked from the spec before anything is created.

A served model's Deployment selects its pool's ``mlenv.io/pool`` label and tolerates the GPU
taint (components/scheduling.py), so it lands on that pool's nodes or nowhere. This rule checks
what would make it land nowhere or crash there: the pool exists, a node of the pool has enough
GPUs for one replica, the container is an approved serving image and its CUDA runs on the
pool image's driver (images/compat.py). Unknown instance types and pool images are reported by
the compute rules; this rule does not repeat them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from components.serving_specs import runtime_of
from images.catalog import Catalog, ContainerImage, load_catalog
from images.compat import driver_supports_cuda, min_driver_for_cuda
from images.errors import CatalogError
from images.instance_types import GpuInstanceType, gpu_info
from stacks.errors import SpecProblem

if TYPE_CHECKING:
    from stacks.spec.model import EnvironmentSpec, ServedModelSpec
    from stacks.spec.pools import GpuPoolSpec


def smallest_node(pool: GpuPoolSpec) -> GpuInstanceType | None:
    """The pool's instance type with the fewest GPUs: a replica must fit on any node of the pool."""
    known: list[GpuInstanceType] = []
    for instance_type in pool.instance_types:
        try:
            known.append(gpu_info(instance_type))
        except CatalogError:
            continue
    return min(known, key=lambda t: (t.gpu_count, t.instance_type), default=None)


def _container(catalog: Catalog, base: str, model: ServedModelSpec) -> Iterator[SpecProblem | ContainerImage]:
    try:
        container = catalog.container(model.container)
    except CatalogError as exc:
        yield SpecProblem(f"{base}.container", model.container, f"model {model.name!r}: {exc}")
        return
    if container.purpose != "serving":
        yield SpecProblem(
            f"{base}.container",
            model.container,
            f"model {model.name!r}: container {container.id!r} is a {container.purpose} image; "
            "pick a catalog container with purpose: serving (Triton or vLLM)",
        )
        return
    try:
        runtime_of(container)  # what the serving component will ask
    except ValueError:
        yield SpecProblem(
            f"{base}.container",
            model.container,
            f"model {model.name!r}: container {container.id!r} is neither Triton nor vLLM, "
            "the runtimes mlenv can deploy",
        )
        return
    yield container


def _pool_fits(base: str, model: ServedModelSpec, pool: GpuPoolSpec) -> Iterator[SpecProblem]:
    node = smallest_node(pool)
    if node is not None and model.gpus_per_replica > node.gpu_count:
        yield SpecProblem(
            f"{base}.gpus_per_replica",
            model.gpus_per_replica,
            f"model {model.name!r}: {model.gpus_per_replica} GPUs per replica but pool {pool.name!r} "
            f"nodes ({node.instance_type}) have {node.gpu_count}; lower gpus_per_replica or point the "
            "model at a pool whose smallest instance type has enough GPUs",
        )


def _driver_runs(
    catalog: Catalog, base: str, model: ServedModelSpec, pool: GpuPoolSpec, container: ContainerImage
) -> Iterator[SpecProblem]:
    if container.cuda is None:
        return
    try:
        image = catalog.image(pool.image)
        runs = driver_supports_cuda(image.driver_version, container.cuda)
        needed = min_driver_for_cuda(container.cuda)
    except CatalogError:
        return  # unknown pool image or CUDA version: the compute rules and catalog report those
    if not runs:
        yield SpecProblem(
            f"{base}.container",
            model.container,
            f"model {model.name!r}: container {container.id!r} carries CUDA {container.cuda}, which needs "
            f"driver >= {needed}, but pool {pool.name!r} runs image {image.id} with driver "
            f"{image.driver_version}; use a container built for an older CUDA or a pool on a newer image",
        )


def served_models_schedule(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Every served model lands on an existing GPU pool that can run it."""
    if spec.serving is None or not spec.serving.models:
        return
    try:
        catalog = load_catalog()
    except CatalogError as exc:
        yield SpecProblem("serving.models", "(catalog)", f"cannot check served models: {exc}")
        return
    pools = {pool.name: pool for pool in spec.gpu_pools}
    for i, model in enumerate(spec.serving.models):
        base = f"serving.models[{i}]"
        found = list(_container(catalog, base, model))
        yield from (p for p in found if isinstance(p, SpecProblem))
        pool = pools.get(model.pool)
        if pool is None:
            names = ", ".join(sorted(pools)) or "none"
            yield SpecProblem(
                f"{base}.pool",
                model.pool,
                f"model {model.name!r}: no GPU pool named {model.pool!r} (pools: {names}); its replicas "
                "would select no node. Add the pool to gpu_pools or point the model at an existing one",
            )
            continue
        yield from _pool_fits(base, model, pool)
        for container in (c for c in found if not isinstance(c, SpecProblem)):
            yield from _driver_runs(catalog, base, model, pool, container)


def feature_users_have_a_store(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """A model that reads features needs a feature store whose read policy it can be given."""
    if spec.serving is None or spec.feature_store is not None:
        return
    for i, model in enumerate(spec.serving.models):
        if model.uses_features:
            yield SpecProblem(
                f"serving.models[{i}].uses_features",
                True,
                f"model {model.name!r} reads features but the environment has no feature_store; "
                "add a feature_store section or set uses_features: false",
            )


def served_replicas_fit_their_pools(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """The minimum replicas of every model on a pool fit that pool at its largest: a Deployment whose
    replicas cannot all schedule never becomes ready, and `pulumi up` fails waiting for it. Counted
    on the pool's smallest node, whole replicas per node (a replica's GPUs are on one node)."""
    if spec.serving is None:
        return
    for p, pool in enumerate(spec.gpu_pools):
        node = smallest_node(pool)
        models = [(i, m) for i, m in enumerate(spec.serving.models) if m.pool == pool.name]
        if node is None or not models:
            continue
        needed = 0
        for _, model in models:
            per_node = node.gpu_count // model.gpus_per_replica
            if per_node == 0:
                break  # _pool_fits reports it
            needed += -(-model.min_replicas // per_node)
        else:
            if needed > pool.max_size:
                names = ", ".join(repr(m.name) for _, m in models)
                yield SpecProblem(
                    f"gpu_pools[{p}].max_size",
                    pool.max_size,
                    f"pool {pool.name!r} holds at most {pool.max_size} nodes ({node.instance_type}, "
                    f"{node.gpu_count} GPUs each) but the min_replicas of {names} need {needed}; raise "
                    "max_size or lower min_replicas",
                )
