"""Validate Kubernetes objects the program registered against the API's own OpenAPI schemas.

Wraps the ``kubernetes-validate`` package in strict mode (unknown fields are errors) for the
cluster's Kubernetes version, so a misspelt field or a wrong type fails a test, not a deploy.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

DEFAULT_VERSION = "1.33"


def validate(obj: dict[str, Any], version: str = DEFAULT_VERSION) -> None:
    """AssertionError naming the object and the schema problem when ``obj`` is not valid."""
    try:
        kubernetes_validate.validate(obj, f"{version}.0", strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        name = obj.get("metadata", {}).get("name")
        raise AssertionError(f"{obj.get('kind')} {name!r} is invalid at {where}: {exc.message}") from None
