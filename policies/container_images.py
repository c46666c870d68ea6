"""Container images: pinned by digest, approved in images/catalog.yaml, from approved registries."""

from __future__ import annotations

import fnmatch

from pulumi_policy import ResourceValidationArgs

from policies import resource_types as T
from policies.config import schema, setting_strings
from policies.policy_types import Report, ResourcePolicy
from policies.workloads import catalog_container, images_of, parse_image

IMAGE_CARRIERS = T.WORKLOADS | {T.HELM_RELEASE}


def _images(args: ResourceValidationArgs) -> list[tuple[str, str]]:
    images = images_of(args.resource_type, args.props)
    if not images:
        args.not_applicable("it sets no container image")
    return images


def check_images_pinned(args: ResourceValidationArgs, report: Report) -> None:
    """Every image reference ends in @sha256:<digest>."""
    if args.resource_type not in IMAGE_CARRIERS:
        return
    for where, ref in _images(args):
        if parse_image(ref).digest is None:
            report(
                f"{where}: image {ref!r} is not pinned; use the catalog's reference "
                "repository:tag@sha256:<digest>"
            )


images_pinned_by_digest = ResourcePolicy(
    name="images-pinned-by-digest",
    description="Containers are pulled by digest, so a re-pushed tag cannot change what runs.",
    check=check_images_pinned,
)


def check_images_in_catalog(args: ResourceValidationArgs, report: Report) -> None:
    """Every image is a catalog container (same repository and digest)."""
    if args.resource_type not in IMAGE_CARRIERS:
        return
    for where, ref in _images(args):
        image = parse_image(ref)
        if image.digest is not None and catalog_container(image) is None:
            report(
                f"{where}: image {ref!r} is not in images/catalog.yaml: add it to the catalog (reviewed) or "
                "use a catalog container's ref"
            )


images_approved_in_catalog = ResourcePolicy(
    name="images-approved-in-catalog",
    description="Only container images reviewed into images/catalog.yaml run in an environment.",
    check=check_images_in_catalog,
)


def check_images_from_registries(args: ResourceValidationArgs, report: Report) -> None:
    """Every image comes from an approved registry."""
    if args.resource_type not in IMAGE_CARRIERS:
        return
    approved = setting_strings(args, "approved_registries")
    for where, ref in _images(args):
        registry = parse_image(ref).registry
        if not any(fnmatch.fnmatchcase(registry, pattern) for pattern in approved):
            report(
                f"{where}: registry {registry} is not approved ({', '.join(approved)}); mirror the "
                "image there"
            )


images_from_approved_registries = ResourcePolicy(
    name="images-from-approved-registries",
    description="Images come from approved registries only, so supply-chain controls apply to every pull.",
    check=check_images_from_registries,
    config_schema=schema("approved_registries"),
)
