"""Every resource type token the pack looks at, in one place.

Tokens are the ones pulumi-aws v7 and pulumi-kubernetes v4 register (read them in a plan:
``mlenv plan prod --json``). A policy names the types it applies to from here, never inline.
"""

from __future__ import annotations

from typing import Final

# S3: pulumi-aws v7 splits a bucket's settings into separate resources.
BUCKET: Final = "aws:s3/bucket:Bucket"
BUCKET_VERSIONING: Final = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_ENCRYPTION: Final = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_PUBLIC_ACCESS_BLOCK: Final = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_OWNERSHIP_CONTROLS: Final = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_OBJECT_LOCK: Final = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
BUCKET_LIFECYCLE: Final = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_LOGGING: Final = "aws:s3/bucketLogging:BucketLogging"
BUCKET_POLICY: Final = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACL: Final = "aws:s3/bucketAcl:BucketAcl"

ECR_REPOSITORY: Final = "aws:ecr/repository:Repository"
ECR_REPOSITORY_POLICY: Final = "aws:ecr/repositoryPolicy:RepositoryPolicy"
DYNAMODB_TABLE: Final = "aws:dynamodb/table:Table"
REDIS_REPLICATION_GROUP: Final = "aws:elasticache/replicationGroup:ReplicationGroup"
KMS_KEY: Final = "aws:kms/key:Key"
LOG_GROUP: Final = "aws:cloudwatch/logGroup:LogGroup"
GLUE_CATALOG_DATABASE: Final = "aws:glue/catalogDatabase:CatalogDatabase"
ATHENA_WORKGROUP: Final = "aws:athena/workgroup:Workgroup"

EKS_CLUSTER: Final = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP: Final = "aws:eks/nodeGroup:NodeGroup"
KARPENTER_NODE_POOL: Final = "kubernetes:karpenter.sh/v1:NodePool"
LAUNCH_TEMPLATE: Final = "aws:ec2/launchTemplate:LaunchTemplate"
PLACEMENT_GROUP: Final = "aws:ec2/placementGroup:PlacementGroup"
EC2_INSTANCE: Final = "aws:ec2/instance:Instance"

IAM_ROLE: Final = "aws:iam/role:Role"
IAM_ROLE_POLICY: Final = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY: Final = "aws:iam/policy:Policy"
IAM_USER_POLICY: Final = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY: Final = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE_POLICY_ATTACHMENT: Final = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT: Final = "aws:iam/policyAttachment:PolicyAttachment"
IAM_USER_POLICY_ATTACHMENT: Final = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_GROUP_POLICY_ATTACHMENT: Final = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"

IAM_PERMISSION_DOCUMENTS: Final = {
    IAM_ROLE_POLICY: "policy",
    IAM_POLICY: "policy",
    IAM_USER_POLICY: "policy",
    IAM_GROUP_POLICY: "policy",
}
"""Types holding one IAM permission document, and the property that holds it."""
IAM_ATTACHMENTS: Final = frozenset(
    {
        IAM_ROLE_POLICY_ATTACHMENT,
        IAM_POLICY_ATTACHMENT,
        IAM_USER_POLICY_ATTACHMENT,
        IAM_GROUP_POLICY_ATTACHMENT,
    }
)

K8S_NAMESPACE: Final = "kubernetes:core/v1:Namespace"
K8S_NETWORK_POLICY: Final = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
K8S_POD: Final = "kubernetes:core/v1:Pod"
K8S_DEPLOYMENT: Final = "kubernetes:apps/v1:Deployment"
K8S_STATEFUL_SET: Final = "kubernetes:apps/v1:StatefulSet"
K8S_DAEMON_SET: Final = "kubernetes:apps/v1:DaemonSet"
K8S_REPLICA_SET: Final = "kubernetes:apps/v1:ReplicaSet"
K8S_JOB: Final = "kubernetes:batch/v1:Job"
K8S_CRON_JOB: Final = "kubernetes:batch/v1:CronJob"
K8S_RESOURCE_QUOTA: Final = "kubernetes:core/v1:ResourceQuota"
HELM_RELEASE: Final = "kubernetes:helm.sh/v3:Release"
KARPENTER_EC2_NODE_CLASS: Final = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
"""Karpenter's objects, as pulumi-kubernetes registers a CustomResource of their kind."""
AWS_PROVIDER: Final = "pulumi:providers:aws"
KSERVE_INFERENCE_SERVICE: Final = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
"""A KServe InferenceService, as pulumi-kubernetes registers a CustomResource of that kind."""

POD_SPEC_PATHS: Final = {
    K8S_POD: ("spec",),
    K8S_DEPLOYMENT: ("spec", "template", "spec"),
    K8S_STATEFUL_SET: ("spec", "template", "spec"),
    K8S_DAEMON_SET: ("spec", "template", "spec"),
    K8S_REPLICA_SET: ("spec", "template", "spec"),
    K8S_JOB: ("spec", "template", "spec"),
    K8S_CRON_JOB: ("spec", "jobTemplate", "spec", "template", "spec"),
    KSERVE_INFERENCE_SERVICE: ("spec", "predictor"),
}
"""Workload types and where their pod spec is (a KServe predictor carries pod-spec fields inline)."""
WORKLOADS: Final = frozenset(POD_SPEC_PATHS)

STATEFUL: Final = frozenset(
    {BUCKET, KMS_KEY, ECR_REPOSITORY, DYNAMODB_TABLE, REDIS_REPLICATION_GROUP, GLUE_CATALOG_DATABASE}
)
"""Resources that hold data (or the key to it): deleting one loses what it holds."""

FORCE_DESTROY_FLAGS: Final = {
    BUCKET: "forceDestroy",
    ECR_REPOSITORY: "forceDelete",
    ATHENA_WORKGROUP: "forceDestroy",
}
"""Types with a flag that deletes their contents on destroy, and the flag's property."""
