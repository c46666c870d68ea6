"""A stack's config as the Pulumi CLI hands it over: one environment variable, which has a size limit.

The Python language host starts the program with the whole stack config, JSON-encoded, in the one
environment variable ``PULUMI_CONFIG`` (``pulumiConfigVar`` in pulumi's
sdk/python/cmd/pulumi-language-python/main.go; ``pulumi/runtime/config.py`` reads it), and the
CLI starts every policy pack the same way (``constructEnv`` in pkg/resource/plugin/analyzer_plugin.go,
and ``stacks/check/pack_process.py`` here). Linux refuses an ``execve`` any one of whose argument or
environment strings is longer than ``MAX_ARG_STRLEN``, 32 pages = 131,072 bytes with its
terminating NUL (execve(2), "Limits on size of arguments and environment"): the error is E2BIG,
"Argument list too long". A stack file past it plans offline but cannot be deployed or
policy-checked by ``pulumi up`` on Linux, so ``mlenv plan``/``check`` refuse it with the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from stacks.errors import StackFileError

CONFIG_VARIABLE = "PULUMI_CONFIG"
MAX_ARG_STRLEN = 131_072
"""Linux's limit on one argument or environment string, its NUL included (32 pages of 4 KiB)."""


def go_json(config: Mapping[str, str]) -> str:
    """The config as Go's ``json.Marshal`` writes a ``map[string]string``: keys sorted, no spaces,
    non-ASCII as UTF-8, and ``<``, ``>``, ``&`` escaped (Go's HTML-safe default)."""
    text = json.dumps(dict(sorted(config.items())), separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def config_variable_bytes(config: Mapping[str, str]) -> int:
    """Bytes ``PULUMI_CONFIG=<json>`` takes in a new process's environment, its NUL included."""
    return len(f"{CONFIG_VARIABLE}={go_json(config)}".encode()) + 1


def compact_json(value: object) -> str:
    """Structured config as the CLI passes it to a program: compact JSON text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def ensure_config_fits(config: Mapping[str, str], path: Path | str) -> None:
    """Refuse a stack config that no Linux process could be started with (see the module doc)."""
    size = config_variable_bytes(config)
    if size <= MAX_ARG_STRLEN:
        return
    largest = sorted(config, key=lambda key: len(config[key]), reverse=True)[:3]
    shares = ", ".join(f"{key} {len(config[key].encode()):,} bytes" for key in largest)
    raise StackFileError(
        f"{path}: config: the stack's config is {size:,} bytes as {CONFIG_VARIABLE} (largest: {shares}); "
        f"Pulumi hands a program and each policy pack its whole config in that one environment "
        f"variable, and Linux starts no process with a variable over {MAX_ARG_STRLEN:,} bytes "
        "(execve(2), MAX_ARG_STRLEN: 'Argument list too long'), so `pulumi up` could not run this "
        "stack. Fix: split the environment into several stacks, each with fewer GPU pools and models, "
        "or remove entries it does not need"
    )
