"""A real moto server on 127.0.0.1 for every boto3 test: real HTTP, real botocore serialisation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

MOTO_REGION = "us-east-1"


class OneRequestAtATime:
    """WSGI wrapper that lets moto handle one request at a time.

    DynamoDB runs each request (a TransactWriteItems included) atomically; moto does not: a
    transaction that fails restores a deep copy of the whole table taken when it started, which
    undoes any transaction that committed in between. Serialising requests gives moto the per-request
    atomicity the real service guarantees, while clients still race each other request by request.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start one moto server (as moto's ThreadedMotoServer does, with requests serialised) for the
    test session on a free loopback port, and stop it afterwards."""
    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake, clearly non-production credentials so no real account can ever be reached."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", MOTO_REGION)


@pytest.fixture
def boto_session(aws_env: None, moto_endpoint: str) -> boto3.Session:
    """A boto3 session; pass ``endpoint_url=moto_endpoint`` to every client made from it."""
    return boto3.Session(region_name=MOTO_REGION)


@pytest.fixture
def reset_moto(moto_endpoint: str) -> Iterator[None]:
    """Give a test a clean moto backend (moto's documented reset endpoint)."""
    import urllib.request

    yield
    req = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass
