"""EnvironmentSpec: the typed, validated shape of a stack file.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds one object under the config key
``mlenv:environment``. It is validated once, before any resource is created, by
:func:`stacks.spec.load.parse_environment`: structural problems come from pydantic, cross-field problems from
``stacks.spec.rules``; every problem is collected and raised together as one :class:`SpecError`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from stacks.spec.fields import (
    OWNER,
    REGION,
    DnsLabel,
    IamRoleArn,
    Identifier,
    InstanceType,
    LogRetentionDays,
    SpecModel,
    TagKey,
    TagValue,
)
from stacks.spec.limits import VPC_PREFIX_RANGE, VPC_RANGES
from stacks.spec.pools import GpuPoolSpec


class NetworkSpec(SpecModel):
    """The VPC the environment runs in."""

    cidr: str = "10.0.0.0/16"
    """IPv4 CIDR of the VPC, between /16 and /20. Default 10.0.0.0/16."""
    az_count: Literal[2, 3] = 2
    """Availability zones to spread subnets over. Default 2; production asks for 3."""
    nat_gateways: Literal["single", "per_az"] = "single"
    """One NAT gateway for the VPC (cheap, dev) or one per AZ (no cross-AZ dependency, prod)."""
    flow_log_retention_days: LogRetentionDays = 90
    """Days VPC flow logs are kept (a CloudWatch Logs retention period). Default 90."""

    @field_validator("cidr")
    @classmethod
    def _cidr_is_private_block(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 network CIDR ({exc}); write it like 10.0.0.0/16") from None
        low, high = VPC_PREFIX_RANGE
        if not low <= network.prefixlen <= high:
            raise ValueError(f"prefix must be between /{low} and /{high} (room for every AZ)")
        if not any(network.subnet_of(block) for block in VPC_RANGES):
            ranges = ", ".join(map(str, VPC_RANGES))
            raise ValueError(f"use a block inside a private (RFC 1918) range ({ranges}), such as 10.0.0.0/16")
        return value


class SystemPoolSpec(SpecModel):
    """The small CPU node group that runs cluster add-ons (CoreDNS, device plugin controller ...)."""

    instance_types: list[InstanceType] = Field(default_factory=lambda: ["m7i.large"], min_length=1)
    """CPU instance types. Default m7i.large."""
    min_size: int = Field(default=2, ge=1, le=10)
    """Default 2, so add-ons survive the loss of one node."""
    max_size: int = Field(default=3, ge=1, le=20)
    """Default 3."""


class ClusterSpec(SpecModel):
    """The EKS cluster."""

    version: Annotated[str, StringConstraints(pattern=r"^1\.\d{2}$")] = "1.33"
    """Kubernetes minor version, e.g. "1.33". Must be an EKS-supported version."""
    public_access_cidrs: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach a public API endpoint. Empty (default): the endpoint is private only."""
    admin_role_arns: list[IamRoleArn] = Field(default_factory=list)
    """IAM roles granted cluster admin (the deploy role). Default: none besides the creator."""
    readonly_role_arns: list[IamRoleArn] = Field(default_factory=list)
    """IAM roles of humans, granted read-only view access. Default: none."""
    system_pool: SystemPoolSpec = Field(default_factory=SystemPoolSpec)
    """The CPU system node group. Default: 2-3 x m7i.large."""
    log_retention_days: LogRetentionDays = 365
    """Days control-plane (audit) logs are kept (a CloudWatch Logs retention period). Default 365."""

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs_parse(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=True)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a CIDR ({exc})") from None
        return values


class ObjectLockSpec(SpecModel):
    """S3 Object Lock default retention of a bucket."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    """GOVERNANCE (default: privileged principals may shorten it) or COMPLIANCE (nobody may)."""
    retention_days: int = Field(default=30, ge=1, le=36500)
    """Default 30 days."""


class BucketSpec(SpecModel):
    """One artifact bucket."""

    name: DnsLabel
    """Logical name, e.g. models or datasets; the physical name adds environment and account."""
    object_lock: ObjectLockSpec | None = None
    """Object Lock default retention. Default none; the models bucket must have one."""
    noncurrent_version_expiration_days: int = Field(default=90, ge=1, le=3650)
    """Noncurrent object versions are deleted after this many days. Default 90."""
    abort_incomplete_multipart_days: int = Field(default=7, ge=1, le=365)
    """Incomplete multipart uploads are aborted after this many days. Default 7."""
    transition_to_ia_days: int | None = Field(default=None, ge=30, le=3650)
    """Move current versions to STANDARD_IA after this many days. Default: never."""
    expiration_days: int | None = Field(default=None, ge=1, le=3650)
    """Current versions expire (become noncurrent, then go after noncurrent_version_expiration_days)
    this many days after creation. Default: never. The experiments bucket must set it."""


EXPERIMENTS_BUCKET = "experiments"
"""The bucket experiments write ``experiments/<name>/`` in (components/experiment.py)."""


def _default_buckets() -> list[BucketSpec]:
    return [BucketSpec(name="models", object_lock=ObjectLockSpec()), BucketSpec(name="datasets")]


class ArtifactsSpec(SpecModel):
    """Artifact storage: S3 buckets for models and datasets, ECR repositories for serving images."""

    buckets: list[BucketSpec] = Field(default_factory=_default_buckets)
    """Buckets; "models" (with Object Lock) and "datasets" are required."""
    ecr_repositories: list[DnsLabel] = Field(default_factory=lambda: ["serving"])
    """ECR repositories for serving images. Default one: serving."""
    access_log_retention_days: int = Field(default=365, ge=1, le=3650)
    """Days S3 access logs are kept in the log bucket. Default 365."""
    kms_deletion_window_days: int = Field(default=30, ge=7, le=30)
    """Waiting period before a deleted KMS key is gone. Default 30 (the maximum)."""

    @model_validator(mode="after")
    def _experiments_bucket_is_throwaway(self) -> ArtifactsSpec:
        # Experiments write checkpoints nobody keeps: an Object Lock would keep them for years, and
        # without an expiration nothing would ever remove them.
        for bucket in self.buckets:
            if bucket.name != EXPERIMENTS_BUCKET:
                continue
            if bucket.object_lock is not None:
                raise ValueError(
                    f"bucket {EXPERIMENTS_BUCKET!r} must not have object_lock: experiments write "
                    "throw-away checkpoints there that must stay deletable; remove object_lock"
                )
            if bucket.expiration_days is None:
                raise ValueError(
                    f"bucket {EXPERIMENTS_BUCKET!r} needs expiration_days (e.g. 30): otherwise what "
                    "experiments leave is kept forever"
                )
        return self


class FeatureViewSpec(SpecModel):
    """A Feast feature view served from the online store."""

    name: Identifier
    entities: list[Identifier] = Field(min_length=1)
    """Entity join keys, e.g. [customer_id]."""
    ttl_days: int = Field(default=30, ge=1, le=3650)
    """How long feature values stay valid online. Default 30."""


class RedisSpec(SpecModel):
    """ElastiCache Redis online store settings (when online_store is redis)."""

    node_type: Annotated[str, StringConstraints(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")] = "cache.r7g.large"
    num_cache_clusters: int = Field(default=2, ge=1, le=6)
    snapshot_retention_days: int = Field(default=7, ge=0, le=35)


class FeatureStoreSpec(SpecModel):
    """Infrastructure of a Feast feature store (DynamoDB or Redis online, S3 + Glue offline)."""

    project: Identifier
    """Feast project name."""
    online_store: Literal["dynamodb", "redis"] = "dynamodb"
    """Default dynamodb (on-demand, no servers)."""
    feature_views: list[FeatureViewSpec] = Field(min_length=1)
    redis: RedisSpec | None = None
    """Redis settings; only with online_store: redis. Default: RedisSpec() then."""


class ServedModelSpec(SpecModel):
    """One GPU inference deployment."""

    name: DnsLabel
    container: str
    """A serving container id from images/catalog.yaml (pinned by digest)."""
    pool: DnsLabel
    """The GPU pool (gpu_pools[].name) the replicas run on."""
    model_path: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]+$")]
    """Key prefix of the model in the models bucket."""
    gpus_per_replica: int = Field(default=1, ge=1, le=16)
    min_replicas: int = Field(default=1, ge=1, le=100)
    """Default 1."""
    max_replicas: int = Field(default=2, ge=1, le=100)
    """Default 2."""
    port: int = Field(default=8000, ge=1024, le=65535)
    """Default 8000."""
    uses_features: bool = False
    """Whether it reads the feature store online (adds the read role). Default no."""


LabelKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
    ),
]
"""A Kubernetes label key: an optional DNS-subdomain prefix and a name of at most 63 characters
(https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set)."""
LabelValue = Annotated[str, StringConstraints(pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]


class ServingClientSpec(SpecModel):
    """Pods allowed to call the model servers: an ingress controller or a client namespace."""

    namespace: DnsLabel
    """The namespace the calls come from (matched by its ``kubernetes.io/metadata.name`` label)."""
    pod_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """Only pods with these labels in that namespace. Default: every pod of the namespace."""


class ServingSpec(SpecModel):
    """The serving environment on the cluster."""

    namespace: DnsLabel = "serving"
    runtime: Literal["deployment", "kserve"] = "deployment"
    """Plain Deployments (default) or KServe InferenceServices when the cluster runs KServe."""
    models: list[ServedModelSpec] = Field(default_factory=list)
    clients: list[ServingClientSpec] = Field(default_factory=list)
    """Who may call the model servers on their ports. Default: nobody outside the serving namespace's
    own pods (every other path is denied by default)."""
    egress_cidrs: list[str] = Field(default_factory=list)
    """Addresses beyond cluster DNS and the VPC (its AWS endpoints) the model servers may reach on
    HTTPS. Default none."""

    @field_validator("egress_cidrs")
    @classmethod
    def _egress_cidrs_parse(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                network = ipaddress.ip_network(value, strict=True)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a CIDR ({exc})") from None
            if network.prefixlen == 0:
                raise ValueError(f"{value!r} is every address: name the destinations the servers need")
        return values


class ExperimentSpec(SpecModel):
    """A short-lived experiment on the shared platform cluster."""

    platform_stack: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./-]{1,100}$")]
    """The platform stack whose cluster, buckets and ledger the experiment uses."""
    gpus: int = Field(ge=1, le=64)
    instance_type: InstanceType
    image: str
    ttl_hours: float = Field(gt=0, le=24 * 14)
    expires_at: datetime
    """UTC instant after which `mlenv exp gc` destroys the experiment. `mlenv exp up` always writes it;
    when absent (the template stack, planned by `mlenv plan experiment`), it is planning time plus
    ``ttl_hours``, which is what `mlenv exp up` would write now."""

    @model_validator(mode="before")
    @classmethod
    def _expires_ttl_hours_from_now(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "expires_at" not in data:
            ttl_hours = data.get("ttl_hours")
            if isinstance(ttl_hours, int | float) and not isinstance(ttl_hours, bool) and ttl_hours > 0:
                now = datetime.now(UTC).replace(microsecond=0)
                return {**data, "expires_at": now + timedelta(hours=ttl_hours)}
        return data


IamPrincipalArn = Annotated[
    str,
    StringConstraints(
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[A-Za-z0-9_+=,.@/-]+$", max_length=600
    ),
]


class ExperimentQuotasSpec(SpecModel):
    """What experiments on this platform may use. The platform stack writes it into its ledger
    (stacks/experiments/quotas.py), where `mlenv exp` reads it: no command-line flag can raise it."""

    owner_gpu_quota: int = Field(default=8, ge=1, le=4096)
    """GPUs one owner (AWS principal) may hold across their experiments. Default 8."""
    global_gpu_quota: int = Field(default=32, ge=1, le=4096)
    """GPUs all experiments together may hold. Default 32."""
    max_ttl_hours: float = Field(default=72, gt=0, le=24 * 14)
    """Longest total lifetime of an experiment, extensions included. Default 72 (at most 14 days)."""
    instance_types: list[InstanceType] = Field(default_factory=list)
    """Instance types experiments may use. Default empty: any the catalog rules accept."""
    images: list[str] = Field(default_factory=list)
    """Catalog image ids experiments may use. Default empty: any catalog image that fits."""
    operators: list[IamPrincipalArn] = Field(default_factory=list)
    """IAM roles/users that may create experiments for others (`mlenv exp up --owner`). Default none."""

    @model_validator(mode="after")
    def _owner_within_global(self) -> ExperimentQuotasSpec:
        if self.owner_gpu_quota > self.global_gpu_quota:
            raise ValueError(
                f"owner_gpu_quota {self.owner_gpu_quota} is above global_gpu_quota {self.global_gpu_quota}: "
                "one owner could never use it; lower owner_gpu_quota or raise global_gpu_quota"
            )
        return self


class EnvironmentSpec(SpecModel):
    """One ML environment: what a stack file describes."""

    name: DnsLabel
    """Environment name, used in resource names and tags."""
    kind: Literal["platform", "experiment"]
    """platform: long-lived, stateful resources protected; experiment: short-lived with a TTL."""
    owner: Annotated[str, StringConstraints(pattern=OWNER)]
    """Team or person accountable; becomes the mlenv:owner tag."""
    region: Annotated[str, StringConstraints(pattern=REGION)]
    """AWS region, e.g. us-east-1."""
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    """Extra tags on every taggable resource (keys may not start with aws: or mlenv:)."""
    network: NetworkSpec | None = None
    cluster: ClusterSpec | None = None
    gpu_pools: list[GpuPoolSpec] = Field(default_factory=list)
    artifacts: ArtifactsSpec = Field(default_factory=ArtifactsSpec)
    feature_store: FeatureStoreSpec | None = None
    serving: ServingSpec | None = None
    experiment: ExperimentSpec | None = None
    experiments: ExperimentQuotasSpec = Field(default_factory=ExperimentQuotasSpec)
    """Platform stacks: quotas for the experiments on this platform. Defaults as documented there."""

    @property
    def long_lived(self) -> bool:
        """Platform stacks protect and retain stateful resources; experiments may force-destroy."""
        return self.kind == "platform"
