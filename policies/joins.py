"""Joining resources in a stack: a bucket with its settings, a node group with its launch template.

pulumi-policy gives a stack policy each resource's ``property_dependencies``: for every input, the
resources whose outputs flowed into it. A ``BucketVersioning`` whose ``bucket`` input came from a
``Bucket``'s id depends on that bucket through ``bucket``; that link is how settings are joined to
their subject. It needs no property value, so it works in a preview where ids are still unknown.
A setting given a literal name instead (no dependency) is joined by comparing that name with the
subject's own name property.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pulumi_policy import PolicyResource

from policies.properties import get


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    """Resources of the given types, in stack order."""
    return [r for r in resources if r.resource_type in types]


def linked(resource: PolicyResource, prop: str) -> list[PolicyResource]:
    """The resources whose outputs flowed into ``resource``'s input ``prop``."""
    return list(resource.property_dependencies.get(prop, []))


def settings_of(
    subjects: Iterable[PolicyResource],
    settings: Iterable[PolicyResource],
    prop: str,
    subject_name_prop: str,
) -> dict[str, list[PolicyResource]]:
    """Subject URN -> the settings resources whose ``prop`` input names that subject."""
    subjects = list(subjects)
    by_urn = {s.urn: s for s in subjects}
    result: dict[str, list[PolicyResource]] = defaultdict(list)
    for setting in settings:
        targets = [t for t in linked(setting, prop) if t.urn in by_urn]
        if not targets:
            name = get(setting.props, prop)
            targets = [s for s in subjects if name is not None and get(s.props, subject_name_prop) == name]
        for target in targets:
            result[target.urn].append(setting)
    return result
