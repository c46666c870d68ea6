"""Serving: GPU inference deployments (Triton or vLLM, pinned by digest) on the serving GPU pool.

One namespace; service accounts bound by IRSA to roles that read only the models' prefixes of
the models bucket (plus the feature store's read policy for models that use features). Per
model: a Deployment (or a KServe InferenceService in RawDeployment mode), a Service, an
autoscaling/v2 HPA and a PodDisruptionBudget, so replicas scale with load and survive node
drains. Network policies deny everything by default, then allow DNS to the cluster's DNS pods, HTTPS
to the VPC (its interface endpoints, components/vpc_endpoints.py) and to the CIDRs the spec names,
the online store's port in the VPC (Redis), and ingress to each model's port only from the clients
the spec names. Models that read features are pointed at the DynamoDB interface endpoint, which has
no private DNS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import serving_specs as specs
from components.irsa import ROLE_ARN_ANNOTATION, ServiceAccountRef, irsa_role
from components.pod_security import pod_security_labels
from components.tags import Tagging
from components.vpc_endpoints import service_endpoint_url
from images.catalog import ContainerImage
from stacks.spec.model import ServedModelSpec, ServingClientSpec

COMPONENT = "serving"
SERVICE_ACCOUNT = "model-server"
FEATURES_SERVICE_ACCOUNT = "model-server-features"
CPU_TARGET_UTILIZATION = 70
KSERVE_API = "serving.kserve.io/v1beta1"


@dataclass(frozen=True)
class ServedModel:
    """A model of the spec with its catalog container resolved."""

    spec: ServedModelSpec
    container: ContainerImage


@dataclass(frozen=True)
class ServingArgs:
    """Inputs of a Serving component."""

    environment: str
    """Environment name; prefixes AWS resource names."""
    tagging: Tagging
    """Tags and labels; this component adds ``component=serving``."""
    models: Sequence[ServedModel]
    """The models to serve, each with its catalog container."""
    models_bucket: aws.s3.Bucket
    """Where model artifacts are (``s3://<bucket>/<model_path>``)."""
    kms_key: aws.kms.Key
    """The models bucket's key; the serving roles decrypt through S3 only."""
    oidc_provider: aws.iam.OpenIdConnectProvider
    """The cluster's OIDC provider, trusted by the serving roles."""
    k8s_provider: k8s.Provider
    """The cluster's Kubernetes provider."""
    vpc_cidr: str
    """The VPC's CIDR: model servers reach AWS (S3, STS) through interface endpoints in it."""
    namespace: str = "serving"
    """Namespace of every serving object. Default serving."""
    clients: Sequence[ServingClientSpec] = ()
    """Who may call the model servers. Default nobody (every path is denied by default)."""
    egress_cidrs: Sequence[str] = ()
    """Further HTTPS destinations of the model servers. Default none."""
    runtime: str = "deployment"
    """"deployment" (default): plain Deployments; "kserve": KServe InferenceServices."""
    feature_read_policy: aws.iam.Policy | None = None
    """The feature store's read policy, attached for models with ``uses_features``. Default none."""
    dynamodb_endpoint: aws.ec2.VpcEndpoint | None = None
    """The network's DynamoDB interface endpoint: models with ``uses_features`` get its URL in
    ``AWS_ENDPOINT_URL_DYNAMODB``. Default none: no variable (the SDK's public name)."""
    online_store_ports: Sequence[int] = ()
    """TCP ports of an online store in the VPC's private subnets (Redis) the servers may reach.
    Default none."""
    wait_for: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    """By GPU pool name, what the servers of a model on that pool need before they can become
    ready (that pool, the device plugin): a model's workload is created after its own pool's
    entry only, so one pool's rollout never holds up models on the others. Default nothing."""


def model_uri(bucket: str, model_path: str) -> str:
    """``s3://bucket/path/`` of a model's artifacts."""
    return f"s3://{bucket}/{model_path.strip('/')}/"


def models_read_policy(bucket_arn: str, kms_key_arn: str, region: str, model_paths: Sequence[str]) -> str:
    """Read the listed model prefixes of the models bucket, nothing else."""
    prefixes = sorted({p.strip("/") for p in model_paths})
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadModelArtifacts",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{bucket_arn}/{p}/*" for p in prefixes],
        },
        {
            "Sid": "ListModelPrefixes",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for p in prefixes] + prefixes}},
        },
        {
            "Sid": "DecryptThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [kms_key_arn],
            "Condition": {"StringEquals": {"kms:ViaService": [f"s3.{region}.amazonaws.com"]}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def endpoint_url(model: ServedModelSpec, namespace: str, runtime: str) -> str:
    """The in-cluster URL of a model's Service (KServe names it ``<model>-predictor``)."""
    service = f"{model.name}-predictor" if runtime == "kserve" else model.name
    return f"http://{service}.{namespace}.svc.cluster.local:{model.port}"


def service_account_of(model: ServedModelSpec) -> str:
    """Models that read features run under a separate account, so others cannot read features."""
    return FEATURES_SERVICE_ACCOUNT if model.uses_features else SERVICE_ACCOUNT


def selector_labels(model: str) -> dict[str, str]:
    """The immutable selector of a model's pods."""
    return {"app.kubernetes.io/name": model, "app.kubernetes.io/component": "model-server"}


class Serving(pulumi.ComponentResource):
    """The serving namespace, its IRSA service accounts and one GPU deployment stack per model."""

    namespace: k8s.core.v1.Namespace
    roles: dict[str, aws.iam.Role]
    workloads: dict[str, pulumi.CustomResource]
    endpoints: dict[str, str]
    """In-cluster URL of each model, by model name."""

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:serving:Serving", name, None, opts)
        self._args = args
        self._labels = args.tagging.labels(COMPONENT)
        self._k8s = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        ns = args.namespace
        self.namespace = k8s.core.v1.Namespace(
            f"{args.environment}-serving",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ns,
                labels={
                    **self._labels,
                    # Model servers run as a non-root UID (serving_specs.run_as_user), so the
                    # namespace enforces the restricted Pod Security Standard.
                    **pod_security_labels("restricted"),
                },
                annotations=args.tagging.annotations(),
            ),
            opts=self._k8s,
        )
        self._k8s_ns = pulumi.ResourceOptions(
            parent=self, provider=args.k8s_provider, depends_on=[self.namespace]
        )

        self._dynamodb_endpoint_url = (
            service_endpoint_url(args.dynamodb_endpoint, "dynamodb")
            if args.dynamodb_endpoint is not None
            else None
        )
        self.roles = {}
        self._service_accounts(args)
        self._network_policies()
        self.workloads = {}
        self._workload_opts = {
            pool: pulumi.ResourceOptions(
                parent=self, provider=args.k8s_provider, depends_on=[self.namespace, *waits]
            )
            for pool, waits in args.wait_for.items()
        }
        for model in args.models:
            self._model(model)
        self.endpoints = {m.spec.name: endpoint_url(m.spec, ns, args.runtime) for m in args.models}
        self.register_outputs(
            {
                "namespace": ns,
                "endpoints": self.endpoints,
                "role_arns": {sa: role.arn for sa, role in self.roles.items()},
            }
        )

    def _workload_opts_for(self, model: ServedModelSpec) -> pulumi.ResourceOptions:
        """A model's workload waits for the namespace and its own pool's ``wait_for`` entry."""
        return self._workload_opts.get(model.pool) or self._k8s_ns

    def _meta(self, name: str, extra: dict[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self._args.namespace,
            labels={**self._labels, **(extra or {})},
            annotations=self._args.tagging.annotations() or None,
        )

    def _service_accounts(self, args: ServingArgs) -> None:
        tags = args.tagging.tags(COMPONENT)
        needed = sorted({service_account_of(m.spec) for m in args.models} or {SERVICE_ACCOUNT})
        paths = [m.spec.model_path for m in args.models]
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        for sa in needed:
            role = irsa_role(
                f"{args.environment}-{sa}",
                oidc_provider=args.oidc_provider,
                account=ServiceAccountRef(args.namespace, sa),
                description=f"mlenv {args.environment}: model servers ({args.namespace}/{sa})",
                tags=tags,
                parent=self,
            )
            sa_paths = [m.spec.model_path for m in args.models if service_account_of(m.spec) == sa] or paths
            if sa_paths:
                aws.iam.RolePolicy(
                    f"{args.environment}-{sa}-models",
                    role=role.id,
                    policy=pulumi.Output.all(args.models_bucket.arn, args.kms_key.arn, region).apply(
                        lambda v, p=sa_paths: models_read_policy(v[0], v[1], v[2], p)  # type: ignore[misc]
                    ),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            if sa == FEATURES_SERVICE_ACCOUNT and args.feature_read_policy is not None:
                aws.iam.RolePolicyAttachment(
                    f"{args.environment}-{sa}-features",
                    role=role.name,
                    policy_arn=args.feature_read_policy.arn,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            self.roles[sa] = role
            k8s.core.v1.ServiceAccount(
                f"{args.environment}-{sa}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=sa,
                    namespace=args.namespace,
                    labels=self._labels,
                    annotations={**args.tagging.annotations(), ROLE_ARN_ANNOTATION: role.arn},
                ),
                # Model servers never talk to the Kubernetes API; the IRSA webhook mounts its own token.
                automount_service_account_token=False,
                opts=self._k8s_ns,
            )

    def _network_policies(self) -> None:
        env = self._args.environment
        k8s.networking.v1.NetworkPolicy(
            f"{env}-serving-default-deny",
            metadata=self._meta("default-deny"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=self._k8s_ns,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{env}-serving-allow-egress",
            metadata=self._meta("allow-dns-and-https-egress"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=specs.egress_rules(
                    self._args.vpc_cidr, self._args.egress_cidrs, self._args.online_store_ports
                ),
            ),
            opts=self._k8s_ns,
        )

    def _model(self, model: ServedModel) -> None:
        args, spec = self._args, model.spec
        env, name = args.environment, spec.name
        runtime = specs.runtime_of(model.container)
        uri = args.models_bucket.bucket.apply(lambda b: model_uri(b, spec.model_path))
        command = specs.server_command(runtime, "", spec.port, spec.gpus_per_replica)[0]
        server_args = uri.apply(
            lambda u: specs.server_command(runtime, u, spec.port, spec.gpus_per_replica)[1]
        )
        probes = specs.probes(runtime)
        volumes, mounts = specs.scratch_volumes(spec.gpus_per_replica)
        selector = selector_labels(name)
        container = k8s.core.v1.ContainerArgs(
            name="kserve-container" if args.runtime == "kserve" else "server",
            image=model.container.ref,
            image_pull_policy="IfNotPresent",
            command=command or None,
            args=server_args,
            env=specs.server_env(self._dynamodb_endpoint_url if spec.uses_features else None),
            ports=[
                k8s.core.v1.ContainerPortArgs(name=specs.PORT_NAME, container_port=spec.port, protocol="TCP")
            ],
            resources=specs.replica_resources(spec.gpus_per_replica),
            startup_probe=probes.startup,
            readiness_probe=probes.readiness,
            liveness_probe=probes.liveness,
            security_context=specs.container_security(),
            volume_mounts=mounts,
        )
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name=service_account_of(spec),
            automount_service_account_token=False,
            node_selector=specs.pool_selector(spec.pool),
            tolerations=specs.gpu_tolerations(),
            security_context=specs.pod_security(model.container),
            termination_grace_period_seconds=60,
            containers=[container],
            volumes=volumes,
        )
        if args.runtime == "kserve":
            self.workloads[name] = self._inference_service(model, pod, selector)
        else:
            self.workloads[name] = k8s.apps.v1.Deployment(
                f"{env}-{name}",
                metadata=self._meta(name, selector),
                # No spec.replicas: the HPA owns the replica count (between min and max_replicas); a
                # replicas field here would reset it to min_replicas on every update.
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    # No surge beyond one extra replica: a GPU replica may need a whole new node.
                    strategy=k8s.apps.v1.DeploymentStrategyArgs(
                        type="RollingUpdate",
                        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                            max_surge=1, max_unavailable=0
                        ),
                    ),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels={**self._labels, **selector}), spec=pod
                    ),
                ),
                opts=self._workload_opts_for(spec),
            )
            k8s.core.v1.Service(
                f"{env}-{name}",
                metadata=self._meta(name, selector),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    selector=selector,
                    ports=[
                        k8s.core.v1.ServicePortArgs(
                            name=specs.PORT_NAME, port=spec.port, target_port=specs.PORT_NAME, protocol="TCP"
                        )
                    ],
                ),
                opts=self._k8s_ns,
            )
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{env}-{name}",
                metadata=self._meta(name, selector),
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=name
                    ),
                    min_replicas=spec.min_replicas,
                    max_replicas=spec.max_replicas,
                    # CPU is the metric every cluster has; GPU utilisation needs a custom-metrics adapter.
                    metrics=[
                        k8s.autoscaling.v2.MetricSpecArgs(
                            type="Resource",
                            resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                                name="cpu",
                                target=k8s.autoscaling.v2.MetricTargetArgs(
                                    type="Utilization", average_utilization=CPU_TARGET_UTILIZATION
                                ),
                            ),
                        )
                    ],
                    behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                        scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(stabilization_window_seconds=600)
                    ),
                ),
                opts=self._k8s_ns,
            )
        # A drain evicts at most one replica at a time; the others keep serving.
        k8s.policy.v1.PodDisruptionBudget(
            f"{env}-{name}",
            metadata=self._meta(name, selector),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
            ),
            opts=self._k8s_ns,
        )
        if args.clients:
            k8s.networking.v1.NetworkPolicy(
                f"{env}-{name}-ingress",
                metadata=self._meta(f"{name}-ingress", selector),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    policy_types=["Ingress"],
                    ingress=[specs.ingress_rule(args.clients, spec.port)],
                ),
                opts=self._k8s_ns,
            )

    def _inference_service(
        self, model: ServedModel, pod: k8s.core.v1.PodSpecArgs, selector: dict[str, str]
    ) -> pulumi.CustomResource:
        """A KServe InferenceService in RawDeployment mode (Deployment + Service + HPA by KServe)."""
        spec = model.spec
        predictor = {
            "minReplicas": spec.min_replicas,
            "maxReplicas": spec.max_replicas,
            "labels": selector,
            "serviceAccountName": pod.service_account_name,
            "nodeSelector": pod.node_selector,
            "tolerations": pod.tolerations,
            "securityContext": pod.security_context,
            "containers": pod.containers,
            "volumes": pod.volumes,
        }
        return k8s.apiextensions.CustomResource(
            f"{self._args.environment}-{spec.name}",
            api_version=KSERVE_API,
            kind="InferenceService",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=spec.name,
                namespace=self._args.namespace,
                labels={**self._labels, **selector},
                annotations={
                    **self._args.tagging.annotations(),
                    "serving.kserve.io/deploymentMode": "RawDeployment",
                    "serving.kserve.io/autoscalerClass": "hpa",
                    "serving.kserve.io/metric": "cpu",
                    "serving.kserve.io/targetUtilizationPercentage": str(CPU_TARGET_UTILIZATION),
                },
            ),
            spec={"predictor": predictor},
            opts=self._workload_opts_for(spec),
        )


def serving_outputs(serving: Serving) -> dict[str, Any]:
    """What the stack exports about serving: namespace, in-cluster endpoints, IRSA roles."""
    return {
        "serving_namespace": serving.namespace.metadata.name,
        "serving_endpoints": serving.endpoints,
        "serving_role_arns": {sa: role.arn for sa, role in serving.roles.items()},
    }
