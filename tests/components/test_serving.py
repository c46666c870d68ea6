"""Serving under the offline engine: Deployments, HPA, PDB, NetworkPolicy, IAM, kubernetes-validate."""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from components.scheduling import GPU_RESOURCE, GPU_TAINT_EFFECT, GPU_TAINT_KEY, LABEL_POOL
from components.serving import ServedModel, Serving, ServingArgs
from components.serving_specs import NON_ROOT_UID
from components.tags import Tagging
from images.catalog import load_catalog
from stacks.offline.engine import run_program
from stacks.offline.plan import Plan
from stacks.spec.model import ServedModelSpec, ServingClientSpec
from tests.oracles.kubernetes import validate

TRITON, VLLM = "tritonserver-25.08", "vllm-openai-v0.10.1.1"
VPC_CIDR, PARTNER_API = "10.20.0.0/16", "203.0.113.0/24"
CLIENTS = (
    ServingClientSpec(namespace="ingress-nginx", pod_labels={"app.kubernetes.io/name": "ingress-nginx"}),
    ServingClientSpec(namespace="apps"),
)


def program(runtime: str = "deployment", clients: tuple[ServingClientSpec, ...] = CLIENTS) -> Any:
    catalog = load_catalog()
    models = [
        ServedModelSpec(
            name="ranker", container=TRITON, pool="serve", model_path="ranker/v1", max_replicas=4
        ),
        ServedModelSpec(
            name="chat",
            container=VLLM,
            pool="serve",
            model_path="llm/v3",
            gpus_per_replica=2,
            uses_features=True,
        ),
    ]

    def run() -> None:
        bucket = aws.s3.Bucket("models", bucket="mlenv-test-models")
        Serving(
            "serving",
            ServingArgs(
                environment="test",
                tagging=Tagging(stack="test", owner="ml"),
                models=[ServedModel(m, catalog.container(m.container)) for m in models],
                models_bucket=bucket,
                kms_key=aws.kms.Key("key"),
                oidc_provider=aws.iam.OpenIdConnectProvider(
                    "oidc",
                    url="https://oidc.eks.us-east-1.amazonaws.com/id/X",
                    client_id_lists=["sts.amazonaws.com"],
                ),
                k8s_provider=k8s.Provider("k8s", kubeconfig="{}"),
                vpc_cidr=VPC_CIDR,
                clients=clients,
                egress_cidrs=(PARTNER_API,),
                runtime=runtime,
                feature_read_policy=aws.iam.Policy("fs-read", policy="{}"),
            ),
        )

    return run


@pytest.fixture(scope="module")
def plan() -> Plan:
    return run_program(program(), config={}, secret_keys=[], stack="test", region="us-east-1")


def deployment(plan: Plan, name: str) -> dict[str, Any]:
    found = [r for r in plan.of_type("kubernetes:apps/v1:Deployment") if r.inputs["metadata"]["name"] == name]
    return found[0].plain_inputs()


@pytest.mark.parametrize(
    ("name", "gpus", "ready"), [("ranker", 1, "/v2/health/ready"), ("chat", 2, "/health")]
)
def test_deployment_schedules_on_its_gpu_pool(plan: Plan, name: str, gpus: int, ready: str) -> None:
    pod = deployment(plan, name)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    resources = container["resources"]
    assert resources["requests"][GPU_RESOURCE] == resources["limits"][GPU_RESOURCE] == str(gpus)
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert pod["nodeSelector"] == {LABEL_POOL: "serve"}
    assert {"key": GPU_TAINT_KEY, "operator": "Equal", "value": "true", "effect": GPU_TAINT_EFFECT} in pod[
        "tolerations"
    ]
    assert container["readinessProbe"]["httpGet"]["path"] == ready
    assert container["livenessProbe"] and container["startupProbe"]
    assert "@sha256:" in container["image"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_images_are_the_catalog_digests(plan: Plan) -> None:
    catalog = load_catalog()
    assert deployment(plan, "ranker")["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        catalog.container(TRITON).digest
    )


def test_hpa_pdb_and_network_policies(plan: Plan) -> None:
    hpas = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in plan.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    }
    assert hpas["ranker"]["spec"]["maxReplicas"] == 4
    assert hpas["ranker"]["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ranker",
    }
    pdbs = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in plan.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    }
    assert pdbs["chat"]["spec"]["maxUnavailable"] == 1
    policies = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["ranker-ingress"]["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                },
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}},
            ],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]
    dns, https = policies["allow-dns-and-https-egress"]["egress"]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert {p["port"] for p in dns["ports"]} == {53}
    # HTTPS only to the VPC (its S3/STS interface endpoints) and what the spec names; never anywhere.
    assert https == {
        "to": [{"ipBlock": {"cidr": VPC_CIDR}}, {"ipBlock": {"cidr": PARTNER_API}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }


def test_without_clients_no_path_into_the_model_servers_is_opened(run_offline: Any) -> None:
    plan = run_offline(program(clients=()))
    names = {
        r.inputs["metadata"]["name"] for r in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    assert names == {"default-deny", "allow-dns-and-https-egress"}


@pytest.mark.parametrize("name", ["ranker", "chat"])
def test_model_servers_run_as_a_non_root_uid_with_writable_volumes(plan: Plan, name: str) -> None:
    pod = deployment(plan, name)["spec"]["template"]["spec"]
    # The catalog records no non-root user for Triton or vLLM (both default to root).
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == NON_ROOT_UID
    assert pod["securityContext"]["fsGroup"] == NON_ROOT_UID
    (container,) = pod["containers"]
    assert container["securityContext"]["runAsNonRoot"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/cache"} <= mounts
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HOME"] in mounts and env["HF_HOME"].startswith("/cache/")


def test_serving_namespace_enforces_restricted(plan: Plan) -> None:
    (namespace,) = plan.of_type("kubernetes:core/v1:Namespace")
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_serving_roles_read_only_their_model_prefixes(plan: Plan) -> None:
    documents = {
        r.name: json.loads(r.inputs["policy"]) for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
    }
    plain = documents["test-model-server-models"]["Statement"]
    assert plain[0]["Action"] == ["s3:GetObject"]
    assert plain[0]["Resource"] == ["arn:aws:s3:::mlenv-test-models/ranker/v1/*"]
    for statements in documents.values():
        for statement in statements["Statement"]:
            assert all("*" not in a for a in statement["Action"])
    attached = [r.name for r in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")]
    assert attached == ["test-model-server-features-features"]
    chat = deployment(plan, "chat")["spec"]["template"]["spec"]
    assert chat["serviceAccountName"] == "model-server-features"


def test_every_kubernetes_object_is_valid(plan: Plan) -> None:
    objects = [
        r for r in plan.resources if r.type.startswith("kubernetes:") and r.custom and "kind" in r.inputs
    ]
    assert len(objects) >= 10
    for resource in objects:
        validate(resource.plain_inputs())


def test_kserve_runtime_registers_inference_services(run_offline: Any) -> None:
    plan = run_offline(program(runtime="kserve"))
    assert not plan.of_type("kubernetes:apps/v1:Deployment")
    services = plan.of_type("kubernetes:serving.kserve.io/v1beta1:InferenceService")
    assert len(services) == 2
    predictor = services[0].plain_inputs()["spec"]["predictor"]
    assert predictor["nodeSelector"] == {LABEL_POOL: "serve"}
    assert "@sha256:" in predictor["containers"][0]["image"]


@pytest.mark.parametrize("name", ["ranker", "chat"])
def test_rollouts_keep_every_ready_replica_and_containers_are_unprivileged(plan: Plan, name: str) -> None:
    """GPU replicas are scarce and slow to start: a rollout adds one before it removes one."""
    spec = deployment(plan, name)["spec"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    (container,) = spec["template"]["spec"]["containers"]
    assert container["securityContext"]["privileged"] is False
