"""Start a Python policy pack as a process exactly as the Pulumi CLI does, and stop it on every path.

How the CLI does it (pulumi/pulumi ``sdk/go/common/resource/plugin/analyzer_plugin.go``,
``NewPolicyAnalyzer``, and ``plugin.go``, ``newPlugin``/``ExecPlugin``): for a pack whose
PulumiPolicy.yaml says ``runtime: python`` it runs the ``pulumi-analyzer-policy-python`` shim
with the arguments ``<engine address> .`` and each runtime option as ``-<key>=<value>``, in the
pack's directory, with the environment plus PULUMI_CONFIG (the stack config as JSON),
PULUMI_PROJECT, PULUMI_STACK, PULUMI_DRY_RUN (and PULUMI_ORGANIZATION when set). The shim
(``sdk/python/dist/pulumi-analyzer-policy-python``) runs ``python -u -m pulumi.policy <engine
address> .`` with the ``-virtualenv`` interpreter or ``python3``; ``pulumi.policy`` runs the
pack's ``__main__.py``, whose ``PolicyPack(...)`` serves the Analyzer service on 127.0.0.1 and
writes its port as the first line on stdout. The CLI reads that line, dials the port, calls
Handshake (UNIMPLEMENTED is fine: pulumi-policy predates it) and ConfigureStack, and later
stops the process with an interrupt, then a kill after a grace period.

Here: the same command line, directory and environment, with this interpreter standing in for
``python3`` when PulumiPolicy.yaml names no virtualenv, and a minimal Engine service of ours
standing in for the CLI's engine address (it records Log calls).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent import futures
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc, plugin_pb2

from stacks.check.errors import PackProtocolError, PackStartError
from stacks.offline.config_env import CONFIG_VARIABLE, go_json

START_TIMEOUT_S = 60.0
"""How long a pack may take to import its policies and print its port."""
CALL_TIMEOUT_S = 300.0
"""How long one Analyze/AnalyzeStack call may take before the pack is considered hung."""
STOP_GRACE_S = 3.0
"""How long a pack may take to exit after an interrupt before it is killed."""
_STDERR_LINES = 40
# pulumi-policy raises gRPC's limits to 400 MiB; a stack request for a large plan needs it too.
_MAX_MESSAGE = 400 * 1024 * 1024
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.max_send_message_length", _MAX_MESSAGE),
]


class _EngineLog(engine_pb2_grpc.EngineServicer):
    """The part of the CLI's engine a pack may call: Log. Messages are kept for error reports."""

    def __init__(self) -> None:
        self.messages: deque[str] = deque(maxlen=200)

    def Log(self, request: Any, context: Any) -> empty_pb2.Empty:
        self.messages.append(f"{request.severity}: {request.message}")
        return empty_pb2.Empty()


class EngineServer:
    """A loopback gRPC server whose address is handed to packs as the engine address."""

    def __init__(self) -> None:
        self.log = _EngineLog()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self.log, self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"

    def __enter__(self) -> EngineServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)


def pack_runtime_options(pack_dir: Path) -> dict[str, Any]:
    """The ``runtime.options`` of a pack's PulumiPolicy.yaml; PackStartError if it is not a Python pack."""
    project = pack_dir / "PulumiPolicy.yaml"
    try:
        document = yaml.safe_load(project.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise PackStartError(
            f"no policy pack at {pack_dir}: cannot read {project.name} ({exc.strerror})"
        ) from None
    except yaml.YAMLError as exc:
        raise PackStartError(f"{project}: not valid YAML: {exc}") from None
    runtime = document.get("runtime") if isinstance(document, dict) else None
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name != "python":
        raise PackStartError(f"{project}: runtime is {name!r}; mlenv check runs Python packs only")
    options = runtime.get("options") if isinstance(runtime, dict) else None
    return dict(options) if isinstance(options, dict) else {}


MLENV_PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
"""mlenv's own pack, installed next to this module."""


def pack_command(pack_dir: Path, engine_address: str) -> list[str]:
    """The command line the CLI's python analyzer shim ends up running for this pack.

    mlenv's own pack imports mlenv's packages, which are installed for the interpreter mlenv runs in:
    it always runs with that one. Its PulumiPolicy.yaml names the repository's ``../.venv`` for
    `pulumi preview --policy-pack policies`, which an installed mlenv neither has nor needs. Any other
    pack (``--pack DIR``) gets the interpreter the Pulumi CLI would give it.
    """
    options = pack_runtime_options(pack_dir)
    python = sys.executable
    virtualenv = options.get("virtualenv") if pack_dir.resolve() != MLENV_PACK_DIR else None
    if virtualenv:
        venv = Path(str(virtualenv))
        venv = venv if venv.is_absolute() else (pack_dir / venv)
        candidate = venv / "bin" / "python"
        if not candidate.is_file():
            raise PackStartError(
                f"{pack_dir / 'PulumiPolicy.yaml'}: virtualenv {virtualenv!r} has no bin/python "
                f"(looked for {candidate})"
            )
        python = str(candidate)
    return [python, "-u", "-m", "pulumi.policy", engine_address, "."]


def pack_environment(
    *, project: str, stack: str, config: Mapping[str, str], dry_run: bool, organization: str | None
) -> dict[str, str]:
    """os.environ plus what ``constructEnv`` in the CLI adds for a policy pack."""
    env = dict(os.environ)
    if config:
        env[CONFIG_VARIABLE] = go_json(config)
    if organization:
        env["PULUMI_ORGANIZATION"] = organization
    env["PULUMI_PROJECT"] = project
    env["PULUMI_STACK"] = stack
    env["PULUMI_DRY_RUN"] = "true" if dry_run else "false"
    return env


def interrupt_signal(pid: int) -> signal.Signals:
    """SIGINT, as the Pulumi CLI sends; SIGTERM to a process that ignores SIGINT.

    A pack started from an mlenv that runs in the background (``&``, nohup, some CI runners)
    inherits SIGINT ignored (POSIX: ignored signals stay ignored across exec) and would sit out the
    whole STOP_GRACE_S before its kill. Our pack re-arms SIGINT itself (policies/__main__.py); this
    covers any other pack. Linux reports the ignored set as the hex mask ``SigIgn`` in
    /proc/<pid>/status (proc(5)); elsewhere SIGINT is sent as before.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("SigIgn:"):
                ignored = int(line.split()[1], 16)
                if ignored & (1 << (signal.SIGINT - 1)):
                    return signal.SIGTERM
    return signal.SIGINT


class PackProcess:
    """One running policy pack: ``with PackProcess(...) as pack: pack.analyze(request)``.

    The process is stopped on every path out of the ``with`` block: an interrupt to its process
    group (``interrupt_signal``), then a kill after STOP_GRACE_S.
    """

    def __init__(
        self,
        pack_dir: Path,
        *,
        project: str,
        stack: str,
        config: Mapping[str, str],
        engine_address: str,
        dry_run: bool = True,
        organization: str | None = None,
        start_timeout: float = START_TIMEOUT_S,
        call_timeout: float = CALL_TIMEOUT_S,
    ) -> None:
        self.pack_dir = pack_dir.resolve()
        self.project = project
        self.stack = stack
        self.config = dict(config)
        self.engine_address = engine_address
        self.dry_run = dry_run
        self.organization = organization
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.command = pack_command(self.pack_dir, engine_address)
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.handshake_supported: bool | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._stdout: deque[str] = deque(maxlen=_STDERR_LINES)
        self._readers: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> PackProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Launch, read the port, dial, Handshake and ConfigureStack, as the CLI does."""
        env = pack_environment(
            project=self.project,
            stack=self.stack,
            config=self.config,
            dry_run=self.dry_run,
            organization=self.organization,
        )
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.pack_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # Its own process group, so stop() reaches anything the pack starts. No preexec_fn:
                # forking (instead of vfork) while gRPC threads run trips gRPC's fork handlers.
                start_new_session=True,
            )
        except OSError as exc:
            raise PackStartError(f"could not start policy pack {self.pack_dir}: {exc}") from None
        self.port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=_CHANNEL_OPTIONS)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self.start_timeout)
        except grpc.FutureTimeoutError:
            raise PackStartError(
                f"policy pack {self.pack_dir} printed port {self.port} but did not accept a "
                f"connection within {self.start_timeout:.0f} s{self._stderr_tail()}"
            ) from None
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        self._handshake()
        self._configure_stack()

    def stop(self) -> None:
        """Close the channel; interrupt the pack's process group, kill it if it lingers."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, interrupt_signal(process.pid))
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for reader in self._readers:
            reader.join(timeout=1.0)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- start-up ----------------------------------------------------------------------------

    def _drain(self, stream: Any, lines: deque[str]) -> None:
        for raw in iter(stream.readline, b""):
            lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def _spawn_reader(self, stream: Any, lines: deque[str], name: str) -> None:
        reader = threading.Thread(target=self._drain, args=(stream, lines), name=name, daemon=True)
        reader.start()
        self._readers.append(reader)

    def _read_port(self) -> int:
        process = self.process
        assert process is not None and process.stdout is not None and process.stderr is not None
        self._spawn_reader(process.stderr, self._stderr, "policy-pack-stderr")
        first_line: queue.Queue[bytes] = queue.Queue(maxsize=1)
        stdout = process.stdout

        def read_first_line() -> None:
            first_line.put(stdout.readline())
            self._drain(stdout, self._stdout)

        reader = threading.Thread(target=read_first_line, name="policy-pack-stdout", daemon=True)
        reader.start()
        self._readers.append(reader)
        deadline = time.monotonic() + self.start_timeout
        try:
            line = first_line.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise PackStartError(
                f"policy pack {self.pack_dir} did not print its gRPC port within "
                f"{self.start_timeout:.0f} s (command: {' '.join(self.command)}){self._stderr_tail()}"
            ) from None
        text = line.decode("utf-8", errors="replace").strip()
        if not line.endswith(b"\n"):
            status = process.wait(timeout=self.start_timeout)
            self._join_readers()
            raise PackStartError(
                f"policy pack {self.pack_dir} exited with status {status} before printing its gRPC "
                f"port{self._stderr_tail()}"
            )
        try:
            port = int(text)
        except ValueError:
            port = 0
        if not 0 < port <= 65535:
            raise PackStartError(
                f"policy pack {self.pack_dir} wrote {text[:200]!r} to stdout where its gRPC port "
                f"was expected{self._stderr_tail()}"
            )
        return port

    def _join_readers(self) -> None:
        for reader in self._readers:
            reader.join(timeout=2.0)

    def _stderr_tail(self) -> str:
        lines = [line for line in self._stderr if line.strip()]
        if not lines:
            return "; it wrote nothing to stderr"
        return "; its stderr ends with:\n  " + "\n  ".join(lines[-15:])

    def _handshake(self) -> None:
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=self.engine_address,
            root_directory=str(self.pack_dir),
            program_directory=str(self.pack_dir),
        )
        try:
            self._call("Handshake", request, timeout=self.start_timeout)
            self.handshake_supported = True
        except PackProtocolError as exc:
            if exc.code is not grpc.StatusCode.UNIMPLEMENTED:
                raise
            # As the CLI: a pack that predates Handshake is fine.
            self.handshake_supported = False

    def _configure_stack(self) -> None:
        request = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack,
            project=self.project,
            organization=self.organization or "",
            dry_run=self.dry_run,
            config=self.config,
        )
        try:
            self._call("ConfigureStack", request, timeout=self.start_timeout)
        except PackProtocolError as exc:
            if exc.code is not grpc.StatusCode.UNIMPLEMENTED:
                raise

    # -- calls -------------------------------------------------------------------------------

    def _call(self, method: str, request: Any, *, timeout: float | None = None, what: str = "") -> Any:
        if self._stub is None:
            raise PackProtocolError(f"policy pack {self.pack_dir} is not running")
        try:
            return getattr(self._stub, method)(request, timeout=timeout or self.call_timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            detail = exc.details() if hasattr(exc, "details") else str(exc)
            if code is grpc.StatusCode.UNIMPLEMENTED:
                error = PackProtocolError(f"policy pack {self.pack_dir} does not implement {method}")
            elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
                error = PackProtocolError(
                    f"policy pack {self.pack_dir} did not answer {method}{what} within "
                    f"{timeout or self.call_timeout:.0f} s{self._stderr_tail()}"
                )
            elif self._exits_within(1.0):
                error = PackProtocolError(
                    f"policy pack {self.pack_dir} died during {method}{what}{self._stderr_tail()}"
                )
            else:
                error = PackProtocolError(
                    f"policy pack {self.pack_dir} failed {method}{what}: {detail}{self._stderr_tail()}"
                )
            error.code = code
            raise error from None

    def _exits_within(self, seconds: float) -> bool:
        """Whether the pack has exited (a broken stream is usually seen before the exit is)."""
        if self.process is None:
            return True
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def analyzer_info(self) -> analyzer_pb2.AnalyzerInfo:
        return self._call("GetAnalyzerInfo", empty_pb2.Empty(), timeout=self.start_timeout)  # type: ignore[no-any-return]

    def plugin_info(self) -> plugin_pb2.PluginInfo:
        return self._call("GetPluginInfo", empty_pb2.Empty(), timeout=self.start_timeout)  # type: ignore[no-any-return]

    def configure(self, policy_config: Mapping[str, analyzer_pb2.PolicyConfig]) -> None:
        if policy_config:
            self._call("Configure", analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=policy_config))

    def analyze(self, request: analyzer_pb2.AnalyzeRequest) -> analyzer_pb2.AnalyzeResponse:
        return self._call("Analyze", request, what=f" for {request.urn}")  # type: ignore[no-any-return]

    def remediate(self, request: analyzer_pb2.AnalyzeRequest) -> analyzer_pb2.RemediateResponse:
        return self._call("Remediate", request, what=f" for {request.urn}")  # type: ignore[no-any-return]

    def analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest) -> analyzer_pb2.AnalyzeResponse:
        return self._call("AnalyzeStack", request)  # type: ignore[no-any-return]
