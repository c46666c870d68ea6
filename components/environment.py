"""MlEnvironment: one ML environment, composed from the component resources the spec asks for."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.cluster import EksCluster, EksClusterArgs, cluster_name
from components.data_serving_wiring import (
    feature_store_args,
    interface_services_for,
    pools_to_wait_for,
    serving_args,
)
from components.device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from components.feature_store import FeatureStore, feature_store_outputs
from components.gpu_capacity import GpuCapacity, GpuCapacityArgs
from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.karpenter import DISCOVERY_TAG, Karpenter, KarpenterArgs
from components.ledger_table import ExperimentLedger, ExperimentLedgerArgs, platform_quotas
from components.log_encryption import LogsKey, LogsKeyArgs, control_plane_log_group_name, flow_log_group_name
from components.network import Network, NetworkArgs
from components.serving import Serving, serving_outputs
from components.tags import Tagging
from components.vpc_endpoints import service_endpoint_url
from images.catalog import load_catalog
from images.instance_types import load_instance_types
from stacks.experiments.durations import to_iso
from stacks.spec.model import EnvironmentSpec


def tagging_for(spec: EnvironmentSpec, stack: str) -> Tagging:
    """The tags every resource of this environment carries (experiments: plus expiry and name)."""
    experiment = spec.experiment
    return Tagging(
        stack=stack,
        owner=spec.owner,
        extra=dict(spec.tags),
        expires_at=to_iso(experiment.expires_at) if experiment else None,
        experiment=spec.name if experiment else None,
    )


class MlEnvironment(pulumi.ComponentResource):
    """The environment a stack file describes: artifact store, compute (network, cluster, GPU pools),
    feature store and serving, all through one explicit AWS provider in the spec's region."""

    artifacts: ArtifactStore
    logs_key: LogsKey | None = None
    network: Network | None = None
    cluster: EksCluster | None = None
    gpu_pools: dict[str, GpuNodePool]
    """Static (EFA) pools, by name."""
    karpenter: Karpenter | None = None
    gpu_capacity: GpuCapacity | None = None
    """Elastic pools: NodePools and EC2NodeClasses."""
    device_plugin: NvidiaDevicePlugin | None = None
    feature_store: FeatureStore | None = None
    serving: Serving | None = None

    def __init__(
        self, spec: EnvironmentSpec, *, stack: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlenv:environment:MlEnvironment", spec.name, None, opts)
        self.spec = spec
        tagging = tagging_for(spec, stack)
        # An explicit provider: the region comes from the validated spec, not ambient config,
        # and every child inherits it through `providers`.
        self.aws_provider = aws.Provider(
            f"{spec.name}-aws", region=spec.region, opts=pulumi.ResourceOptions(parent=self)
        )
        children = pulumi.ResourceOptions(parent=self, providers={"aws": self.aws_provider})

        self.artifacts = ArtifactStore(
            f"{spec.name}-artifacts",
            ArtifactStoreArgs(
                environment=spec.name,
                tagging=tagging,
                buckets=tuple(spec.artifacts.buckets),
                ecr_repositories=tuple(spec.artifacts.ecr_repositories),
                long_lived=spec.long_lived,
                access_log_retention_days=spec.artifacts.access_log_retention_days,
                kms_deletion_window_days=spec.artifacts.kms_deletion_window_days,
            ),
            opts=children,
        )
        # Experiments (stacks of kind experiment) keep their ledger in the platform they run on.
        self.ledger: ExperimentLedger | None = None
        if spec.kind == "platform":
            self.ledger = ExperimentLedger(
                f"{spec.name}-experiment-ledger",
                ExperimentLedgerArgs(
                    environment=spec.name,
                    tagging=tagging,
                    kms_key=self.artifacts.kms_key,
                    long_lived=spec.long_lived,
                    quotas=platform_quotas(spec.experiments),
                ),
                opts=children,
            )
        self.gpu_pools = {}
        if spec.network is not None and spec.cluster is not None:
            self._compute(spec, tagging, children)
            self._data_and_serving(spec, stack, tagging, children)
        self.register_outputs({})

    def _compute(self, spec: EnvironmentSpec, tagging: Tagging, children: pulumi.ResourceOptions) -> None:
        """network -> cluster -> GPU pools -> device plugin (platform stacks only)."""
        assert spec.network is not None and spec.cluster is not None
        self.logs_key = LogsKey(
            f"{spec.name}-logs",
            LogsKeyArgs(
                environment=spec.name,
                tagging=tagging,
                log_group_names=(
                    flow_log_group_name(spec.name),
                    control_plane_log_group_name(cluster_name(spec.name)),
                ),
                long_lived=spec.long_lived,
            ),
            opts=children,
        )
        self.network = Network(
            f"{spec.name}-network",
            NetworkArgs(
                environment=spec.name,
                tagging=tagging,
                region=spec.region,
                cidr=spec.network.cidr,
                az_count=spec.network.az_count,
                nat_gateways=spec.network.nat_gateways,
                flow_log_retention_days=spec.network.flow_log_retention_days,
                logs_key=self.logs_key.key,
                # Karpenter launches elastic-pool nodes into the subnets tagged for this cluster.
                private_subnet_tags={DISCOVERY_TAG: cluster_name(spec.name)},
                interface_services=interface_services_for(spec),
            ),
            opts=children,
        )
        self.cluster = EksCluster(
            f"{spec.name}-cluster",
            EksClusterArgs(
                environment=spec.name,
                tagging=tagging,
                region=spec.region,
                network=self.network,
                version=spec.cluster.version,
                public_access_cidrs=tuple(spec.cluster.public_access_cidrs),
                admin_role_arns=tuple(spec.cluster.admin_role_arns),
                readonly_role_arns=tuple(spec.cluster.readonly_role_arns),
                system_pool=spec.cluster.system_pool,
                long_lived=spec.long_lived,
                log_retention_days=spec.cluster.log_retention_days,
                logs_key=self.logs_key.key,
            ),
            opts=children,
        )
        for pool in (p for p in spec.gpu_pools if p.capacity == "static"):
            self.gpu_pools[pool.name] = GpuNodePool(
                f"{spec.name}-{pool.name}",
                GpuNodePoolArgs(
                    environment=spec.name,
                    tagging=tagging,
                    region=spec.region,
                    cluster=self.cluster,
                    network=self.network,
                    pool=pool,
                ),
                opts=children,
            )
        self._elastic(spec, tagging, children)
        if spec.gpu_pools:
            self.device_plugin = NvidiaDevicePlugin(
                f"{spec.name}-nvidia-device-plugin",
                NvidiaDevicePluginArgs(tagging=tagging, cluster=self.cluster),
                opts=children,
            )

    def _elastic(self, spec: EnvironmentSpec, tagging: Tagging, children: pulumi.ResourceOptions) -> None:
        """Karpenter (every platform cluster has it) and the elastic pools' NodePools."""
        assert self.cluster is not None
        catalog = load_catalog()
        elastic = [p for p in spec.gpu_pools if p.capacity == "elastic"]
        self.karpenter = Karpenter(
            f"{spec.name}-karpenter",
            KarpenterArgs(
                environment=spec.name,
                tagging=tagging,
                region=spec.region,
                cluster=self.cluster,
                ami_ids=sorted({catalog.ami(p.image, spec.region) for p in elastic}),
                catalog=catalog,
            ),
            opts=children,
        )
        if elastic:
            self.gpu_capacity = GpuCapacity(
                f"{spec.name}-gpu-capacity",
                GpuCapacityArgs(
                    environment=spec.name,
                    tagging=tagging,
                    region=spec.region,
                    cluster_name=self.cluster.cluster.name,
                    karpenter=self.karpenter,
                    k8s_provider=self.cluster.k8s_provider,
                    pools=elastic,
                    catalog=catalog,
                ),
                opts=children,
            )

    def _pool_resources(self) -> dict[str, pulumi.Resource]:
        """Every GPU pool's resource by pool name: static node groups and elastic NodePools."""
        pools: dict[str, pulumi.Resource] = dict(self.gpu_pools)
        if self.gpu_capacity is not None:
            pools.update(self.gpu_capacity.node_pools)
        return pools

    def _data_and_serving(
        self, spec: EnvironmentSpec, stack: str, tagging: Tagging, children: pulumi.ResourceOptions
    ) -> None:
        """Feature store (datasets bucket, artifact key, IRSA) -> serving on the GPU pools."""
        assert self.cluster is not None and self.network is not None
        if spec.feature_store is not None:
            self.feature_store = FeatureStore(
                f"{spec.name}-feature-store",
                feature_store_args(
                    spec,
                    stack=stack,
                    tagging=tagging,
                    artifacts=self.artifacts,
                    cluster=self.cluster,
                    network=self.network,
                ),
                opts=children,
            )
        if spec.serving is not None:
            self.serving = Serving(
                f"{spec.name}-serving",
                serving_args(
                    spec,
                    tagging=tagging,
                    artifacts=self.artifacts,
                    cluster=self.cluster,
                    network=self.network,
                    feature_store=self.feature_store,
                    wait_for=pools_to_wait_for(spec.serving, self._pool_resources(), self.device_plugin),
                ),
                opts=children,
            )

    def stack_outputs(self) -> dict[str, Any]:
        """What the stack exports: names other stacks and tools need (buckets, repositories ...)."""
        return {
            "environment": self.spec.name,
            "kind": self.spec.kind,
            "region": self.spec.region,
            "buckets": {name: b.bucket for name, b in self.artifacts.buckets.items()},
            "bucket_arns": {name: b.arn for name, b in self.artifacts.buckets.items()},
            "artifacts_kms_key_arn": self.artifacts.kms_key.arn,
            **self._ledger_outputs(),
            "ecr_repositories": {name: r.repository_url for name, r in self.artifacts.repositories.items()},
            **self._compute_outputs(),
            **(feature_store_outputs(self.feature_store) if self.feature_store is not None else {}),
            **self._online_store_endpoint_outputs(),
            **(serving_outputs(self.serving) if self.serving is not None else {}),
        }

    def _compute_outputs(self) -> dict[str, Any]:
        """Cluster and per-pool outputs (image, AMI, driver, CUDA); empty without a cluster."""
        if self.cluster is None or self.network is None:
            return {}
        return {
            "vpc_id": self.network.vpc.id,
            "vpc_cidr": self.network.vpc.cidr_block,
            "private_subnet_ids": self.network.private_subnet_ids,
            "cluster_name": self.cluster.cluster.name,
            "cluster_endpoint": self.cluster.cluster.endpoint,
            "cluster_certificate_authority": self.cluster.cluster.certificate_authority.data,
            "cluster_version": self.cluster.version,
            "cluster_security_group_id": self.cluster.security_group_id,
            "oidc_provider_arn": self.cluster.oidc_provider.arn,
            "oidc_provider_url": self.cluster.oidc_provider.url,
            "gpu_pools": self._pool_outputs(),
            # {catalog image id -> EC2NodeClass name}: experiments put their NodePool on these.
            "gpu_node_classes": dict(self.gpu_capacity.image_classes) if self.gpu_capacity else {},
        }

    def _online_store_endpoint_outputs(self) -> dict[str, Any]:
        """The DynamoDB interface endpoint's URL, for online readers the stack does not deploy (a
        Feast feature server under feast-reader) to set as ``AWS_ENDPOINT_URL_DYNAMODB``; empty
        without one."""
        endpoint = self.network.interface_endpoints.get("dynamodb") if self.network is not None else None
        if endpoint is None:
            return {}
        return {"feature_store_dynamodb_endpoint": service_endpoint_url(endpoint, "dynamodb")}

    def _pool_outputs(self) -> dict[str, Any]:
        """Per GPU pool, in spec order: how it gets capacity, its image and how that image was built."""
        catalog, data = load_catalog(), load_instance_types()
        outputs: dict[str, Any] = {}
        for pool in self.spec.gpu_pools:
            if pool.name in self.gpu_pools:
                outputs[pool.name] = self.gpu_pools[pool.name].outputs()
            elif self.gpu_capacity is not None:
                outputs[pool.name] = self.gpu_capacity.pool_outputs(pool, catalog, self.spec.region, data)
        return outputs

    def _ledger_outputs(self) -> dict[str, Any]:
        """The experiment ledger table experiments and `mlenv exp` use; empty without one."""
        if self.ledger is None:
            return {}
        quotas = platform_quotas(self.spec.experiments)
        return {
            "ledger_table": self.ledger.table.name,
            "ledger_table_arn": self.ledger.table.arn,
            "experiment_quotas": {
                "owner_gpu_quota": quotas.owner_gpu_quota,
                "global_gpu_quota": quotas.global_gpu_quota,
                "max_ttl_hours": quotas.max_ttl.total_seconds() / 3600,
                "instance_types": list(quotas.instance_types),
                "images": list(quotas.images),
                "operators": list(quotas.operators),
            },
        }
