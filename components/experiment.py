"""Experiment: one short-lived GPU experiment, a slice of the shared platform cluster.

An experiment borrows the platform's cluster, OIDC provider, buckets and EC2NodeClasses (read
through a StackReference into :class:`PlatformOutputs`) and adds only what is its own:

* namespace ``exp-<name>`` (Pod Security ``restricted``), a ResourceQuota (GPUs granted, and the
  CPU, memory and pods of the nodes that hold them), a LimitRange, a default-deny NetworkPolicy
  and one allowing in-namespace traffic, DNS and HTTPS to the VPC's endpoints;
* its own Karpenter NodePool on the platform's EC2NodeClass for the chosen catalog image, with the
  taint and label ``mlenv.io/experiment=<name>``, GPU ``limits`` equal to the GPUs granted and
  ``expireAfter`` no later than the expiry; and a ValidatingAdmissionPolicy that keeps the
  namespace's pods on that pool and every other namespace's pods off it
  (components/experiment_slice.py builds these);
* a service account whose IAM role (IRSA) can read and write only ``experiments/<name>/`` in the
  platform's ``experiments`` bucket (no Object Lock; its lifecycle expires objects) and read the
  shared ``datasets`` bucket.

Every AWS resource carries the ``mlenv:expires-at`` tag, every Kubernetes object the expiry
annotation, so GC and the orphan sweep find all of it. Nothing is protected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import experiment_slice as slice_
from components.errors import ComponentError
from components.irsa import ROLE_ARN_ANNOTATION, OidcProviderRef, ServiceAccountRef, irsa_role
from components.pod_security import pod_security_labels
from components.scheduling import LABEL_EXPERIMENT
from components.tags import Tagging
from images.catalog import Catalog, load_catalog
from images.instance_types import InstanceTypeData, load_instance_types
from stacks.experiments.durations import from_iso
from stacks.experiments.pricing import instances_needed

COMPONENT = "experiment"
SERVICE_ACCOUNT = "experiment"
WRITABLE_BUCKET = "experiments"
"""The platform bucket (logical name) an experiment writes its prefix in: no Object Lock, and a
lifecycle that expires what experiments leave (stacks/spec/rules.py requires both)."""
READABLE_BUCKETS = ("datasets",)
"""The platform buckets an experiment may read whole: the shared datasets."""
READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")

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


namespace_name = slice_.namespace_name


def artifact_prefix(experiment: str) -> str:
    """``experiments/<name>/``: the only key prefix the experiment may touch in the platform buckets."""
    return f"experiments/{experiment}/"


def prefix_policy(
    experiment: str,
    bucket_arn: str,
    readable_arns: Sequence[str],
    kms_key_arn: str,
    region: str,
) -> str:
    """The workload role's permissions: its own prefix in the experiments bucket, reading the shared
    datasets, and the buckets' key through S3 only."""
    prefix = artifact_prefix(experiment)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnPrefixObjects",
            "Effect": "Allow",
            "Action": list(OBJECT_ACTIONS),
            "Resource": f"{bucket_arn}/{prefix}*",
        },
        {
            "Sid": "ListOwnPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
        },
        {
            "Sid": "ReadSharedDatasets",
            "Effect": "Allow",
            "Action": list(READ_ACTIONS),
            "Resource": [f"{arn}/*" for arn in readable_arns],
        },
        {
            "Sid": "ListSharedDatasets",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": list(readable_arns),
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
    vpc_cidr: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]
    buckets: pulumi.Output[dict[str, str]]
    bucket_arns: pulumi.Output[dict[str, str]]
    artifacts_kms_key_arn: pulumi.Output[str]
    ledger_table: pulumi.Output[str]
    gpu_node_classes: pulumi.Output[Any] | None = None
    """{catalog image id: EC2NodeClass name} (Karpenter platforms); None: read as missing."""

    @classmethod
    def from_reference(cls, reference: pulumi.StackReference) -> PlatformOutputs:
        """Every required field from the platform's output of the same name (missing ones fail the
        update); ``gpu_node_classes`` may be absent on platforms that predate Karpenter pools."""
        required = {
            f.name: reference.require_output(f.name) for f in fields(cls) if f.name != "gpu_node_classes"
        }
        return cls(**required, gpu_node_classes=reference.get_output("gpu_node_classes"))


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
    """GPUs reserved in the ledger: the NodePool's GPU limit and the namespace's GPU quota."""
    instance_type: str
    """GPU instance type of the NodePool (checked against the catalog at plan time)."""
    image: str
    """Image id from images/catalog.yaml."""
    platform: PlatformOutputs
    """The platform's cluster, network, OIDC provider and buckets."""
    writable_bucket: str = WRITABLE_BUCKET
    """Platform bucket the experiment writes ``experiments/<name>/`` in. Default ``experiments``."""
    readable_buckets: Sequence[str] = READABLE_BUCKETS
    """Platform buckets the experiment reads. Default ``datasets``."""
    deployed_at: datetime | None = None
    """When the program runs; sets the NodePool's ``expireAfter``. Default: now (UTC)."""
    catalog: Catalog | None = None
    """The image catalog. Default: images/catalog.yaml."""
    instance_data: InstanceTypeData | None = None
    """EC2's GPU instance-type data. Default: images/gpu_instance_types.json."""


class Experiment(pulumi.ComponentResource):
    """Namespace and its guards, the experiment's NodePool, and an IRSA role scoped to its prefix."""

    namespace: k8s.core.v1.Namespace
    quota: k8s.core.v1.ResourceQuota
    limit_range: k8s.core.v1.LimitRange
    default_deny: k8s.networking.v1.NetworkPolicy
    allow: k8s.networking.v1.NetworkPolicy
    admission_policy: k8s.admissionregistration.v1.ValidatingAdmissionPolicy
    admission_binding: k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding
    node_pool: k8s.apiextensions.CustomResource
    role: aws.iam.Role
    service_account: k8s.core.v1.ServiceAccount
    nodes: int
    ami_id: str

    def __init__(self, name: str, args: ExperimentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:experiment:Experiment", name, None, opts)
        self.args = args
        self._tags = args.tagging.tags(COMPONENT)
        self._labels = args.tagging.labels(COMPONENT)
        catalog = args.catalog or load_catalog()
        data = args.instance_data or load_instance_types()
        self._gpu = data.gpu_info(args.instance_type)
        self.nodes = instances_needed(args.gpus, self._gpu.gpu_count)  # whole nodes for the GPUs
        self.ami_id = catalog.ami(args.image, args.region)
        self._namespace()
        self._guards()
        self._workload_identity()
        self._node_pool(catalog)
        self.register_outputs(
            {
                "namespace": self.namespace.metadata.name,
                "role_arn": self.role.arn,
                "node_pool": slice_.node_pool_name(args.experiment),
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
        self.namespace = k8s.core.v1.Namespace(
            f"{args.experiment}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace_name(args.experiment),
                labels={**self._labels, **pod_security_labels("restricted")},
                annotations=args.tagging.annotations() or None,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _guards(self) -> None:
        """Quota, limits, network policy and the admission policy that binds pods to the pool."""
        args = self.args
        ns = namespace_name(args.experiment)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        self.quota = k8s.core.v1.ResourceQuota(
            f"{args.experiment}-quota",
            metadata=self._meta("experiment", ns),
            spec={"hard": slice_.quota_hard(args.gpus, self.nodes, self._gpu)},
            opts=in_namespace,
        )
        self.limit_range = k8s.core.v1.LimitRange(
            f"{args.experiment}-limits",
            metadata=self._meta("experiment", ns),
            # Plain dicts from the pure builders, which the tests validate; typed for the SDK here.
            spec=cast("k8s.core.v1.LimitRangeSpecArgsDict", {"limits": slice_.limit_range_limits(self._gpu)}),
            opts=in_namespace,
        )
        self.default_deny = k8s.networking.v1.NetworkPolicy(
            f"{args.experiment}-default-deny",
            metadata=self._meta("default-deny", ns),
            spec=cast("k8s.networking.v1.NetworkPolicySpecArgsDict", slice_.default_deny_spec()),
            opts=in_namespace,
        )
        self.allow = k8s.networking.v1.NetworkPolicy(
            f"{args.experiment}-allow",
            metadata=self._meta("allow-own-pods-dns-and-https-to-the-vpc", ns),
            spec=args.platform.vpc_cidr.apply(
                lambda cidr: cast("k8s.networking.v1.NetworkPolicySpecArgsDict", slice_.allow_spec(cidr))
            ),
            opts=in_namespace,
        )
        policy_name = f"mlenv-{ns}"
        self.admission_policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{args.experiment}-admission",
            metadata=self._meta(policy_name),
            spec=cast(
                "k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgsDict",
                slice_.admission_policy_spec(args.experiment),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.admission_binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{args.experiment}-admission",
            metadata=self._meta(policy_name),
            spec=cast(
                "k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgsDict",
                slice_.admission_binding_spec(args.experiment, policy_name),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.admission_policy]),
        )

    def _workload_identity(self) -> None:
        args = self.args
        platform = args.platform
        ns = namespace_name(args.experiment)
        account = ServiceAccountRef(ns, SERVICE_ACCOUNT)
        self.role = irsa_role(
            f"{args.experiment}-workload",
            oidc_provider=OidcProviderRef(platform.oidc_provider_arn, platform.oidc_provider_url),
            account=account,
            description=f"mlenv experiment {args.experiment}: {account.subject}",
            tags=self._tags,
            parent=self,
        )
        writable, readable = args.writable_bucket, tuple(args.readable_buckets)

        def policy(values: list[Any]) -> str:
            arns, key = values
            (bucket,) = writable_bucket_arns(arns, [writable])
            return prefix_policy(
                args.experiment, bucket, writable_bucket_arns(arns, readable), key, args.region
            )

        aws.iam.RolePolicy(
            f"{args.experiment}-prefix",
            role=self.role.name,
            policy=pulumi.Output.all(platform.bucket_arns, platform.artifacts_kms_key_arn).apply(policy),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{args.experiment}-service-account",
            metadata=self._meta(SERVICE_ACCOUNT, ns, **{ROLE_ARN_ANNOTATION: self.role.arn}),  # type: ignore[arg-type]
            automount_service_account_token=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
        )

    def _node_pool(self, catalog: Catalog) -> None:
        """The experiment's Karpenter NodePool on the platform's EC2NodeClass for its image."""
        args = self.args
        image = catalog.image(args.image)
        expires_at = from_iso(args.tagging.expires_at) if args.tagging.expires_at else None
        deployed_at = args.deployed_at or datetime.now(UTC)
        expire = slice_.expire_after(expires_at, deployed_at) if expires_at is not None else "Never"
        node_classes = args.platform.gpu_node_classes
        node_class: pulumi.Output[str] = (
            node_classes.apply(lambda classes: slice_.node_class_name(classes, args.image))
            if node_classes is not None
            else pulumi.Output.from_input(slice_.node_class_name(None, args.image))
        )
        manifest = node_class.apply(
            lambda name: slice_.node_pool(
                args.experiment,
                node_class=name,
                instance_type=args.instance_type,
                gpus=args.gpus,
                labels=slice_.node_labels(args.experiment, image, self._gpu),
                expire_after_value=expire,
                metadata_labels=dict(self._labels),
            )
        )
        self.node_pool = k8s.apiextensions.CustomResource(
            f"{args.experiment}-node-pool",
            api_version=slice_.KARPENTER_NODE_POOL_API,
            kind="NodePool",
            metadata=self._meta(slice_.node_pool_name(args.experiment)),
            spec=manifest.apply(lambda m: m["spec"]),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def outputs(self) -> dict[str, Any]:
        """What the experiment stack exports (``gpu_pool`` is what `mlenv exp ls` shows)."""
        args = self.args
        prefix = artifact_prefix(args.experiment)
        writable = args.writable_bucket
        return {
            "experiment": args.experiment,
            "namespace": self.namespace.metadata.name,
            "service_account": SERVICE_ACCOUNT,
            "role_arn": self.role.arn,
            "gpu_pool": slice_.node_pool_name(args.experiment),
            "node_selector": {LABEL_EXPERIMENT: args.experiment},
            "toleration": slice_.toleration(args.experiment),
            "gpus": args.gpus,
            "nodes": self.nodes,
            "instance_type": args.instance_type,
            "image_id": args.image,
            "ami_id": self.ami_id,
            "expires_at": args.tagging.expires_at,
            "artifact_prefix": args.platform.buckets.apply(
                lambda buckets: f"s3://{buckets[writable]}/{prefix}" if writable in buckets else None
            ),
        }
