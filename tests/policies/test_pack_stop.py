"""A pack is stopped by its interrupt, not by the kill after the grace period, however mlenv was
started: in the background a child inherits SIGINT ignored (POSIX exec keeps ignored signals)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stacks.check.pack_process import EngineServer, PackProcess, interrupt_signal
from stacks.check.runner import PACK_DIR

IGNORING_PACK = '''
"""A third-party pack that ignores SIGINT itself (a test double for any pack but ours)."""
import signal

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

signal.signal(signal.SIGINT, signal.SIG_IGN)
PolicyPack(
    name="ignores-interrupts",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[ResourceValidationPolicy(name="nothing", description="d", validate=lambda args, report: None)],
)
'''


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """As in a shell's background job: SIGINT ignored in this process, so in its children."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def started(pack_dir: Path, engine: EngineServer) -> PackProcess:
    pack = PackProcess(pack_dir, project="mlenv", stack="test", config={}, engine_address=engine.address)
    pack.start()
    return pack


def test_our_pack_started_with_sigint_ignored_stops_on_the_interrupt() -> None:
    with EngineServer() as engine:
        with sigint_ignored():
            pack = started(PACK_DIR, engine)
        assert pack.process is not None
        assert interrupt_signal(pack.process.pid) is signal.SIGINT  # it re-armed SIGINT
        pack.stop()
    # PolicyPack's `except KeyboardInterrupt` ran and the process exited by itself, not killed.
    assert pack.process.returncode == 0


@pytest.fixture
def ignoring_pack(tmp_path: Path) -> Path:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n", encoding="utf-8")
    (tmp_path / "__main__.py").write_text(IGNORING_PACK, encoding="utf-8")
    return tmp_path


def test_a_pack_that_ignores_sigint_gets_sigterm_not_the_kill(ignoring_pack: Path) -> None:
    with EngineServer() as engine:
        pack = started(ignoring_pack, engine)
        assert pack.process is not None
        assert interrupt_signal(pack.process.pid) is signal.SIGTERM
        pack.stop()
    assert pack.process.returncode == -signal.SIGTERM
