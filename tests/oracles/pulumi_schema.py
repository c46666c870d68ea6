"""What the provider SDKs (generated from the providers' schemas) say about a resource type."""

from __future__ import annotations

import functools
import importlib
import inspect


@functools.cache
def aws_takes_tags(type_token: str) -> bool:
    """Whether a pulumi-aws resource type accepts a ``tags`` input, per its generated SDK class.

    ``aws:s3/bucket:Bucket`` -> ``pulumi_aws.s3.Bucket``; the class's init parameters mirror the
    provider schema's input properties.
    """
    _, module_path, class_name = type_token.split(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    cls = getattr(module, class_name)
    return "tags" in inspect.signature(cls._internal_init).parameters


@functools.cache
def aws_reports_arn(type_token: str) -> bool:
    """Whether a pulumi-aws resource type has an ``arn`` output, per its generated SDK class."""
    _, module_path, class_name = type_token.split(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    return isinstance(getattr(getattr(module, class_name), "arn", None), property)
