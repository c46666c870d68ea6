"""No manual drift: tags and labels that let sweeps find every resource, no ignored changes beyond
an allow-list, stateful resources protected in platform stacks, no force-destroy outside
experiments, Helm charts pinned to the catalog's exact version.

``retain_on_delete`` is not part of the analyzer protocol (AnalyzerResourceOptions carries
protect, ignoreChanges, deleteBeforeReplace, aliases, timeouts, parent, additionalSecretOutputs),
so the pack checks ``protect`` and the providers' own deletion guards; retention is asserted by
the component tests on the recorded plan.
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import ResourceValidationArgs

from components.tags import LABEL_PREFIX, MANAGED_BY, TAG_MANAGED_BY
from images.catalog import load_catalog
from policies import resource_types as T
from policies.config import schema, setting
from policies.policy_types import Report, ResourcePolicy
from policies.properties import get, is_true, mappings, missing_tags, tags_of
from policies.stack_kind import is_experiment
from policies.taggable import aws_taggable

REQUIRED_LABELS = (
    f"{LABEL_PREFIX}stack",
    f"{LABEL_PREFIX}component",
    f"{LABEL_PREFIX}owner",
    "app.kubernetes.io/managed-by",
)
TAGGED_INSTANCE_RESOURCES = ("instance", "volume")


def check_mlenv_tags(args: ResourceValidationArgs, report: Report) -> None:
    """Taggable AWS resources carry every mlenv tag; launch templates also tag instances and volumes."""
    if not args.resource_type.startswith("aws:") or not aws_taggable(args.resource_type):
        return
    tags = tags_of(args.props)
    missing = missing_tags(tags)
    if missing:
        report(f"add the tags {', '.join(missing)} (pass tagging.tags(<component>) as tags)")
    elif tags.get(TAG_MANAGED_BY) != MANAGED_BY:
        report(f"set the tag {TAG_MANAGED_BY}={MANAGED_BY}")
    if args.resource_type == T.LAUNCH_TEMPLATE:
        specs = {get(s, "resourceType"): s for s in mappings(get(args.props, "tagSpecifications"))}
        for kind in TAGGED_INSTANCE_RESOURCES:
            spec_tags = get(specs.get(kind), "tags")
            if not isinstance(spec_tags, Mapping) or missing_tags(spec_tags):
                report(
                    f"add tag_specifications for resource_type {kind!r} with the mlenv tags "
                    "(instances, disks)"
                )


mlenv_tags_present = ResourcePolicy(
    name="mlenv-tags-present",
    description="Every taggable AWS resource carries the mlenv tags, so drift and orphan sweeps can find it.",
    check=check_mlenv_tags,
)


def check_mlenv_labels(args: ResourceValidationArgs, report: Report) -> None:
    """Kubernetes objects carry the mlenv labels."""
    if not args.resource_type.startswith("kubernetes:") or args.resource_type == T.HELM_RELEASE:
        return
    labels = get(args.props, "metadata.labels")
    labels = labels if isinstance(labels, Mapping) else {}
    missing = [key for key in REQUIRED_LABELS if not labels.get(key)]
    if missing:
        report(f"add the labels {', '.join(missing)} (pass tagging.labels(<component>) as metadata.labels)")


mlenv_labels_present = ResourcePolicy(
    name="mlenv-labels-present",
    description=(
        "Every Kubernetes object carries the mlenv labels, so it can be traced to its stack and owner."
    ),
    check=check_mlenv_labels,
)


def check_ignore_changes(args: ResourceValidationArgs, report: Report) -> None:
    """ignore_changes names only allow-listed properties of the resource's type."""
    ignored = list(args.opts.ignore_changes)
    if not ignored:
        return
    allow = setting(args, "allowed_ignore_changes")
    allowed = allow.get(args.resource_type, []) if isinstance(allow, Mapping) else []
    extra = [prop for prop in ignored if prop not in allowed]
    if extra:
        report(
            f"remove {', '.join(extra)} from ignore_changes: changes made outside the code must be "
            f"reverted, not ignored (allowed for {args.resource_type}: {', '.join(allowed) or 'nothing'})"
        )


ignore_changes_allow_list = ResourcePolicy(
    name="ignore-changes-allow-list",
    description=(
        "ignore_changes is limited to properties an autoscaler owns, so no manual change is silently kept."
    ),
    check=check_ignore_changes,
    config_schema=schema("allowed_ignore_changes"),
)


def check_stateful_protected(args: ResourceValidationArgs, report: Report) -> None:
    """Stateful resources of platform stacks are protected."""
    if args.resource_type not in T.STATEFUL:
        return
    if is_experiment(args.urn, args.props):
        args.not_applicable("experiment stacks are short-lived: their data resources are not protected")
    if not args.opts.protect:
        report("set protect=True (components/stateful.py stateful_options(long_lived=True))")


stateful_resources_protected = ResourcePolicy(
    name="stateful-resources-protected",
    description=(
        "Buckets, keys, repositories and tables of platform stacks are protected from deletion by Pulumi."
    ),
    check=check_stateful_protected,
)

DELETION_GUARDS = {
    T.EKS_CLUSTER: ("deletionProtection", "set deletion_protection=True"),
    T.DYNAMODB_TABLE: ("deletionProtectionEnabled", "set deletion_protection_enabled=True"),
    T.REDIS_REPLICATION_GROUP: ("finalSnapshotIdentifier", "set final_snapshot_identifier"),
}


def check_deletion_protection(args: ResourceValidationArgs, report: Report) -> None:
    """Platform clusters, tables and caches have the provider's own deletion guard on."""
    guard = DELETION_GUARDS.get(args.resource_type)
    if guard is None:
        return
    if is_experiment(args.urn, args.props):
        args.not_applicable("experiment stacks are short-lived and destroyed by garbage collection")
    prop, fix = guard
    value = get(args.props, prop)
    if not (is_true(value) or (isinstance(value, str) and value and value.lower() != "false")):
        report(f"{fix}: a platform {args.resource_type.rsplit(':', 1)[-1]} must survive an accidental delete")


platform_deletion_protection = ResourcePolicy(
    name="platform-deletion-protection",
    description="Platform clusters, tables and caches cannot be deleted by one API call (AWS-side guard).",
    check=check_deletion_protection,
)


def check_no_force_destroy(args: ResourceValidationArgs, report: Report) -> None:
    """force_destroy / force_delete only in experiment stacks."""
    flag = T.FORCE_DESTROY_FLAGS.get(args.resource_type)
    if flag is None:
        return
    if is_experiment(args.urn, args.props):
        args.not_applicable("experiment stacks may delete their contents on destroy")
    if is_true(get(args.props, flag)):
        report(f"set {flag}=False: deleting a platform resource must not delete its contents")


no_force_destroy_outside_experiments = ResourcePolicy(
    name="no-force-destroy-outside-experiments",
    description="Only experiment stacks may delete non-empty buckets and repositories on destroy.",
    check=check_no_force_destroy,
)


def check_helm_pinned(args: ResourceValidationArgs, report: Report) -> None:
    """Helm releases install a catalog chart at its exact version from its repository."""
    if args.resource_type != T.HELM_RELEASE:
        return
    chart, version = get(args.props, "chart"), get(args.props, "version")
    repo = get(args.props, "repositoryOpts.repo")
    pinned = load_catalog().helm_charts
    entry = next((c for c in pinned.values() if chart in (c.chart, c.reference)), None)
    if entry is None:
        report(
            f"chart {chart!r} is not in images/catalog.yaml helm_charts: pin it there (repository, "
            "exact version)"
        )
        return
    if version != entry.version:
        report(f"chart {chart}: set version={entry.version!r} (the catalog's pin), found {version!r}")
    if entry.oci:
        # An OCI chart is named by its full reference and has no chart repository.
        if chart != entry.reference or repo is not None:
            report(f"chart {chart}: install it as chart={entry.reference!r} without repository_opts")
    elif repo != entry.repository:
        report(f"chart {chart}: install it from {entry.repository} (repository_opts.repo), found {repo!r}")


helm_charts_pinned = ResourcePolicy(
    name="helm-charts-pinned",
    description="Helm charts install the exact version and repository pinned in images/catalog.yaml.",
    check=check_helm_pinned,
)
