"""Check registered AWS inputs against botocore's service models (AWS's own API definitions).

A test asserts that a value the program registered (an S3 SSE algorithm, an EKS capacity type,
an EC2 instance type ...) is one the AWS API accepts, by reading the enum or the structure from
the botocore model that boto3 ships. The code under test never supplies the expected values.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import botocore.session
from botocore.model import ServiceModel, Shape, StringShape, StructureShape


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of an AWS service API, e.g. ``service_model("eks")``."""
    return botocore.session.get_session().get_service_model(service)


def shape(service: str, shape_name: str) -> Shape:
    """A named shape of a service, e.g. ``shape("s3", "ServerSideEncryption")``."""
    return service_model(service).shape_for(shape_name)


def enum_values(service: str, shape_name: str) -> frozenset[str]:
    """The values an enum shape allows; AssertionError if the shape is not an enum."""
    found = shape(service, shape_name)
    assert isinstance(found, StringShape) and found.enum, f"{service}.{shape_name} is not an enum shape"
    return frozenset(found.enum)


def member_enum(service: str, structure: str, member: str) -> frozenset[str]:
    """The enum values allowed for one member of a structure shape."""
    parent = shape(service, structure)
    assert isinstance(parent, StructureShape), f"{service}.{structure} is not a structure"
    target = parent.members[member]
    assert isinstance(target, StringShape) and target.enum, f"{service}.{structure}.{member} is not an enum"
    return frozenset(target.enum)


def required_members(service: str, structure: str) -> frozenset[str]:
    """Members AWS requires in a structure (e.g. an operation's input shape)."""
    parent = shape(service, structure)
    assert isinstance(parent, StructureShape), f"{service}.{structure} is not a structure"
    return frozenset(parent.required_members)


def assert_allowed(value: str, service: str, shape_name: str) -> None:
    """Fail with the allowed values when ``value`` is not in the enum ``service.shape_name``."""
    allowed = enum_values(service, shape_name)
    assert value in allowed, f"{value!r} is not a valid {service}.{shape_name}; AWS allows {sorted(allowed)}"


def assert_all_allowed(values: Iterable[str], service: str, shape_name: str) -> None:
    """``assert_allowed`` for each value."""
    for value in values:
        assert_allowed(value, service, shape_name)
