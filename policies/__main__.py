"""The mlenv policy pack: every policy, listed explicitly.

Started the way the Pulumi CLI starts a Python policy pack (``python policies`` or
``python -m policies``): constructing ``PolicyPack`` starts the analyzer gRPC server and prints its
port. Importing this module only builds ``POLICIES``; nothing registers itself on import.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a directory or file, Python puts policies/ itself first on sys.path, where
    # policies/kubernetes.py would shadow packages of the same name. Use the repository root.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from pulumi_policy import EnforcementLevel, Policy, PolicyPack

from policies import analyzer_servicer
from policies.compute import (
    eks_control_plane_logs,
    eks_private_endpoint,
    eks_secrets_encryption,
    eks_supported_version,
    launch_template_encrypted_volumes,
    launch_template_imdsv2,
    no_remote_access_to_nodes,
    node_group_launch_template_pinned,
)
from policies.config import initial_config
from policies.container_images import (
    images_approved_in_catalog,
    images_from_approved_registries,
    images_pinned_by_digest,
)
from policies.data_services import (
    dynamodb_kms,
    dynamodb_pitr,
    ecr_immutable_tags,
    ecr_kms_encryption,
    ecr_scan_on_push,
    no_public_principal,
    redis_encrypted_with_auth,
)
from policies.drift import (
    helm_charts_pinned,
    ignore_changes_allow_list,
    mlenv_labels_present,
    mlenv_tags_present,
    no_force_destroy_outside_experiments,
    platform_deletion_protection,
    stateful_resources_protected,
)
from policies.experiments import experiment_expiry, experiment_gpu_cap
from policies.gpu_pools import (
    ami_from_catalog,
    efa_pools_colocated,
    gpu_image_compatible,
    gpu_instance_types_allowed,
    gpu_pools_on_catalog_images,
    gpu_pools_tainted,
)
from policies.gpu_workloads import (
    gpu_workloads_match_a_pool,
    gpu_workloads_set_limits,
    workload_cuda_compatible,
)
from policies.iam import iam_trust_scoped, no_broad_managed_policies, no_wildcard_iam
from policies.karpenter import (
    karpenter_image_pinned,
    node_class_ami_pinned,
    node_class_imdsv2,
    node_class_volumes_encrypted,
    node_pool_gpu_limit,
    node_pool_gpu_taint,
    serving_pool_budgets,
)
from policies.keys_and_logs import kms_keys_have_key_policy, log_groups_encrypted_and_retained
from policies.kubernetes import (
    namespace_pod_security,
    pods_drop_all_capabilities,
    pods_no_host_namespaces,
    pods_not_privileged,
    pods_run_as_non_root,
    pods_seccomp_runtime_default,
)
from policies.network_policies import namespaces_default_deny, network_policies_narrow
from policies.policy_types import MlenvPolicy
from policies.storage import (
    s3_access_logging,
    s3_acls_disabled,
    s3_lifecycle_configured,
    s3_object_lock_on_model_buckets,
    s3_public_access_blocked,
    s3_sse_kms,
    s3_tls_only,
    s3_versioning_enabled,
)
from policies.waivers import waived_violations, waivers_are_valid

PACK_NAME = "mlenv"
PACK_LEVEL = EnforcementLevel.MANDATORY

RULES: list[MlenvPolicy] = [
    # storage: S3 buckets joined with their settings
    s3_versioning_enabled,
    s3_public_access_blocked,
    s3_sse_kms,
    s3_tls_only,
    s3_object_lock_on_model_buckets,
    s3_lifecycle_configured,
    s3_access_logging,
    s3_acls_disabled,
    # storage: registries and data stores
    ecr_immutable_tags,
    ecr_scan_on_push,
    ecr_kms_encryption,
    dynamodb_pitr,
    dynamodb_kms,
    redis_encrypted_with_auth,
    no_public_principal,
    # keys and logs
    kms_keys_have_key_policy,
    log_groups_encrypted_and_retained,
    # compute
    eks_private_endpoint,
    eks_secrets_encryption,
    eks_control_plane_logs,
    eks_supported_version,
    launch_template_imdsv2,
    launch_template_encrypted_volumes,
    no_remote_access_to_nodes,
    node_group_launch_template_pinned,
    no_wildcard_iam,
    iam_trust_scoped,
    no_broad_managed_policies,
    # GPU and images
    ami_from_catalog,
    gpu_pools_on_catalog_images,
    gpu_instance_types_allowed,
    gpu_pools_tainted,
    gpu_image_compatible,
    efa_pools_colocated,
    images_pinned_by_digest,
    images_approved_in_catalog,
    images_from_approved_registries,
    gpu_workloads_set_limits,
    gpu_workloads_match_a_pool,
    workload_cuda_compatible,
    # Karpenter: elastic GPU pools and their controller
    node_class_ami_pinned,
    node_class_imdsv2,
    node_class_volumes_encrypted,
    node_pool_gpu_limit,
    node_pool_gpu_taint,
    serving_pool_budgets,
    karpenter_image_pinned,
    # drift
    mlenv_tags_present,
    mlenv_labels_present,
    ignore_changes_allow_list,
    stateful_resources_protected,
    platform_deletion_protection,
    no_force_destroy_outside_experiments,
    helm_charts_pinned,
    # kubernetes
    pods_not_privileged,
    pods_run_as_non_root,
    pods_drop_all_capabilities,
    pods_seccomp_runtime_default,
    pods_no_host_namespaces,
    namespace_pod_security,
    network_policies_narrow,
    namespaces_default_deny,
    # experiments
    experiment_expiry,
    experiment_gpu_cap,
]
"""The rules: each can be waived."""

POLICIES: list[Policy] = [*RULES, waived_violations(RULES), waivers_are_valid(RULES)]
"""Everything the pack enforces: the rules, then the two waiver policies."""


def answer_interrupts() -> None:
    """Stop on SIGINT even when started with it ignored.

    The Pulumi CLI and `mlenv check` stop a pack with an interrupt, then a kill after a grace
    period. A process started in the background (``&``, nohup, some CI runners) inherits SIGINT
    ignored, and CPython then installs no KeyboardInterrupt handler
    (https://docs.python.org/3/library/signal.html#execution-of-python-signal-handlers), so
    PolicyPack's ``except KeyboardInterrupt`` never runs and every stop waited the whole grace.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    """Start the analyzer: serves gRPC and prints its port until the process is stopped."""
    answer_interrupts()
    analyzer_servicer.install()
    PolicyPack(
        name=PACK_NAME,
        policies=POLICIES,
        enforcement_level=PACK_LEVEL,
        initial_config=dict(initial_config(POLICIES, PACK_LEVEL)),
        description="mlenv: immutable, drift-free GPU environments on AWS and Kubernetes.",
    )


if __name__ == "__main__":
    main()
