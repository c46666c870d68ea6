"""A tiny policy pack used by the runner tests; started as a process exactly as the real pack is."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)


def _required_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resource_type.startswith("aws:") or "tags" not in args.props:
        return
    tags = args.props["tags"] or {}
    required = args.get_config().get("requiredTags", [])
    missing = [tag for tag in required if tag not in tags]
    if missing:
        report_violation(f"add the tags {', '.join(missing)} to {args.name}", None)


def _bucket_acls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        return
    if args.props.get("blockPublicAcls") is not True:
        report_violation("set blockPublicAcls=True", None)


def _buckets_versioned(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    versioned = {
        dependency.urn
        for r in args.resources
        if r.resource_type == "aws:s3/bucketVersioning:BucketVersioning"
        and (r.props.get("versioningConfiguration") or {}).get("status") == "Enabled"
        for dependency in r.property_dependencies.get("bucket", [])
    }
    for resource in args.resources:
        if resource.resource_type == "aws:s3/bucket:Bucket" and resource.urn not in versioned:
            report_violation(
                f"add a BucketVersioning resource (status Enabled) for {resource.name}", resource.urn
            )


def _provider_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    provider = args.provider
    if provider is None or provider.resource_type != "pulumi:providers:aws":
        return
    region = provider.props.get("region")
    if region not in args.get_config().get("allowedRegions", []):
        report_violation(f"region {region} of provider {provider.name} is not allowed", None)


def _protect_buckets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == "aws:s3/bucket:Bucket" and not args.opts.protect:
        report_violation(f"set protect=True on {args.name}", None)


def _waivers(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for resource in args.resources:
        if resource.name in args.get_config().get("waived", []):
            report_violation(
                f"waived: fixture-protect-buckets on {resource.name} (test waiver)", resource.urn
            )


def _never_applies(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == "aws:kms/key:Key":
        args.not_applicable("keys are checked elsewhere")


POLICIES = [
    ResourceValidationPolicy(
        name="fixture-required-tags",
        description="AWS resources carry the required tags.",
        validate=_required_tags,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={"requiredTags": {"type": "array", "items": {"type": "string"}, "default": ["owner"]}}
        ),
    ),
    ResourceValidationPolicy(
        name="fixture-bucket-acls",
        description="Bucket public access blocks refuse public ACLs.",
        validate=_bucket_acls,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    ResourceValidationPolicy(
        name="fixture-not-applicable",
        description="Reports not-applicable for KMS keys.",
        validate=_never_applies,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    ResourceValidationPolicy(
        name="fixture-provider-region",
        description="Resources use an AWS provider in an allowed region.",
        validate=_provider_region,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(
            properties={
                "allowedRegions": {"type": "array", "items": {"type": "string"}, "default": ["us-east-1"]}
            }
        ),
    ),
    ResourceValidationPolicy(
        name="fixture-protect-buckets",
        description="Buckets are protected from deletion.",
        validate=_protect_buckets,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="waived-violations",
        description="Reports each waived violation (like the mlenv pack's waiver policy).",
        validate=_waivers,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(
            properties={"waived": {"type": "array", "items": {"type": "string"}, "default": []}}
        ),
    ),
    StackValidationPolicy(
        name="fixture-buckets-versioned",
        description="Every bucket has versioning enabled.",
        validate=_buckets_versioned,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]

if __name__ == "__main__":
    PolicyPack(name="fixture-pack", policies=POLICIES)
