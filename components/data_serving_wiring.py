"""How MlEnvironment feeds the feature store and serving from the spec and the other components.

Small functions from the spec and already-created components to component args, so the
decisions (which bucket, which key, which service account reads features, what serving waits
for) are read and tested in one place and ``components/environment.py`` only composes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components.artifact_store import ArtifactStore
from components.cluster import EksCluster
from components.feature_store import REDIS_PORT, FeatureStore, FeatureStoreArgs, RedisNetwork
from components.irsa import ServiceAccountRef
from components.network import Network
from components.serving import ServedModel, ServingArgs
from components.tags import Tagging
from images.catalog import Catalog, load_catalog
from stacks.spec.model import EnvironmentSpec, ServingSpec

DATASETS_BUCKET = "datasets"
MODELS_BUCKET = "models"
FEAST_READER = "feast-reader"
"""Service account (in the serving namespace) of an online feature server, e.g. Feast's."""
DEFAULT_SERVING_NAMESPACE = ServingSpec.model_fields["namespace"].default


def feature_store_args(
    spec: EnvironmentSpec,
    *,
    stack: str,
    tagging: Tagging,
    artifacts: ArtifactStore,
    cluster: EksCluster,
    network: Network,
) -> FeatureStoreArgs:
    """The feature store lives in the datasets bucket under the artifact key, trusts this
    cluster's OIDC provider, and its online readers run in the serving namespace."""
    store = spec.feature_store
    assert store is not None and spec.network is not None
    namespace = spec.serving.namespace if spec.serving is not None else DEFAULT_SERVING_NAMESPACE
    return FeatureStoreArgs(
        environment=spec.name,
        stack=stack,
        tagging=tagging,
        region=spec.region,
        project=store.project,
        feature_views=tuple(store.feature_views),
        datasets_bucket=artifacts.buckets[DATASETS_BUCKET],
        kms_key=artifacts.kms_key,
        oidc_provider=cluster.oidc_provider,
        online_store=store.online_store,
        redis=store.redis,
        # Pods get VPC addresses (VPC CNI), so the VPC's CIDR is exactly the set of possible clients.
        redis_network=RedisNetwork(
            vpc_id=network.vpc.id,
            subnet_ids=network.private_subnet_ids,
            client_cidrs=(spec.network.cidr,),
        ),
        reader=ServiceAccountRef(namespace, FEAST_READER),
        long_lived=spec.long_lived,
    )


def interface_services_for(spec: EnvironmentSpec) -> tuple[str, ...]:
    """Interface endpoints the data side needs besides S3 and STS: DynamoDB for a DynamoDB online
    store, so model servers and the online feature server reach it at a VPC address (their network
    policy allows HTTPS to the VPC, never the public DynamoDB addresses the gateway endpoint uses)."""
    store = spec.feature_store
    return ("dynamodb",) if store is not None and store.online_store == "dynamodb" else ()


def online_store_ports(spec: EnvironmentSpec) -> tuple[int, ...]:
    """TCP ports model servers open to the VPC for the online store: Redis's (ElastiCache lives in the
    private subnets); none for DynamoDB (HTTPS to its interface endpoint) or without a store."""
    store = spec.feature_store
    return (REDIS_PORT,) if store is not None and store.online_store == "redis" else ()


def served_models(serving: ServingSpec, catalog: Catalog | None = None) -> tuple[ServedModel, ...]:
    """Each model of the spec with its catalog container (the spec's contract checked it exists)."""
    catalog = catalog or load_catalog()
    return tuple(ServedModel(model, catalog.container(model.container)) for model in serving.models)


def pools_to_wait_for(
    serving: ServingSpec, pools: Mapping[str, pulumi.Resource], device_plugin: pulumi.Resource | None
) -> dict[str, tuple[pulumi.Resource, ...]]:
    """For each GPU pool a model runs on: that pool and the device plugin that advertises its GPUs.
    A replica cannot become ready before both exist; a model waits for its own pool only (a
    dependency on every pool made each workload depend on every node group, NodePool and launch
    template of the stack, and a rollout of one pool hold up every model)."""
    waits: dict[str, tuple[pulumi.Resource, ...]] = {}
    for name in sorted({model.pool for model in serving.models}):
        if name in pools:
            plugin = (device_plugin,) if device_plugin is not None else ()
            waits[name] = (pools[name], *plugin)
    return waits


def serving_args(
    spec: EnvironmentSpec,
    *,
    tagging: Tagging,
    artifacts: ArtifactStore,
    cluster: EksCluster,
    network: Network,
    feature_store: FeatureStore | None,
    wait_for: Mapping[str, Sequence[pulumi.Resource]],
) -> ServingArgs:
    """Serving reads the models bucket with the artifact key, on this cluster, and models that
    use features also get the feature store's read policy and a path to its online store."""
    serving, network_spec = spec.serving, spec.network
    assert serving is not None and network_spec is not None
    return ServingArgs(
        environment=spec.name,
        tagging=tagging,
        models=served_models(serving),
        models_bucket=artifacts.buckets[MODELS_BUCKET],
        kms_key=artifacts.kms_key,
        oidc_provider=cluster.oidc_provider,
        k8s_provider=cluster.k8s_provider,
        vpc_cidr=network_spec.cidr,
        namespace=serving.namespace,
        runtime=serving.runtime,
        clients=tuple(serving.clients),
        egress_cidrs=tuple(serving.egress_cidrs),
        feature_read_policy=feature_store.reader_policy if feature_store is not None else None,
        dynamodb_endpoint=network.interface_endpoints.get("dynamodb"),
        online_store_ports=online_store_ports(spec),
        wait_for={pool: tuple(waits) for pool, waits in wait_for.items()},
    )
