"""Every policy's fixtures: the happy path is a real plan; each other case changes one thing in it."""

from __future__ import annotations

import json

from policies import resource_types as T
from tests.policies.fixtures import DELETE, Case, both, cases, drop, opts, setv, unknown

B, BV, BE, BPAB = T.BUCKET, T.BUCKET_VERSIONING, T.BUCKET_ENCRYPTION, T.BUCKET_PUBLIC_ACCESS_BLOCK
MODELS = (B, "prod-models")
LOGS = (B, "prod-access-logs")
DEPLOY = (T.K8S_DEPLOYMENT, "prod-fraud-ranker")
CONTAINER = "spec.template.spec.containers.0"
POD = "spec.template.spec"
FOREIGN_IMAGE = "ghcr.io/example/server:1.0@sha256:" + "ab" * 32
UNPINNED_IMAGE = "nvcr.io/nvidia/tritonserver:25.08-py3"
NOT_IN_CATALOG = "nvcr.io/nvidia/tritonserver:25.08-py3@sha256:" + "cd" * 32


def _document(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


OPEN_STATEMENT = _document(
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
)
WILDCARD_STATEMENT = _document({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"})
STAR_RESOURCE = _document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
OPEN_TRUST = _document({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
UNSCOPED_WEB_IDENTITY = _document(
    {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/x"},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
)
NO_NON_ROOT = both(
    setv(*DEPLOY, f"{CONTAINER}.securityContext.runAsNonRoot", DELETE, id="a"),
    setv(*DEPLOY, f"{POD}.securityContext.runAsNonRoot", DELETE, id="b"),
    id="runAsNonRoot removed",
)
NP = T.K8S_NETWORK_POLICY
INGRESS = (NP, "prod-fraud-ranker-ingress")
EGRESS = (NP, "prod-serving-allow-egress")
DEFAULT_DENY = (NP, "prod-serving-default-deny")
KEY = (T.KMS_KEY, "prod-artifacts")
AWS_DEFAULT_KEY_POLICY = _document(
    {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
)
OPEN_KEY_POLICY = _document(
    {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
    }
)
FLOW_LOGS = (T.LOG_GROUP, "prod-flow-logs")

CASES: list[Case] = [
    # storage: buckets joined with settings
    *cases(
        "s3-versioning-enabled",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(BV, "prod-models", "versioningConfiguration.status", "Suspended", id="suspended", on=MODELS),
            drop(BV, "prod-models", id="no versioning resource", on=MODELS),
        ],
        missing=setv(BV, "prod-models", "versioningConfiguration", DELETE, id="no configuration", on=MODELS),
        unknown_=unknown(BV, "prod-models", "versioningConfiguration.status"),
    ),
    *cases(
        "s3-public-access-blocked",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(BPAB, "prod-models", flag, False, id=flag, on=MODELS)
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        ]
        + [drop(BPAB, "prod-models", id="no block", on=MODELS)],
        missing=setv(
            BPAB, "prod-datasets", "restrictPublicBuckets", DELETE, id="flag absent", on=(B, "prod-datasets")
        ),
        unknown_=unknown(BPAB, "prod-models", "blockPublicPolicy"),
    ),
    *cases(
        "s3-sse-kms",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(
                BE,
                "prod-models",
                "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm",
                "AES256",
                id="sse-s3",
                on=MODELS,
            ),
            drop(BE, "prod-models", id="no encryption resource", on=MODELS),
            setv(
                BE,
                "prod-datasets",
                "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId",
                DELETE,
                id="no key",
                on=(B, "prod-datasets"),
            ),
        ],
        missing=setv(BE, "prod-models", "rules", DELETE, id="no rules", on=MODELS),
        unknown_=unknown(BE, "prod-models", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"),
    ),
    *cases(
        "s3-tls-only",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(T.BUCKET_POLICY, "prod-models", "policy", OPEN_STATEMENT, id="no tls deny", on=MODELS),
            drop(T.BUCKET_POLICY, "prod-models", id="no bucket policy", on=MODELS),
        ],
        missing=setv(T.BUCKET_POLICY, "prod-models", "policy", DELETE, id="no document", on=MODELS),
        unknown_=unknown(T.BUCKET_POLICY, "prod-models", "policy"),
    ),
    *cases(
        "s3-object-lock-on-model-buckets",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(B, "prod-models", "objectLockEnabled", False, id="lock off"),
            drop(T.BUCKET_OBJECT_LOCK, "prod-models", id="no lock configuration", on=MODELS),
            setv(
                T.BUCKET_OBJECT_LOCK,
                "prod-models",
                "rule.defaultRetention",
                DELETE,
                id="no retention",
                on=MODELS,
            ),
        ],
        missing=setv(B, "prod-models", "objectLockEnabled", DELETE, id="lock unset"),
        unknown_=unknown(T.BUCKET_OBJECT_LOCK, "prod-models", "rule.defaultRetention.mode", on=MODELS),
    ),
    *cases(
        "s3-lifecycle-configured",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(
                T.BUCKET_LIFECYCLE,
                "prod-models",
                "rules.0.status",
                "Disabled",
                id="noncurrent rule disabled",
                on=MODELS,
            ),
            setv(
                T.BUCKET_LIFECYCLE,
                "prod-models",
                "rules.1",
                {"id": "x", "status": "Enabled", "filter": {"prefix": ""}},
                id="no multipart abort",
                on=MODELS,
            ),
            drop(T.BUCKET_LIFECYCLE, "prod-models", id="no lifecycle", on=MODELS),
        ],
        missing=setv(T.BUCKET_LIFECYCLE, "prod-models", "rules", DELETE, id="no rules", on=MODELS),
        unknown_=unknown(T.BUCKET_LIFECYCLE, "prod-models", "rules.0.status"),
    ),
    *cases(
        "s3-access-logging",
        "prod",
        extra_pass=("dev",),
        fails=[drop(T.BUCKET_LOGGING, "prod-models", id="no logging", on=MODELS)],
        missing=drop(T.BUCKET_LOGGING, "prod-datasets", id="datasets not logged", on=(B, "prod-datasets")),
        # The log bucket's id is unknown in a first preview; the join goes through the dependency.
        unknown_=unknown(T.BUCKET_LOGGING, "prod-models", "targetBucket"),
        unknown_expect="pass",
    ),
    *cases(
        "s3-acls-disabled",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(
                T.BUCKET_OWNERSHIP_CONTROLS,
                "prod-models",
                "rule.objectOwnership",
                "ObjectWriter",
                id="acls on",
                on=MODELS,
            ),
            drop(T.BUCKET_OWNERSHIP_CONTROLS, "prod-models", id="no ownership controls", on=MODELS),
        ],
        missing=setv(T.BUCKET_OWNERSHIP_CONTROLS, "prod-models", "rule", DELETE, id="no rule", on=MODELS),
        unknown_=unknown(T.BUCKET_OWNERSHIP_CONTROLS, "prod-models", "rule.objectOwnership"),
    ),
]

ECR = (T.ECR_REPOSITORY, "prod-serving")
TABLE = (T.DYNAMODB_TABLE, "prod-fs-customer_stats")
REDIS = (T.REDIS_REPLICATION_GROUP, "prod-fs-redis")
CLUSTER = (T.EKS_CLUSTER, "prod")
GPU_LT = (T.LAUNCH_TEMPLATE, "prod-training")
SYSTEM_LT = (T.LAUNCH_TEMPLATE, "prod-system")
GPU_NG = (T.EKS_NODE_GROUP, "prod-training")
TRAINING_NG = (T.EKS_NODE_GROUP, "prod-training")
TRAINING_LT = (T.LAUNCH_TEMPLATE, "prod-training")
RELEASE = (T.HELM_RELEASE, "prod-nvidia-device-plugin")
KARPENTER = (T.HELM_RELEASE, "prod-karpenter")
NODE_POOL = (T.KARPENTER_NODE_POOL, "prod-serving-nodepool")
NODE_CLASS = (T.KARPENTER_EC2_NODE_CLASS, "prod-al2023-nvidia-580-k8s1.33-20251020-ff7d4cc7")
US_EAST_1_AMI = "ami-f513894e2b89aa3a7"
"""The prod pools' image in us-east-1 (prod is in us-west-2)."""
IRSA_ROLE = (T.IAM_ROLE, "prod-fs-reader")
ATTACHMENT = (T.IAM_ROLE_POLICY_ATTACHMENT, "prod-system-node-AmazonEKSWorkerNodePolicy")
EXP_NP = (T.KARPENTER_NODE_POOL, "example-node-pool")
EXP_GPU_LIMIT = ("spec", "limits", "nvidia.com/gpu")
EXP_NS = (T.K8S_NAMESPACE, "example-namespace")
EXP_ROLE = (T.IAM_ROLE, "example-workload")
SERVING_NS = (T.K8S_NAMESPACE, "prod-serving")
PLUGIN_NS = (T.K8S_NAMESPACE, "prod-nvidia-device-plugin-ns")

CASES += [
    *cases(
        "ecr-immutable-tags",
        "prod",
        fails=[setv(*ECR, "imageTagMutability", "MUTABLE", id="mutable")],
        missing=setv(*ECR, "imageTagMutability", DELETE, id="unset (MUTABLE)"),
        unknown_=unknown(*ECR, "imageTagMutability"),
    ),
    *cases(
        "ecr-scan-on-push",
        "prod",
        fails=[setv(*ECR, "imageScanningConfiguration.scanOnPush", False, id="off")],
        missing=setv(*ECR, "imageScanningConfiguration", DELETE, id="unset"),
        unknown_=unknown(*ECR, "imageScanningConfiguration.scanOnPush"),
    ),
    *cases(
        "ecr-kms-encryption",
        "prod",
        fails=[
            setv(*ECR, "encryptionConfigurations.0.encryptionType", "AES256", id="aes256"),
            setv(*ECR, "encryptionConfigurations.0.kmsKey", DELETE, id="aws-managed key"),
        ],
        missing=setv(*ECR, "encryptionConfigurations", DELETE, id="unset"),
        unknown_=unknown(*ECR, "encryptionConfigurations.0.kmsKey"),
    ),
    *cases(
        "dynamodb-pitr",
        "prod",
        fails=[setv(*TABLE, "pointInTimeRecovery.enabled", False, id="off")],
        missing=setv(*TABLE, "pointInTimeRecovery", DELETE, id="unset"),
        unknown_=unknown(*TABLE, "pointInTimeRecovery.enabled"),
    ),
    *cases(
        "dynamodb-kms",
        "prod",
        fails=[
            setv(*TABLE, "serverSideEncryption.enabled", False, id="off"),
            setv(*TABLE, "serverSideEncryption.kmsKeyArn", DELETE, id="aws-owned key"),
        ],
        missing=setv(*TABLE, "serverSideEncryption", DELETE, id="unset"),
        unknown_=unknown(*TABLE, "serverSideEncryption.kmsKeyArn"),
    ),
    *cases(
        "redis-encrypted-with-auth",
        "redis",
        fails=[
            setv(*REDIS, "atRestEncryptionEnabled", False, id="at rest off"),
            setv(*REDIS, "transitEncryptionEnabled", False, id="in transit off"),
            setv(*REDIS, "authToken", DELETE, id="no auth"),
        ],
        missing=setv(*REDIS, "kmsKeyId", DELETE, id="no kms key"),
        unknown_=unknown(*REDIS, "transitEncryptionEnabled"),
    ),
    *cases(
        "no-public-principal",
        "prod",
        fails=[setv(T.BUCKET_POLICY, "prod-models", "policy", OPEN_STATEMENT, id="allow star")],
        missing=setv(T.BUCKET_POLICY, "prod-models", "policy", DELETE, id="no document"),
        unknown_=unknown(T.BUCKET_POLICY, "prod-models", "policy"),
    ),
    # compute
    *cases(
        "eks-private-endpoint",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*CLUSTER, "vpcConfig.endpointPrivateAccess", False, id="private off"),
            setv(*CLUSTER, "vpcConfig.endpointPublicAccess", True, id="public to all"),
            both(
                setv(*CLUSTER, "vpcConfig.endpointPublicAccess", True, id="a"),
                setv(*CLUSTER, "vpcConfig.publicAccessCidrs", ["0.0.0.0/0"], id="b"),
                id="public 0.0.0.0/0",
            ),
            both(
                setv(*CLUSTER, "vpcConfig.endpointPublicAccess", True, id="a"),
                setv(*CLUSTER, "vpcConfig.publicAccessCidrs", ["0.0.0.0/1", "128.0.0.0/1"], id="b"),
                id="public in two halves",
            ),
            both(
                setv(*CLUSTER, "vpcConfig.endpointPublicAccess", True, id="a"),
                setv(*CLUSTER, "vpcConfig.publicAccessCidrs", ["203.0.113.0/24", "::/0"], id="b"),
                id="public ::/0",
            ),
        ],
        missing=setv(*CLUSTER, "vpcConfig.endpointPublicAccess", DELETE, id="public unset (EKS default on)"),
        unknown_=unknown(*CLUSTER, "vpcConfig.endpointPrivateAccess"),
    ),
    *cases(
        "eks-secrets-encryption",
        "prod",
        fails=[
            setv(*CLUSTER, "encryptionConfig.resources", [], id="no secrets"),
            setv(*CLUSTER, "encryptionConfig.provider.keyArn", DELETE, id="no key"),
        ],
        missing=setv(*CLUSTER, "encryptionConfig", DELETE, id="unset"),
        unknown_=unknown(*CLUSTER, "encryptionConfig.provider.keyArn"),
    ),
    *cases(
        "eks-control-plane-logs",
        "prod",
        fails=[setv(*CLUSTER, "enabledClusterLogTypes", ["api", "authenticator"], id="no audit")],
        missing=setv(*CLUSTER, "enabledClusterLogTypes", DELETE, id="unset"),
        unknown_=unknown(*CLUSTER, "enabledClusterLogTypes"),
    ),
    *cases(
        "eks-supported-version",
        "prod",
        extra_pass=("dev",),
        fails=[setv(*CLUSTER, "version", "1.27", id="1.27")],
        missing=setv(*CLUSTER, "version", DELETE, id="unset"),
        unknown_=unknown(*CLUSTER, "version"),
    ),
    *cases(
        "launch-template-imdsv2",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            setv(*GPU_LT, "metadataOptions.httpTokens", "optional", id="imdsv1 allowed"),
            setv(*GPU_LT, "metadataOptions.httpPutResponseHopLimit", 2, id="hop limit 2"),
        ],
        missing=setv(*SYSTEM_LT, "metadataOptions", DELETE, id="unset"),
        unknown_=unknown(*GPU_LT, "metadataOptions.httpTokens"),
    ),
    *cases(
        "launch-template-encrypted-volumes",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[setv(*GPU_LT, "blockDeviceMappings.0.ebs.encrypted", "false", id="unencrypted")],
        missing=setv(*SYSTEM_LT, "blockDeviceMappings", DELETE, id="no root volume declared"),
        unknown_=unknown(*GPU_LT, "blockDeviceMappings.0.ebs.encrypted"),
    ),
    *cases(
        "no-remote-access-to-nodes",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            setv(*GPU_NG, "remoteAccess", {"ec2SshKey": "ops"}, id="node group ssh"),
            setv(*GPU_LT, "keyName", "ops", id="launch template key"),
            setv(*ATTACHMENT, "policyArn", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", id="ssm"),
        ],
        missing=setv(*GPU_NG, "remoteAccess", {}, id="empty remote access block"),
        unknown_=unknown(*GPU_LT, "keyName"),
    ),
    *cases(
        "node-group-launch-template-pinned",
        "prod",
        extra_pass=("experiment",),
        fails=[setv(*GPU_NG, "launchTemplate.version", "$Latest", id="latest")],
        missing=setv(*GPU_NG, "launchTemplate.version", DELETE, id="unset (default version)"),
        unknown_=unknown(*GPU_NG, "launchTemplate.version"),
    ),
    *cases(
        "no-wildcard-iam",
        "prod",
        extra_pass=("experiment",),
        fails=[
            setv(T.IAM_ROLE_POLICY, "prod-model-server-models", "policy", WILDCARD_STATEMENT, id="s3:*"),
            setv(T.IAM_ROLE_POLICY, "prod-model-server-models", "policy", STAR_RESOURCE, id="resource *"),
            setv(T.IAM_POLICY, "prod-fs-reader", "policy", WILDCARD_STATEMENT, id="managed policy s3:*"),
        ],
        missing=setv(
            T.IAM_ROLE_POLICY, "prod-model-server-models", "policy", "not json", id="not a document"
        ),
        unknown_=unknown(T.IAM_POLICY, "prod-fs-writer", "policy"),
    ),
    *cases(
        "iam-trust-scoped",
        "prod",
        extra_pass=("experiment",),
        fails=[
            setv(*IRSA_ROLE, "assumeRolePolicy", OPEN_TRUST, id="any principal"),
            setv(*IRSA_ROLE, "assumeRolePolicy", UNSCOPED_WEB_IDENTITY, id="any subject"),
        ],
        missing=setv(*IRSA_ROLE, "assumeRolePolicy", DELETE, id="unset"),
        unknown_=unknown(*IRSA_ROLE, "assumeRolePolicy"),
    ),
    *cases(
        "no-broad-managed-policies",
        "prod",
        fails=[setv(*ATTACHMENT, "policyArn", "arn:aws:iam::aws:policy/AdministratorAccess", id="admin")],
        missing=setv(*ATTACHMENT, "policyArn", DELETE, id="no policy arn"),
        missing_expect="not-applicable",
        unknown_=unknown(*ATTACHMENT, "policyArn"),
    ),
]

OTHER_AMI = "ami-0123456789abcdef0"
DEV_AMI_IN_PROD = "ami-f513894e2b89aa3a7"  # the same image's us-east-1 AMI, in a us-west-2 stack
OLD_IMAGE_AMI = "ami-7bef7b68af67c8dc0"  # al2023-nvidia-535 (CUDA 12.2, k8s 1.30) in us-west-2

CASES += [
    # GPU pools and images
    *cases(
        "ami-from-catalog",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            setv(*GPU_LT, "imageId", OTHER_AMI, id="not in catalog"),
            setv(*GPU_LT, "imageId", DEV_AMI_IN_PROD, id="another region's AMI"),
        ],
        missing=setv(*GPU_LT, "imageId", DELETE, id="no AMI"),
        missing_expect="not-applicable",
        unknown_=unknown(*GPU_LT, "imageId"),
    ),
    *cases(
        "gpu-pools-on-catalog-images",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            setv(*GPU_NG, "amiType", "AL2023_x86_64_NVIDIA", id="eks gpu ami"),
            setv(*GPU_LT, "imageId", OTHER_AMI, id="launch template off-catalog", on=GPU_NG),
        ],
        missing=setv(*GPU_NG, "amiType", DELETE, id="no ami type"),
        unknown_=unknown(*GPU_LT, "imageId", on=GPU_NG),
    ),
    *cases(
        "gpu-instance-types-allowed",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[setv(*GPU_NG, "instanceTypes", ["g4dn.xlarge"], id="g4dn")],
        missing=setv(*GPU_NG, "instanceTypes", DELETE, id="no instance types"),
        missing_expect="not-applicable",
        unknown_=unknown(*GPU_NG, "instanceTypes"),
    ),
    *cases(
        "gpu-pools-tainted",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            setv(*GPU_NG, "taints.0.effect", "PREFER_NO_SCHEDULE", id="prefer"),
            setv(*GPU_NG, "taints.0.key", "gpu", id="other key"),
        ],
        missing=setv(*GPU_NG, "taints", DELETE, id="untainted"),
        unknown_=unknown(*GPU_NG, "taints"),
    ),
    *cases(
        "gpu-image-compatible",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            setv(*GPU_LT, "imageId", OLD_IMAGE_AMI, id="driver 535 for CUDA 13 containers", on=GPU_NG),
            setv(*CLUSTER, "version", "1.32", id="kubelet skew", on=GPU_NG),
            setv(*GPU_NG, "instanceTypes", ["p3dn.24xlarge"], id="V100 on CUDA 13"),
        ],
        missing=setv(*GPU_LT, "imageId", DELETE, id="no AMI", on=GPU_NG),
        missing_reported_by="gpu-pools-on-catalog-images",
        unknown_=unknown(*GPU_LT, "imageId", on=GPU_NG),
    ),
    *cases(
        "efa-pools-colocated",
        "prod",
        fails=[
            setv(*TRAINING_NG, "subnetIds", ["subnet-a", "subnet-b"], id="two subnets"),
            drop(T.PLACEMENT_GROUP, "prod-training", id="no placement group", on=TRAINING_NG),
            setv(T.PLACEMENT_GROUP, "prod-training", "strategy", "spread", id="spread", on=TRAINING_NG),
        ],
        missing=setv(*TRAINING_LT, "networkInterfaces", DELETE, id="no efa interfaces"),
        missing_expect="not-applicable",
        unknown_=unknown(*TRAINING_NG, "subnetIds"),
    ),
    *cases(
        "images-pinned-by-digest",
        "prod",
        fails=[
            setv(*DEPLOY, f"{CONTAINER}.image", UNPINNED_IMAGE, id="tag only"),
            setv(*RELEASE, "values.image.tag", "v0.17.4", id="chart image by tag"),
        ],
        missing=setv(*RELEASE, "values.image", DELETE, id="chart default image"),
        missing_expect="not-applicable",
        unknown_=unknown(*DEPLOY, f"{CONTAINER}.image"),
    ),
    *cases(
        "images-approved-in-catalog",
        "prod",
        fails=[
            setv(*DEPLOY, f"{CONTAINER}.image", NOT_IN_CATALOG, id="other digest"),
            setv(*RELEASE, "values.image.repository", "ghcr.io/example/plugin", id="chart image elsewhere"),
        ],
        missing=setv(*DEPLOY, f"{POD}.containers", DELETE, id="no containers"),
        missing_expect="not-applicable",
        unknown_=unknown(*RELEASE, "values.image.tag"),
    ),
    *cases(
        "images-from-approved-registries",
        "prod",
        fails=[setv(*DEPLOY, f"{CONTAINER}.image", FOREIGN_IMAGE, id="ghcr.io")],
        missing=setv(*DEPLOY, f"{POD}.containers", DELETE, id="no containers"),
        missing_expect="not-applicable",
        unknown_=unknown(*DEPLOY, f"{CONTAINER}.image"),
    ),
    *cases(
        "gpu-workloads-set-limits",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*DEPLOY, f"{CONTAINER}.resources.limits", {"cpu": "4"}, id="request without limit"),
            setv(*DEPLOY, f"{CONTAINER}.resources", {"limits": {"cpu": "4"}}, id="tolerates taint, no gpus"),
        ],
        missing=setv(*DEPLOY, f"{CONTAINER}.resources", DELETE, id="no resources"),
        unknown_=unknown(*DEPLOY, f"{CONTAINER}.resources.limits"),
    ),
    *cases(
        "gpu-workloads-match-a-pool",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*DEPLOY, (*POD.split("."), "nodeSelector", "mlenv.io/pool"), "training2", id="unknown pool"),
            setv(*DEPLOY, f"{POD}.tolerations", [], id="no toleration"),
            setv(
                *DEPLOY,
                (*CONTAINER.split("."), "resources", "limits", "nvidia.com/gpu"),
                "4",
                id="more gpus than a node",
            ),
        ],
        missing=setv(*DEPLOY, f"{POD}.nodeSelector", DELETE, id="no node selector"),
        unknown_=unknown(*DEPLOY, f"{POD}.nodeSelector"),
    ),
    *cases(
        "workload-cuda-compatible",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(
                *NODE_CLASS,
                "spec.amiSelectorTerms",
                [{"id": "ami-d9d74de92da709e8b"}],
                id="driver 570 under CUDA 13 container",
                on=DEPLOY,
            )
        ],
        missing=setv(*NODE_CLASS, "spec.amiSelectorTerms", DELETE, id="pool without catalog image"),
        missing_reported_by="node-class-ami-pinned",
        unknown_=unknown(*DEPLOY, f"{CONTAINER}.image"),
    ),
]

IN_A_WEEK = "2099-01-01T00:00:00Z"
PASSED = "2020-01-01T00:00:00Z"
EXP_TAGS = ("tags", "mlenv:expires-at")
EXP_ANNOTATION = ("metadata", "annotations", "mlenv.io/expires-at")

CASES += [
    # drift
    *cases(
        "mlenv-tags-present",
        "prod",
        extra_pass=("dev", "experiment", "redis"),
        fails=[
            setv(*ECR, ("tags", "mlenv:owner"), DELETE, id="no owner"),
            setv(*ECR, ("tags", "mlenv:managed-by"), "console", id="managed elsewhere"),
            setv(*GPU_LT, "tagSpecifications", [], id="instances untagged"),
        ],
        missing=setv(*ECR, "tags", DELETE, id="no tags"),
        unknown_=unknown(*ECR, ("tags", "mlenv:stack")),
    ),
    *cases(
        "mlenv-labels-present",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[setv(*SERVING_NS, ("metadata", "labels", "mlenv.io/owner"), DELETE, id="no owner label")],
        missing=setv(*DEPLOY, "metadata.labels", DELETE, id="no labels"),
        unknown_=unknown(*DEPLOY, "metadata.labels"),
    ),
    *cases(
        "ignore-changes-allow-list",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            opts(
                *GPU_NG,
                ignore_changes=["scalingConfig.desiredSize", "launchTemplate"],
                id="launch template ignored",
            ),
            opts(*MODELS, ignore_changes=["tags"], id="bucket tags ignored"),
            opts(*GPU_NG, ignore_changes=["scalingConfig.desiredSize"], id="desired size without autoscaler"),
        ],
        missing=opts(*CLUSTER, ignore_changes=["version"], id="cluster version ignored"),
        unknown_=unknown(*GPU_NG, "scalingConfig.desiredSize"),
        unknown_expect="pass",
    ),
    *cases(
        "stateful-resources-protected",
        "prod",
        extra_pass=("dev", "redis"),
        fails=[
            opts(*MODELS, protect=False, id="bucket unprotected"),
            opts(T.KMS_KEY, "prod-eks-secrets", protect=False, id="secrets key unprotected"),
            opts(*TABLE, protect=False, id="table unprotected"),
        ],
        # An untagged bucket is still in a platform stack (the stricter default).
        missing=both(
            setv(*MODELS, "tags", DELETE, id="a"), opts(*MODELS, protect=False, id="b"), id="untagged"
        ),
        unknown_=unknown(*MODELS, ("tags", "mlenv:experiment")),
    ),
    *cases(
        "platform-deletion-protection",
        "prod",
        extra_pass=("dev", "redis"),
        fails=[
            setv(*CLUSTER, "deletionProtection", False, id="cluster"),
            setv(*TABLE, "deletionProtectionEnabled", False, id="table"),
        ],
        missing=setv(*TABLE, "deletionProtectionEnabled", DELETE, id="unset"),
        unknown_=unknown(*CLUSTER, "deletionProtection"),
    ),
    *cases(
        "no-force-destroy-outside-experiments",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*MODELS, "forceDestroy", True, id="bucket"),
            setv(*ECR, "forceDelete", True, id="repository"),
            setv(T.ATHENA_WORKGROUP, "prod-fs-fraud", "forceDestroy", True, id="workgroup"),
        ],
        missing=setv(*MODELS, "forceDestroy", "true", id="stringly true"),
        unknown_=unknown(*MODELS, "forceDestroy"),
    ),
    *cases(
        "helm-charts-pinned",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*RELEASE, "version", "0.18.0", id="other version"),
            setv(*RELEASE, "repositoryOpts.repo", "https://example.com/charts", id="other repository"),
            setv(*RELEASE, "chart", "gpu-operator", id="uncatalogued chart"),
        ],
        missing=setv(*RELEASE, "version", DELETE, id="no version (latest)"),
        unknown_=unknown(*RELEASE, "version"),
    ),
    # kubernetes pod security
    *cases(
        "pods-not-privileged",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*DEPLOY, f"{CONTAINER}.securityContext.privileged", True, id="privileged"),
            setv(*DEPLOY, f"{CONTAINER}.securityContext.allowPrivilegeEscalation", True, id="escalation"),
        ],
        missing=setv(*DEPLOY, f"{CONTAINER}.securityContext", DELETE, id="no security context"),
        unknown_=unknown(*DEPLOY, f"{CONTAINER}.securityContext.allowPrivilegeEscalation"),
    ),
    *cases(
        "pods-run-as-non-root",
        "prod",
        extra_pass=("dev",),
        fails=[
            NO_NON_ROOT,
            setv(*DEPLOY, f"{CONTAINER}.securityContext.runAsUser", 0, id="uid 0"),
            both(
                setv(*DEPLOY, f"{CONTAINER}.image", FOREIGN_IMAGE, id="a"),
                setv(*DEPLOY, f"{POD}.securityContext.runAsUser", 0, id="b"),
                id="uid 0 with a non-catalog image",
            ),
        ],
        missing=both(
            setv(*DEPLOY, f"{CONTAINER}.securityContext.runAsNonRoot", DELETE, id="a"),
            setv(*DEPLOY, f"{POD}.securityContext", DELETE, id="b"),
            id="no pod context",
        ),
        unknown_=unknown(*DEPLOY, f"{CONTAINER}.image"),
    ),
    *cases(
        "pods-drop-all-capabilities",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*DEPLOY, f"{CONTAINER}.securityContext.capabilities.drop", ["NET_RAW"], id="not all"),
            setv(
                *DEPLOY, f"{CONTAINER}.securityContext.capabilities.add", ["SYS_ADMIN"], id="adds sys_admin"
            ),
        ],
        missing=setv(*DEPLOY, f"{CONTAINER}.securityContext.capabilities", DELETE, id="no capabilities"),
        unknown_=unknown(*DEPLOY, f"{CONTAINER}.securityContext.capabilities.drop"),
    ),
    *cases(
        "pods-seccomp-runtime-default",
        "prod",
        extra_pass=("dev",),
        fails=[
            both(
                setv(*DEPLOY, f"{CONTAINER}.securityContext.seccompProfile.type", "Unconfined", id="a"),
                setv(*DEPLOY, f"{POD}.securityContext.seccompProfile.type", "Unconfined", id="b"),
                id="unconfined",
            )
        ],
        missing=both(
            setv(*DEPLOY, f"{CONTAINER}.securityContext.seccompProfile", DELETE, id="a"),
            setv(*DEPLOY, f"{POD}.securityContext", DELETE, id="b"),
            id="no profile",
        ),
        unknown_=unknown(*DEPLOY, f"{CONTAINER}.securityContext.seccompProfile.type"),
    ),
    *cases(
        "pods-no-host-namespaces",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*DEPLOY, f"{POD}.hostNetwork", True, id="host network"),
            setv(*DEPLOY, f"{POD}.volumes.0", {"name": "tmp", "hostPath": {"path": "/"}}, id="host path"),
            setv(*DEPLOY, f"{CONTAINER}.ports.0.hostPort", 8000, id="host port"),
            setv(*DEPLOY, f"{POD}.hostPID", True, id="host pid"),
        ],
        missing=setv(*DEPLOY, POD, DELETE, id="no pod spec"),
        missing_expect="not-applicable",
        unknown_=unknown(*DEPLOY, f"{POD}.hostNetwork"),
    ),
    *cases(
        "namespace-pod-security",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            setv(
                *RELEASE,
                "namespace",
                "kube-system",
                id="privileged namespace without its plugin",
                on=PLUGIN_NS,
            ),
            setv(
                *SERVING_NS,
                ("metadata", "labels", "pod-security.kubernetes.io/enforce"),
                "baseline",
                id="serving enforces baseline",
            ),
        ],
        missing=setv(
            *SERVING_NS,
            ("metadata", "labels", "pod-security.kubernetes.io/enforce"),
            DELETE,
            id="no enforce label",
        ),
        unknown_=unknown(*SERVING_NS, ("metadata", "labels", "pod-security.kubernetes.io/enforce")),
    ),
    Case(
        "namespace-pod-security",
        "fail",
        "experiment",
        setv(
            *EXP_NS,
            ("metadata", "labels", "pod-security.kubernetes.io/enforce"),
            "baseline",
            id="experiment enforces baseline",
        ),
    ),
    # keys and logs
    *cases(
        "kms-keys-have-key-policy",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*KEY, "policy", AWS_DEFAULT_KEY_POLICY, id="aws default policy"),
            setv(*KEY, "policy", OPEN_KEY_POLICY, id="principal *"),
            setv(*KEY, "policy", "not json", id="not a document"),
        ],
        missing=setv(*KEY, "policy", DELETE, id="no key policy"),
        unknown_=unknown(*KEY, "policy"),
    ),
    *cases(
        "log-groups-encrypted-and-retained",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*FLOW_LOGS, "retentionInDays", 30, id="30 days"),
            setv(*FLOW_LOGS, "retentionInDays", 60, id="60 days"),
        ],
        missing=setv(*FLOW_LOGS, "kmsKeyId", DELETE, id="no customer key"),
        unknown_=unknown(*FLOW_LOGS, "retentionInDays"),
    ),
    # network policies
    *cases(
        "network-policies-narrow",
        "prod",
        extra_pass=("dev", "experiment"),
        fails=[
            setv(*EGRESS, "spec.egress.1.to.0.ipBlock.cidr", "0.0.0.0/0", id="egress anywhere"),
            setv(*EGRESS, "spec.egress.1.to", [], id="egress without peers"),
            setv(*INGRESS, "spec.ingress.0.from.0.namespaceSelector", {}, id="every namespace"),
            setv(*INGRESS, "spec.ingress.0.from.0", {}, id="empty peer"),
        ],
        missing=setv(*INGRESS, "spec.ingress.0.from", DELETE, id="ingress from anywhere"),
        unknown_=unknown(*INGRESS, "spec.ingress"),
    ),
    *cases(
        "namespaces-default-deny",
        "prod",
        extra_pass=("dev",),
        fails=[
            drop(*DEFAULT_DENY, id="no default deny", on=SERVING_NS),
            setv(
                *DEFAULT_DENY,
                "spec.podSelector",
                {"matchLabels": {"a": "b"}},
                id="not every pod",
                on=SERVING_NS,
            ),
            setv(*DEFAULT_DENY, "spec.ingress", [{}], id="allows all ingress", on=SERVING_NS),
        ],
        missing=setv(*DEFAULT_DENY, "spec.policyTypes", DELETE, id="no policy types", on=SERVING_NS),
        unknown_=unknown(*DEFAULT_DENY, "spec.podSelector", on=SERVING_NS),
    ),
    # experiments
    *cases(
        "experiment-expiry",
        "experiment",
        fails=[
            setv(*EXP_ROLE, EXP_TAGS, IN_A_WEEK, id="beyond max ttl"),
            setv(*EXP_ROLE, EXP_TAGS, PASSED, id="passed"),
            setv(*EXP_NS, EXP_ANNOTATION, "tomorrow", id="not a date"),
        ],
        missing=setv(*EXP_ROLE, EXP_TAGS, DELETE, id="no expiry tag"),
        unknown_=unknown(*EXP_ROLE, EXP_TAGS),
    ),
    *cases(
        "experiment-gpu-cap",
        "experiment",
        fails=[
            setv(*EXP_NP, EXP_GPU_LIMIT, "12", id="pool limit 12"),
            setv(
                T.K8S_RESOURCE_QUOTA,
                "example-quota",
                ("spec", "hard", "requests.nvidia.com/gpu"),
                "16",
                id="quota 16",
            ),
        ],
        missing=setv(*EXP_NP, EXP_GPU_LIMIT, DELETE, id="no gpu limit"),
        unknown_=unknown(*EXP_NP, EXP_GPU_LIMIT),
    ),
    # Karpenter: elastic GPU pools and the controller
    *cases(
        "node-class-ami-pinned",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*NODE_CLASS, "spec.amiSelectorTerms", [{"alias": "al2023@latest"}], id="ami alias"),
            setv(*NODE_CLASS, "spec.amiSelectorTerms", [{"tags": {"mlenv:image": "gpu"}}], id="ami by tag"),
            setv(
                *NODE_CLASS, "spec.amiSelectorTerms", [{"id": "ami-0123456789abcdef0"}], id="not in catalog"
            ),
            setv(*NODE_CLASS, "spec.amiSelectorTerms", [{"id": US_EAST_1_AMI}], id="another region's ami"),
        ],
        missing=setv(*NODE_CLASS, "spec.amiSelectorTerms", DELETE, id="no ami selector"),
        unknown_=unknown(*NODE_CLASS, "spec.amiSelectorTerms"),
    ),
    *cases(
        "node-class-imdsv2",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*NODE_CLASS, "spec.metadataOptions.httpPutResponseHopLimit", 2, id="hop limit 2"),
            setv(*NODE_CLASS, "spec.metadataOptions.httpTokens", "optional", id="imdsv1 allowed"),
        ],
        missing=setv(*NODE_CLASS, "spec.metadataOptions", DELETE, id="no metadata options"),
        unknown_=unknown(*NODE_CLASS, "spec.metadataOptions.httpTokens"),
    ),
    *cases(
        "node-class-volumes-encrypted",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*NODE_CLASS, "spec.blockDeviceMappings.0.ebs.encrypted", False, id="unencrypted root"),
            setv(*NODE_CLASS, "spec.blockDeviceMappings.0.rootVolume", False, id="no root volume"),
        ],
        missing=setv(*NODE_CLASS, "spec.blockDeviceMappings", DELETE, id="no block devices"),
        unknown_=unknown(*NODE_CLASS, "spec.blockDeviceMappings"),
    ),
    *cases(
        "node-pool-gpu-limit",
        "prod",
        extra_pass=("dev",),
        fails=[setv(*NODE_POOL, ("spec", "limits", "nvidia.com/gpu"), "0", id="zero gpus")],
        missing=setv(*NODE_POOL, "spec.limits", DELETE, id="no limits"),
        unknown_=unknown(*NODE_POOL, "spec.limits"),
    ),
    *cases(
        "node-pool-gpu-taint",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*NODE_POOL, "spec.template.spec.taints.0.effect", "PreferNoSchedule", id="prefer only"),
            setv(*NODE_POOL, "spec.template.spec.taints", [], id="no taint"),
        ],
        missing=setv(*NODE_POOL, "spec.template.spec.taints", DELETE, id="taints absent"),
        unknown_=unknown(*NODE_POOL, "spec.template.spec.taints"),
    ),
    *cases(
        "serving-pool-budgets",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(
                *NODE_POOL,
                "spec.disruption.budgets",
                [{"nodes": "0", "schedule": "0 13 * * mon-fri", "duration": "10h"}],
                id="only a window",
            ),
            setv(*NODE_POOL, "spec.disruption.budgets", [{"nodes": "100%"}], id="everything at once"),
        ],
        missing=setv(*NODE_POOL, "spec.disruption.budgets", DELETE, id="no budgets"),
        unknown_=unknown(*NODE_POOL, "spec.disruption.budgets"),
    ),
    *cases(
        "karpenter-image-pinned",
        "prod",
        extra_pass=("dev",),
        fails=[
            setv(*KARPENTER, "values.controller.image.digest", "sha256:" + "ab" * 32, id="other digest"),
            setv(*KARPENTER, "values.controller.image.repository", "example.com/karpenter", id="other repo"),
        ],
        missing=setv(*KARPENTER, "values.controller.image.digest", DELETE, id="tag only"),
        unknown_=unknown(*KARPENTER, "values.controller.image"),
    ),
]
