"""The components package's branch of the mlenv error hierarchy.

Components receive a validated ``EnvironmentSpec``, so a ``ComponentError`` means the spec's rules
let through something a component cannot build: a bug to fix in ``stacks/spec/``, reported as one
message (exit 1), never a traceback.
"""

from __future__ import annotations

from stacks.errors import EXIT_INTERNAL, MlenvError


class ComponentError(MlenvError):
    """A component was asked to build something it cannot; the message says what and where to fix it."""

    exit_code = EXIT_INTERNAL
