"""How the `mlenv` process treats the Python interpreter: a one-shot command, not a server.

Two costs of a short-lived CPython process that do no work for `mlenv plan`/`check`, measured by
``benchmarks/plan.py`` (figures in benchmarks/README.md):

* the cyclic garbage collector. Registering a resource allocates many container objects (Outputs,
  futures, protobuf structs) and almost none of them are cyclic garbage; with CPython's default
  thresholds (700, 10, 10) every 70,000 net allocations start a young collection and full
  collections traverse the whole heap, which grows with the plan, so their total cost grows
  faster than linearly (issue 17: 21 full collections took 8.7 of 16.4 s at 2,001 resources).
  Raising the thresholds keeps young collections (a cycle made and dropped is still freed) and
  makes a full collection happen only after 500,000,000 net allocations, i.e. never in a command.
  (https://docs.python.org/3/library/gc.html#gc.set_threshold; the full-collection rule in
  CPython's gcmodule.c also waits for 25 % new long-lived objects.)
* interpreter shutdown: finalising every module and object of pulumi_aws and pulumi_kubernetes
  (~0.9 s for a plan) after the answer is written. ``os._exit`` skips it once stdout and stderr
  are flushed; nothing mlenv does waits on exit handlers (pack processes are stopped, files are
  closed and written, in ``with`` blocks before the command returns).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys

GC_THRESHOLDS = (10_000, 50, 1_000)
"""(young, middle, old): a young collection per 10,000 net allocations, a full one never in a
command. Measured: default 19 full collections at 1,233 resources, none with these; peak RSS
within 1 % (benchmarks/README.md)."""


def tune_for_one_shot() -> None:
    """Set the garbage collector for a process that plans or checks once and exits."""
    gc.set_threshold(*GC_THRESHOLDS)


def exit_code_of(exc: SystemExit) -> int:
    """The process status ``sys.exit`` would give for this SystemExit (a message means 1)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def leave(code: int) -> None:
    """Flush what the command wrote and end the process now, without interpreter shutdown."""
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (`mlenv plan --json | head`) must not turn a finished command into an error.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
