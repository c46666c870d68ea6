"""Pure decisions of the serving component: server arguments, probes, resources, pod security.

Each function takes plain values and returns pulumi_kubernetes Args, so it is tested on its own
and the component only assembles. Runtimes: Triton (KServe v2 HTTP health endpoints) and vLLM
(OpenAI-compatible server, ``/health``); which one a container is comes from its repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components.errors import ComponentError
from components.scheduling import GPU_RESOURCE, GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE, LABEL_POOL
from images.catalog import ContainerImage
from stacks.spec.model import ServingClientSpec

Runtime = Literal["triton", "vllm"]
PORT_NAME = "http"
SCRATCH_MOUNTS = {"tmp": "/tmp", "cache": "/cache", "dshm": "/dev/shm"}
"""Writable emptyDirs under a read-only root filesystem: scratch, model cache, NCCL shared memory."""
CPU_PER_GPU = 2
MEMORY_GIB_PER_GPU = 12
SHM_GIB_PER_GPU = 2
STARTUP_BUDGET_SECONDS = 1200
"""Loading large weights from S3 takes minutes; liveness only starts once startup has passed."""


def runtime_of(container: ContainerImage) -> Runtime:
    """Triton or vLLM, from the container's repository; ValueError for anything else."""
    name = container.repository.rsplit("/", 1)[-1]
    if name.startswith("tritonserver"):
        return "triton"
    if name.startswith("vllm"):
        return "vllm"
    raise ComponentError(f"container {container.id!r} ({container.repository}) is neither Triton nor vLLM")


def server_command(runtime: Runtime, model_uri: str, port: int, gpus: int) -> tuple[list[str], list[str]]:
    """(command, args) that serve ``model_uri`` on ``port``; an empty command keeps the entrypoint."""
    if runtime == "triton":
        return ["tritonserver"], [
            f"--model-repository={model_uri}",
            f"--http-port={port}",
            "--allow-grpc=false",
            "--allow-metrics=true",
            "--model-control-mode=none",
        ]
    return [], [
        "--model",
        model_uri,
        # The Run:ai streamer reads safetensors straight from S3 with the pod's IRSA credentials.
        "--load-format",
        "runai_streamer",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--tensor-parallel-size",
        str(gpus),
        "--download-dir",
        SCRATCH_MOUNTS["cache"],
    ]


@dataclass(frozen=True)
class Probes:
    """The three probes of a model server."""

    startup: k8s.core.v1.ProbeArgs
    readiness: k8s.core.v1.ProbeArgs
    liveness: k8s.core.v1.ProbeArgs


def probes(runtime: Runtime) -> Probes:
    """Triton: /v2/health/ready and /v2/health/live; vLLM: /health for both."""
    ready, live = ("/v2/health/ready", "/v2/health/live") if runtime == "triton" else ("/health", "/health")

    def get(path: str, period_seconds: int, failure_threshold: int) -> k8s.core.v1.ProbeArgs:
        return k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=PORT_NAME),
            timeout_seconds=5,
            period_seconds=period_seconds,
            failure_threshold=failure_threshold,
        )

    return Probes(
        startup=get(ready, period_seconds=10, failure_threshold=STARTUP_BUDGET_SECONDS // 10),
        readiness=get(ready, period_seconds=10, failure_threshold=3),
        liveness=get(live, period_seconds=20, failure_threshold=3),
    )


def replica_resources(gpus: int) -> k8s.core.v1.ResourceRequirementsArgs:
    """GPU requests = limits (extended resources cannot overcommit); memory requests = limits so
    the scheduler's view is what the pod may use; CPU may burst to twice its request."""
    memory = f"{MEMORY_GIB_PER_GPU * gpus}Gi"
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={GPU_RESOURCE: str(gpus), "cpu": str(CPU_PER_GPU * gpus), "memory": memory},
        limits={GPU_RESOURCE: str(gpus), "cpu": str(2 * CPU_PER_GPU * gpus), "memory": memory},
    )


def gpu_tolerations() -> list[k8s.core.v1.TolerationArgs]:
    """Tolerate the GPU pools' taint (components/scheduling.py), and nothing else."""
    return [
        k8s.core.v1.TolerationArgs(
            key=GPU_TAINT_KEY, operator="Equal", value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT
        )
    ]


def pool_selector(pool: str) -> dict[str, str]:
    """Node selector that pins replicas to their GPU pool's nodes."""
    return {LABEL_POOL: pool}


NON_ROOT_UID = 10001
"""The UID model servers run as when their image records no non-root user of its own (vLLM and
Triton default to root). Any non-zero UID works for them: everything they write (HOME, the Hugging
Face and model caches, /tmp, /dev/shm) is an emptyDir mounted below (``SCRATCH_MOUNTS``), and
``fsGroup`` makes those volumes group-writable. Above 10000, so it matches no user of the node or of
the image's /etc/passwd (Checkov CKV_K8S_40, "Containers should run as a high UID to avoid host
conflict")."""


def run_as_user(container: ContainerImage) -> int:
    """The pod's runAsUser: the catalog's recorded non-root user of the image, else ``NON_ROOT_UID``."""
    return container.user if container.user is not None else NON_ROOT_UID


def container_security() -> k8s.core.v1.SecurityContextArgs:
    """The restricted Pod Security Standard's container settings, non-root included."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def pod_security(container: ContainerImage) -> k8s.core.v1.PodSecurityContextArgs:
    """Non-root UID/GID from ``run_as_user``, writable volumes through fsGroup, RuntimeDefault seccomp."""
    uid = run_as_user(container)
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def scratch_volumes(gpus: int) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """emptyDirs for everything a server writes; /dev/shm in memory, sized for NCCL between GPUs."""
    volumes = [
        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="4Gi")),
        k8s.core.v1.VolumeArgs(
            name="cache", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="100Gi")
        ),
        k8s.core.v1.VolumeArgs(
            name="dshm",
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                medium="Memory", size_limit=f"{SHM_GIB_PER_GPU * gpus}Gi"
            ),
        ),
    ]
    mounts = [
        k8s.core.v1.VolumeMountArgs(name=name, mount_path=path) for name, path in SCRATCH_MOUNTS.items()
    ]
    return volumes, mounts


DYNAMODB_ENDPOINT_ENV = "AWS_ENDPOINT_URL_DYNAMODB"
"""The AWS SDKs' service-specific endpoint variable for DynamoDB, honoured by boto3/botocore (which
Feast's DynamoDB online store uses) and the other SDKs (AWS SDKs and Tools Reference Guide,
"Service-specific endpoints", https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html)."""


def server_env(dynamodb_endpoint_url: pulumi.Input[str] | None = None) -> list[k8s.core.v1.EnvVarArgs]:
    """Point home and caches at the writable scratch volumes (the root filesystem is read-only);
    with ``dynamodb_endpoint_url``, point the AWS SDK's DynamoDB client at it (the DynamoDB interface
    endpoint has no private DNS, so ``dynamodb.<region>.amazonaws.com`` does not reach it)."""
    env = [
        k8s.core.v1.EnvVarArgs(name="HOME", value=SCRATCH_MOUNTS["tmp"]),
        k8s.core.v1.EnvVarArgs(name="HF_HOME", value=f"{SCRATCH_MOUNTS['cache']}/huggingface"),
        k8s.core.v1.EnvVarArgs(name="XDG_CACHE_HOME", value=SCRATCH_MOUNTS["cache"]),
    ]
    if dynamodb_endpoint_url is not None:
        env.append(k8s.core.v1.EnvVarArgs(name=DYNAMODB_ENDPOINT_ENV, value=dynamodb_endpoint_url))
    return env


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace (since Kubernetes 1.22), so a policy can select one by name."""
CLUSTER_DNS = {"k8s-app": "kube-dns"}
"""The labels of CoreDNS's pods in kube-system on EKS (the EKS add-on keeps the upstream label)."""
HTTPS = 443


def egress_rules(
    vpc_cidr: str, extra_cidrs: Sequence[str], vpc_tcp_ports: Sequence[int] = ()
) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """DNS to the cluster's DNS pods; HTTPS to the VPC (its interface endpoints) and ``extra_cidrs``;
    with ``vpc_tcp_ports``, those TCP ports to the VPC (services in the private subnets, e.g. Redis)."""
    dns = k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={NAMESPACE_NAME_LABEL: "kube-system"}
                ),
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=CLUSTER_DNS),
            )
        ],
        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol=p, port=53) for p in ("UDP", "TCP")],
    )
    https = k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[
            k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
            for cidr in (vpc_cidr, *extra_cidrs)
        ],
        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=HTTPS)],
    )
    if not vpc_tcp_ports:
        return [dns, https]
    in_vpc = k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=vpc_cidr))],
        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in vpc_tcp_ports],
    )
    return [dns, https, in_vpc]


def ingress_rule(
    clients: Sequence[ServingClientSpec], port: int
) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    """The model's port, from the named clients' namespaces (and pods) only."""
    return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
        from_=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={NAMESPACE_NAME_LABEL: client.namespace}
                ),
                pod_selector=(
                    k8s.meta.v1.LabelSelectorArgs(match_labels=dict(client.pod_labels))
                    if client.pod_labels
                    else None
                ),
            )
            for client in clients
        ],
        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
    )
