"""Experiment: one short-lived GPU experiment on the shared platform cluster.

An experiment borrows the platform's cluster, VPC, OIDC provider and buckets (read through a
StackReference into :class:`PlatformOutputs`) and adds only what is its own: a namespace, a
ResourceQuota on ``nvidia.com/gpu``, a service account whose IAM role (IRSA) can read and write
nothing but ``experiments/<name>/`` in the platform's artifact and dataset buckets, and a managed
GPU node group sized to the request on a catalog image. Every AWS resource carries the
``mlenv:expires-at`` tag, every Kubernetes object the expiry annotation, so GC and the orphan sweep
find all of it. Nothing is protected: destroying an experiment removes all of it, while the data it
wrote stays in the platform's versioned buckets.

The node group is built from the same pieces as the platform's pools (components/gpu_node_pool.py:
names, labels, nodeadm user data; components/nodes.py: node role, IMDS and disk hardening), against
the platform cluster by name, since GpuNodePool needs the platform's cluster and network components,
which an experiment stack only sees as outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.errors import ComponentError
from components.gpu_node_pool import gpu_taints, node_group_name, node_labels, node_user_data
from components.irsa import ROLE_ARN_ANNOTATION, OidcProviderRef, ServiceAccountRef, irsa_role
from components.nodes import instance_tag_specifications, metadata_options, node_role, root_volume
from components.pod_security import pod_security_labels
from components.scheduling import GPU_RESOURCE, LABEL_POOL
from components.tags import LABEL_PREFIX, Tagging
from images.catalog import Catalog, load_catalog
from images.instance_types import InstanceTypeData, load_instance_types
from stacks.experiments.pricing import instances_needed
from stacks.spec.model import GpuPoolSpec

COMPONENT = "experiment"
SERVICE_ACCOUNT = "experiment"
LABEL_EXPERIMENT = f"{LABEL_PREFIX}experiment"
WRITABLE_BUCKETS = ("models", "datasets")
"""The platform buckets (logical names) an experiment writes its prefix in: artifacts and datasets."""

OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
"""What a workload does with its own objects. DeleteObject on a versioned bucket only adds a delete
marker; earlier versions stay until the bucket's lifecycle expires them."""


def namespace_name(experiment: str) -> str:
    """``exp-<name>``: the experiment's namespace, named like its stack."""
    return f"exp-{experiment}"


def artifact_prefix(experiment: str) -> str:
    """``experiments/<name>/``: the only key prefix the experiment may touch in the platform buckets."""
    return f"experiments/{experiment}/"


def gpu_quota(gpus: int) -> dict[str, str]:
    """ResourceQuota ``hard``: GPU requests in the namespace may not exceed the reservation.

    Extended resources only allow the ``requests.`` quota (their requests always equal their limits).
    """
    return {f"requests.{GPU_RESOURCE}": str(gpus)}


def prefix_policy(experiment: str, bucket_arns: Sequence[str], kms_key_arn: str, region: str) -> str:
    """The workload role's permissions: its own prefix in each bucket, and the buckets' key through S3."""
    prefix = artifact_prefix(experiment)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnPrefixObjects",
            "Effect": "Allow",
            "Action": list(OBJECT_ACTIONS),
            "Resource": [f"{arn}/{prefix}*" for arn in bucket_arns],
        },
        {
            "Sid": "ListOwnPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": list(bucket_arns),
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
        },
        {
            # The buckets are SSE-KMS: writing and reading objects needs the key, and only via S3.
            "Sid": "BucketKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def writable_bucket_arns(bucket_arns: Mapping[str, str], wanted: Sequence[str]) -> list[str]:
    """ARNs of the ``wanted`` buckets among the platform's; a missing one is a platform mismatch."""
    missing = [name for name in wanted if name not in bucket_arns]
    if missing:
        exported = ", ".join(sorted(bucket_arns))
        raise ComponentError(f"the platform stack exports no bucket {', '.join(missing)} (it has {exported})")
    return [bucket_arns[name] for name in wanted]


@dataclass(frozen=True)
class PlatformOutputs:
    """What an experiment uses of its platform stack, as read through a StackReference."""

    region: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    cluster_endpoint: pulumi.Output[str]
    cluster_certificate_authority: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]
    buckets: pulumi.Output[dict[str, str]]
    bucket_arns: pulumi.Output[dict[str, str]]
    artifacts_kms_key_arn: pulumi.Output[str]
    ledger_table: pulumi.Output[str]

    @classmethod
    def from_reference(cls, reference: pulumi.StackReference) -> PlatformOutputs:
        """Every field from the platform's output of the same name (missing outputs fail the update)."""
        return cls(**{f.name: reference.require_output(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class ExperimentArgs:
    """Inputs of an Experiment."""

    experiment: str
    """Experiment name (a DNS label); names the namespace, the pool and the bucket prefix."""
    tagging: Tagging
    """The experiment's tags, with ``expires_at`` and ``experiment`` set."""
    region: str
    """AWS region (the platform's): selects the image's AMI."""
    gpus: int
    """GPUs reserved in the ledger: the quota, and the pool holds enough nodes for them."""
    instance_type: str
    """GPU instance type of the pool (checked against the catalog at plan time)."""
    image: str
    """Image id from images/catalog.yaml."""
    platform: PlatformOutputs
    """The platform's cluster, network, OIDC provider and buckets."""
    writable_buckets: Sequence[str] = WRITABLE_BUCKETS
    """Platform buckets the experiment writes ``experiments/<name>/`` in. Default models and datasets."""
    disk_size_gib: int = 200
    """Root volume of each node. Default 200 GiB: CUDA images are large."""
    catalog: Catalog | None = None
    """The image catalog. Default: images/catalog.yaml."""
    instance_data: InstanceTypeData | None = None
    """EC2's GPU instance-type data. Default: images/gpu_instance_types.json."""


class Experiment(pulumi.ComponentResource):
    """Namespace, GPU quota, IRSA role scoped to the experiment's prefix, and its GPU node group."""

    namespace: k8s.core.v1.Namespace
    quota: k8s.core.v1.ResourceQuota
    role: aws.iam.Role
    service_account: k8s.core.v1.ServiceAccount
    launch_template: aws.ec2.LaunchTemplate
    node_group: aws.eks.NodeGroup
    nodes: int
    ami_id: str

    def __init__(self, name: str, args: ExperimentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:experiment:Experiment", name, None, opts)
        self.args = args
        self._tags = args.tagging.tags(COMPONENT)
        self._labels = args.tagging.labels(COMPONENT)
        self._namespace()
        self._workload_identity()
        self._node_pool(args.catalog or load_catalog(), args.instance_data or load_instance_types())
        self.register_outputs(
            {
                "namespace": self.namespace.metadata.name,
                "role_arn": self.role.arn,
                "node_group": self.node_group.node_group_name,
            }
        )

    def _meta(
        self, name: str, namespace: str | None = None, **annotations: str
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=namespace,
            labels=dict(self._labels),
            annotations={**self.args.tagging.annotations(), **annotations} or None,
        )

    def _namespace(self) -> None:
        args = self.args
        ns = namespace_name(args.experiment)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = k8s.core.v1.Namespace(
            f"{args.experiment}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ns,
                labels={
                    **self._labels,
                    # Experiment pods share nodes' kernel with other tenants: restricted, enforced.
                    **pod_security_labels("restricted"),
                },
                annotations=args.tagging.annotations() or None,
            ),
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        self.quota = k8s.core.v1.ResourceQuota(
            f"{args.experiment}-gpu-quota",
            metadata=self._meta("gpu", ns),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=gpu_quota(args.gpus)),
            opts=in_namespace,
        )

    def _workload_identity(self) -> None:
        args = self.args
        platform = args.platform
        ns = namespace_name(args.experiment)
        account = ServiceAccountRef(ns, SERVICE_ACCOUNT)
        child = pulumi.ResourceOptions(parent=self)
        self.role = irsa_role(
            f"{args.experiment}-workload",
            oidc_provider=OidcProviderRef(platform.oidc_provider_arn, platform.oidc_provider_url),
            account=account,
            description=f"mlenv experiment {args.experiment}: {account.subject}",
            tags=self._tags,
            parent=self,
        )
        wanted = tuple(args.writable_buckets)
        aws.iam.RolePolicy(
            f"{args.experiment}-prefix",
            role=self.role.name,
            policy=pulumi.Output.all(platform.bucket_arns, platform.artifacts_kms_key_arn).apply(
                lambda v: prefix_policy(
                    args.experiment, writable_bucket_arns(v[0], wanted), v[1], args.region
                )
            ),
            opts=child,
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{args.experiment}-service-account",
            metadata=self._meta(SERVICE_ACCOUNT, ns, **{ROLE_ARN_ANNOTATION: self.role.arn}),  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
        )

    def _node_pool(self, catalog: Catalog, data: InstanceTypeData) -> None:
        args = self.args
        platform = args.platform
        prefix = namespace_name(args.experiment)
        image = catalog.image(args.image)
        self.ami_id = catalog.ami(args.image, args.region)
        gpu = data.gpu_info(args.instance_type)
        self.nodes = instances_needed(args.gpus, gpu.gpu_count)  # enough whole nodes for the GPUs
        pool = GpuPoolSpec(
            name=args.experiment,
            purpose="experiment",
            instance_types=[args.instance_type],
            image=args.image,
            min_size=self.nodes,
            max_size=self.nodes,
            desired_size=self.nodes,
            disk_size_gib=args.disk_size_gib,
            labels={LABEL_EXPERIMENT: args.experiment},
        )
        # Pods select the experiment's nodes by pool label exp-<name>, unique on the shared cluster.
        labels = {**node_labels(pool, image, gpu), LABEL_POOL: prefix}
        tags = {**self._tags, "mlenv:pool": prefix}
        child = pulumi.ResourceOptions(parent=self)

        role = node_role(f"{prefix}-node", description=f"mlenv {prefix}: GPU nodes", tags=tags, parent=self)
        self.launch_template = aws.ec2.LaunchTemplate(
            prefix,
            description=f"mlenv {prefix}: {image.id} ({self.ami_id})",
            image_id=self.ami_id,
            metadata_options=metadata_options(),
            block_device_mappings=[root_volume(args.disk_size_gib)],
            user_data=node_user_data(
                platform.cluster_name,
                platform.cluster_endpoint,
                platform.cluster_certificate_authority,
                labels,
            ),
            vpc_security_group_ids=[platform.cluster_security_group_id],
            tag_specifications=instance_tag_specifications(tags),
            update_default_version=True,
            tags=tags,
            opts=child,
        )
        self.node_group = aws.eks.NodeGroup(
            prefix,
            cluster_name=platform.cluster_name,
            node_group_name=node_group_name("exp", args.experiment, image.id, self.ami_id),
            node_role_arn=role.role.arn,
            subnet_ids=platform.private_subnet_ids,
            instance_types=[args.instance_type],
            ami_type="CUSTOM",
            capacity_type="ON_DEMAND",
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=self.launch_template.id, version=self.launch_template.latest_version.apply(str)
            ),
            # Fixed size: the experiment holds exactly the GPUs it reserved until it is destroyed.
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=self.nodes, max_size=self.nodes, desired_size=self.nodes
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels=labels,
            taints=gpu_taints(),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(role.attachments)),
        )

    def outputs(self) -> dict[str, Any]:
        """What the experiment stack exports (``gpu_pool`` is what `mlenv exp ls` shows)."""
        args = self.args
        prefix = artifact_prefix(args.experiment)
        wanted = tuple(args.writable_buckets)
        return {
            "experiment": args.experiment,
            "namespace": self.namespace.metadata.name,
            "service_account": SERVICE_ACCOUNT,
            "role_arn": self.role.arn,
            "gpu_pool": self.node_group.node_group_name,
            "gpus": args.gpus,
            "nodes": self.nodes,
            "instance_type": args.instance_type,
            "image_id": args.image,
            "ami_id": self.ami_id,
            "expires_at": args.tagging.expires_at,
            "artifact_prefixes": args.platform.buckets.apply(
                lambda buckets: {name: f"s3://{buckets[name]}/{prefix}" for name in wanted if name in buckets}
            ),
        }
