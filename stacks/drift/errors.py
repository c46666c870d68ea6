"""The drift package's exception hierarchy.

Bad input (an unreadable or wrong-version state file, a kubeconfig that does not exist) exits 2;
a layer that cannot run at all for an environment reason (kubectl missing, an unreachable API)
exits 1. Missing AWS permissions are not errors: the sweep reports them as findings.
"""

from __future__ import annotations

from stacks.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, MlenvError


class DriftError(MlenvError):
    """A drift layer could not run; the message says which and what to do."""

    exit_code = EXIT_INTERNAL


class DriftInputError(DriftError):
    """An input of `mlenv drift` (state file, kubeconfig, options) is missing or malformed."""

    exit_code = EXIT_BAD_INPUT


class StateFileError(DriftInputError):
    """A state file is not the JSON ``pulumi stack export`` writes (deployment version 3)."""
