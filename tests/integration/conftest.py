"""A real moto server on 127.0.0.1 for every boto3 test: real HTTP, real botocore serialisation."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

MOTO_REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start one moto server for the test session on a free loopback port and stop it afterwards."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


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
