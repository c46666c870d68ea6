"""The policy runner's exception hierarchy: what went wrong driving the pack, and what to do about it.

Every error is an ``MlenvError`` with exit code 2, so ``mlenv check`` reports it as bad input
(a pack that does not start, a policy config the pack's schema rejects, a pack that stops
answering) and never as a policy verdict.
"""

from __future__ import annotations

from typing import Any

from stacks.errors import EXIT_BAD_INPUT, MlenvError


class PolicyRunError(MlenvError):
    """The policy pack could not be run over a plan; the message says why and how to fix it."""

    exit_code = EXIT_BAD_INPUT


class PackStartError(PolicyRunError):
    """The pack process did not start, died before printing its port, or never printed one."""


class PackProtocolError(PolicyRunError):
    """The pack process stopped answering, or answered a call with an error."""

    code: Any = None
    """The gRPC status code of the failed call (``grpc.StatusCode``), when there was one."""


class PolicyConfigError(PolicyRunError):
    """A policy config file is unreadable or does not match the pack's config schemas."""
