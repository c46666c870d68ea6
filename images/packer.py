"""The one place that runs the ``packer`` binary.

``Packer`` resolves the binary once (a missing binary is a ``PackerError`` with the install hint), runs
every command with ``-machine-readable`` under a timeout, streams each human-readable message to an
``on_output`` callback as it arrives, keeps the whole output, parses the machine-readable records into
``MachineRecord`` and raises ``PackerError`` quoting the command and its last lines when it fails.
"""

from __future__ import annotations

import os
import queue
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from images.errors import PackerError

INSTALL_HINT = (
    "install Packer: `apt-get install packer` (Debian/Ubuntu), or a release from "
    "https://developer.hashicorp.com/packer/install (HashiCorp's downloads)"
)
VERSION_TIMEOUT_S = 30.0
VALIDATE_TIMEOUT_S = 120.0
INIT_TIMEOUT_S = 300.0
# A build compiles kernel modules, pulls tens of GB of containers and copies AMIs across regions.
BUILD_TIMEOUT_S = 4 * 3600.0
# After a timeout Packer gets SIGINT first: it then terminates the builder instance and deletes its
# temporary key pair and security group. SIGKILL only if it has not exited after this grace period.
INTERRUPT_GRACE_S = 120.0
TAIL_LINES = 15

OutputCallback = Callable[[str], None]

# Packer escapes these inside machine-readable data fields.
_UNESCAPES = (("%!(PACKER_COMMA)", ","), ("\\n", "\n"), ("\\r", "\r"))


@dataclass(frozen=True)
class MachineRecord:
    """One ``-machine-readable`` line: ``timestamp,target,type,data...`` with Packer's escapes undone."""

    timestamp: int
    target: str
    type: str
    data: tuple[str, ...]

    @property
    def message(self) -> str | None:
        """The text of a ``ui`` record (``ui,say|message|error,TEXT``); ``None`` for other records."""
        if self.type == "ui" and len(self.data) >= 2:
            return ",".join(self.data[1:])
        return None

    @property
    def is_error(self) -> bool:
        """True for ``ui,error`` records."""
        return self.type == "ui" and bool(self.data) and self.data[0] == "error"


def parse_machine_readable_line(line: str) -> MachineRecord | None:
    """The record on one output line, or ``None`` if the line is not machine-readable output."""
    parts = line.rstrip("\r\n").split(",")
    if len(parts) < 3 or not parts[0].isdigit() or not parts[2]:
        return None
    data = []
    for field in parts[3:]:
        for escaped, plain in _UNESCAPES:
            field = field.replace(escaped, plain)
        data.append(field)
    return MachineRecord(int(parts[0]), parts[1], parts[2], tuple(data))


def parse_machine_readable(lines: Iterable[str]) -> tuple[MachineRecord, ...]:
    """Every record in ``lines``; other lines are skipped."""
    return tuple(rec for rec in map(parse_machine_readable_line, lines) if rec is not None)


def _human(line: str) -> str | None:
    """What a user should see for one output line: a ui message, a raw line, or nothing (data records)."""
    record = parse_machine_readable_line(line)
    if record is None:
        return line.rstrip("\r\n")
    return record.message


@dataclass(frozen=True)
class PackerRun:
    """A finished, successful ``packer`` command and everything it printed."""

    command: tuple[str, ...]
    returncode: int
    lines: tuple[str, ...]
    duration_s: float

    @property
    def records(self) -> tuple[MachineRecord, ...]:
        """The machine-readable records of the output."""
        return parse_machine_readable(self.lines)

    @property
    def messages(self) -> tuple[str, ...]:
        """The human-readable output (ui messages and any non-record line)."""
        return tuple(text for text in map(_human, self.lines) if text is not None)


class Packer:
    """A ``packer`` binary. ``env`` is added to this process's environment for every command (e.g.
    AWS_PROFILE); ``on_output`` receives each human-readable message as it is printed."""

    def __init__(
        self,
        binary: str = "packer",
        *,
        env: Mapping[str, str] | None = None,
        on_output: OutputCallback | None = None,
        interrupt_grace_s: float = INTERRUPT_GRACE_S,
    ) -> None:
        # Packer's update check ("checkpoint") calls HashiCorp on every run; mlenv runs it offline.
        self._env = {**os.environ, "CHECKPOINT_DISABLE": "1", **(env or {})}
        self._on_output = on_output
        self._grace_s = interrupt_grace_s
        self.path = self._resolve(binary)

    def _resolve(self, binary: str) -> str:
        found = shutil.which(binary, path=self._env.get("PATH", os.defpath))
        if found is None:
            where = "" if os.sep in binary else " on PATH"
            raise PackerError(f"the packer binary {binary!r} was not found{where}; {INSTALL_HINT}")
        return found

    def version(self) -> str:
        """The Packer version, e.g. ``1.6.6`` (from the ``version`` record)."""
        run = self.run(["version"], timeout_s=VERSION_TIMEOUT_S)
        for record in run.records:
            if record.type == "version" and record.data:
                return record.data[0]
        raise PackerError(f"`{shlex.join(run.command)}` printed no version record:\n{_tail(run.lines)}")

    def validate(self, template_dir: Path | str, *, timeout_s: float = VALIDATE_TIMEOUT_S) -> PackerRun:
        """``packer validate .`` in a rendered template directory."""
        return self.run(["validate", "."], cwd=template_dir, timeout_s=timeout_s)

    def init(self, template_dir: Path | str, *, timeout_s: float = INIT_TIMEOUT_S) -> PackerRun:
        """``packer init .``: installs the plugins ``plugins.pkr.hcl`` requires (needs network)."""
        return self.run(["init", "."], cwd=template_dir, timeout_s=timeout_s)

    def build(self, template_dir: Path | str, *, timeout_s: float = BUILD_TIMEOUT_S) -> PackerRun:
        """``packer build .``: launches AWS resources with the caller's AWS credentials."""
        # -color=false: output goes through the callback, not a terminal.
        return self.run(["build", "-color=false", "."], cwd=template_dir, timeout_s=timeout_s)

    def run(self, args: Sequence[str], *, cwd: Path | str | None = None, timeout_s: float) -> PackerRun:
        """Run ``packer -machine-readable ARGS``; ``PackerError`` on timeout or non-zero exit."""
        command = (self.path, "-machine-readable", *args)
        quoted = shlex.join(["packer", *command[1:]])
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                # Its own process group, so a timeout reaches Packer's plugin processes too.
                start_new_session=True,
            )
        except OSError as exc:
            raise PackerError(f"cannot run `{quoted}`: {exc.strerror or exc}; {INSTALL_HINT}") from None
        lines = self._collect(proc, quoted, started + timeout_s, timeout_s)
        returncode = proc.wait()
        duration = time.monotonic() - started
        if returncode != 0:
            raise PackerError(
                f"`{quoted}` failed with exit code {returncode}"
                + (f" in {cwd}" if cwd else "")
                + f"; last lines:\n{_tail(lines)}"
            )
        return PackerRun(command=command, returncode=returncode, lines=tuple(lines), duration_s=duration)

    def _collect(
        self, proc: subprocess.Popen[str], quoted: str, deadline: float, timeout_s: float
    ) -> list[str]:
        """Read output lines until EOF, streaming them; on the deadline stop Packer and raise."""
        assert proc.stdout is not None
        pipe = proc.stdout
        lines_q: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for raw in pipe:
                lines_q.put(raw)
            lines_q.put(None)

        reader = threading.Thread(target=pump, name="packer-output", daemon=True)
        reader.start()
        lines: list[str] = []

        def take(item: str) -> None:
            lines.append(item.rstrip("\r\n"))
            text = _human(item)
            if text is not None and self._on_output is not None:
                self._on_output(text)

        while True:
            remaining = deadline - time.monotonic()
            try:
                # Past the deadline this still takes what is already queued (timeout 0).
                item = lines_q.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                if proc.poll() is None:
                    break  # still running at the deadline
                # Packer exited just in time (or left a child holding the pipe): keep what it printed.
                reader.join(timeout=5)
                while not lines_q.empty():
                    if (rest := lines_q.get_nowait()) is not None:
                        take(rest)
                return lines
            if item is None:
                return lines
            take(item)
            if remaining <= 0 and proc.poll() is None:
                break  # still running and printing at the deadline
        self._stop(proc)
        reader.join(timeout=5)
        raise PackerError(
            f"`{quoted}` timed out after {timeout_s:g} s and was stopped; last lines:\n{_tail(lines)}"
        )

    def _stop(self, proc: subprocess.Popen[str]) -> None:
        for sig, wait_s in ((signal.SIGINT, self._grace_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def _tail(lines: Sequence[str]) -> str:
    texts = [text for text in map(_human, lines) if text]
    shown = "\n".join(texts).splitlines()[-TAIL_LINES:]
    return "\n".join(f"  | {line}" for line in shown) if shown else "  | (no output)"
