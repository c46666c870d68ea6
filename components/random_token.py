"""RandomToken: a random secret generated once, kept in the Pulumi state, never regenerated.

Why a dynamic provider: the ElastiCache auth token must be random, stable across updates and
known to Pulumi (to hand to Feast) without living in a stack file. pulumi-random would do it but
is not a dependency; a provider *function* (e.g. ``aws.secretsmanager.get_random_password``)
returns a new value on every run, which would rotate the token, and restart clients, on every
``pulumi up``. A dynamic resource generates the value in ``create`` only, so it changes only when
the resource is replaced, and its output is registered as a secret, so the state encrypts it.
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

TOKEN_BYTES = 48
"""48 random bytes -> 64 URL-safe characters: inside ElastiCache's 16..128, none of @ " /."""


def new_token(num_bytes: int = TOKEN_BYTES) -> str:
    """A URL-safe token from the OS CSPRNG."""
    return secrets.token_urlsafe(num_bytes)


class _RandomTokenProvider(ResourceProvider):
    """Generates the token on create; every other operation keeps it."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"token-{secrets.token_hex(8)}", outs={**props, "token": new_token()})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = olds.get("purpose") != news.get("purpose")
        return DiffResult(changes=changed, replaces=["purpose"] if changed else [])


class RandomToken(Resource):
    """A random token for ``purpose``; ``token`` is a secret Output."""

    token: pulumi.Output[str]

    def __init__(self, name: str, *, purpose: str, opts: pulumi.ResourceOptions | None = None) -> None:
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["token"])
        super().__init__(
            _RandomTokenProvider(),
            name,
            {"purpose": purpose, "token": None},
            pulumi.ResourceOptions.merge(opts, secret_opts),
        )
