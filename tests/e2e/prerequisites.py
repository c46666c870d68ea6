"""What an opt-in end-to-end test needs before it can run: the Pulumi CLI, AWS credentials and its
opt-in variables. Each test skips with the first thing missing, so the reason says what to do."""

from __future__ import annotations

import os
import shutil

import boto3


def missing_prerequisite(variables: tuple[str, ...], how: str) -> str | None:
    """Why the test cannot run here (the first missing piece), or None when it can.

    ``variables`` are the environment variables the test needs set; ``how`` says how to set them."""
    if shutil.which("pulumi") is None:
        return "the pulumi CLI is not on PATH (https://www.pulumi.com/docs/install/)"
    if boto3.Session().get_credentials() is None:
        return "no AWS credentials in the environment"
    if not all(os.environ.get(name) for name in variables):
        return how
    return None
