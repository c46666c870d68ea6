"""Plan-time rules for GPU capacity: which pools are elastic or static, and whether a pool can hold
what is scheduled on it.

An elastic pool is a Karpenter NodePool whose ``limits`` cap its GPUs at ``max_size`` nodes' worth
(components/gpu_capacity.py); Karpenter launches no node past that limit, so a served model whose
HPA may ask for more replicas than the pool holds leaves them Pending for ever. A static pool is a
fixed-size managed node group, kept only for multi-node EFA training (cluster placement group, every
EFA interface), which Karpenter does not manage here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from images.errors import ImagesError
from images.instance_types import gpu_info
from stacks.errors import SpecProblem

if TYPE_CHECKING:
    from stacks.spec.model import EnvironmentSpec
    from stacks.spec.pools import GpuPoolSpec


def pool_capacity_modes(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """Static pools are fixed-size EFA pools; EFA and capacity blocks need a static pool."""
    for i, pool in enumerate(spec.gpu_pools):
        base = f"gpu_pools[{i}]"
        if pool.capacity == "static":
            if not pool.efa:
                yield SpecProblem(
                    f"{base}.capacity",
                    pool.capacity,
                    f"pool {pool.name!r}: static pools are for multi-node EFA training only; remove "
                    "capacity: static (Karpenter scales the pool) or set efa: true",
                )
            if pool.min_size != pool.max_size:
                yield SpecProblem(
                    f"{base}.min_size",
                    pool.min_size,
                    f"pool {pool.name!r}: a static pool has a fixed size (no autoscaler owns it); set "
                    f"min_size and max_size to the same node count (max_size is {pool.max_size})",
                )
        else:
            if pool.efa:
                yield SpecProblem(
                    f"{base}.efa",
                    True,
                    f"pool {pool.name!r}: EFA pools (cluster placement group, every EFA interface) are "
                    "static managed node groups; set capacity: static",
                )
            if pool.capacity_type == "CAPACITY_BLOCK":
                yield SpecProblem(
                    f"{base}.capacity_type",
                    pool.capacity_type,
                    f"pool {pool.name!r}: capacity blocks are reserved fixed capacity; use ON_DEMAND or "
                    "SPOT for an elastic pool, or make the pool static",
                )


def pool_gpu_capacity(pool: GpuPoolSpec) -> int | None:
    """GPUs the pool surely holds: ``max_size`` nodes of its smallest instance type (``None`` when a
    type is unknown; the compute rules report that)."""
    try:
        return pool.max_size * min(gpu_info(t).gpu_count for t in pool.instance_types)
    except ImagesError:
        return None


def pools_hold_their_models(spec: EnvironmentSpec) -> Iterator[SpecProblem]:
    """The served models' most replicas (HPA maxReplicas) x GPUs per replica fit in their pool."""
    if spec.serving is None:
        return
    pools = {pool.name: (i, pool) for i, pool in enumerate(spec.gpu_pools)}
    for name, (i, pool) in pools.items():
        models = [(j, m) for j, m in enumerate(spec.serving.models) if m.pool == name]
        capacity = pool_gpu_capacity(pool)
        if not models or capacity is None:
            continue
        wanted = sum(m.max_replicas * m.gpus_per_replica for _, m in models)
        if wanted <= capacity:
            continue
        parts = ", ".join(f"{m.name} {m.max_replicas} x {m.gpus_per_replica}" for _, m in models)
        yield SpecProblem(
            f"gpu_pools[{i}].max_size",
            pool.max_size,
            f"pool {pool.name!r} holds at most {capacity} GPUs ({pool.max_size} nodes) but its models may "
            f"ask for {wanted} (max_replicas x gpus_per_replica: {parts}); raise max_size to "
            f"{-(-pool.max_size * wanted // capacity)} or lower the models' max_replicas",
        )
