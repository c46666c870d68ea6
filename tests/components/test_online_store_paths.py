"""Model servers and the online feature server reach the Feast online store through the network.

The serving namespace denies all egress but DNS, HTTPS to the VPC and what the spec names. A
DynamoDB online store is reached through a DynamoDB interface endpoint (no private DNS, so clients
are pointed at it with the SDKs' ``AWS_ENDPOINT_URL_DYNAMODB``); a Redis one in the private
subnets on its port. Asserted on the real program's plans of dev and prod (DynamoDB), prod with
``online_store: redis`` and dev without a feature store; expectations come from the stack files,
AWS's documented endpoint name shape, botocore's EC2 model, kubernetes-validate and the policy pack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import stacks.offline.engine
from stacks.cli.app import app
from stacks.offline.engine import plan_stack
from stacks.offline.plan import Plan, PlannedResource
from tests.components.compute_helpers import only, spec_of
from tests.oracles.botocore_models import assert_allowed, shape
from tests.oracles.kubernetes import validate

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
EGRESS_POLICY = "allow-dns-and-https-egress"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
"""AWS SDKs and Tools Reference Guide, "Service-specific endpoints": AWS_ENDPOINT_URL_<SERVICE ID>."""
REDIS = 6379
"""ElastiCache Redis's default port (ElastiCache user guide)."""

Edit = Callable[[dict[str, Any]], None]


def _planned(tmp_path: Path, stack: str, edit: Edit) -> Plan:
    source = (stacks.offline.engine.STACKS_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(source)
    edit(document["config"]["mlenv:environment"])
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return plan_stack(stack, stacks_dir=tmp_path)


def _redis(environment: dict[str, Any]) -> None:
    environment["feature_store"]["online_store"] = "redis"


def _no_feature_store(environment: dict[str, Any]) -> None:
    del environment["feature_store"]
    for model in environment["serving"]["models"]:
        model["uses_features"] = False


@pytest.fixture(scope="module")
def redis_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _planned(tmp_path_factory.mktemp("redis"), "prod", _redis)


@pytest.fixture(scope="module")
def storeless_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _planned(tmp_path_factory.mktemp("storeless"), "dev", _no_feature_store)


def dynamodb_endpoints(plan: Plan) -> list[PlannedResource]:
    return [e for e in plan.of_type(ENDPOINT) if e.inputs["serviceName"].endswith(".dynamodb")]


def egress_rules(plan: Plan) -> list[dict[str, Any]]:
    policy = only([p for p in plan.of_type(NETWORK_POLICY) if p.inputs["metadata"]["name"] == EGRESS_POLICY])
    rules: list[dict[str, Any]] = policy.plain_inputs()["spec"]["egress"]
    return rules


def server_env(plan: Plan) -> dict[str, dict[str, str]]:
    """Environment variables of each model server, by model name (serving Deployments only)."""
    spec = spec_of(plan)
    assert spec.serving is not None
    models = {m.name for m in spec.serving.models}
    env: dict[str, dict[str, str]] = {}
    for deployment in plan.of_type(DEPLOYMENT):
        inputs = deployment.plain_inputs()
        if inputs["metadata"]["name"] in models:
            (container,) = inputs["spec"]["template"]["spec"]["containers"]
            env[inputs["metadata"]["name"]] = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert set(env) == models
    return env


def regional_name(endpoint: PlannedResource, region: str) -> re.Pattern[str]:
    """An interface endpoint's regional DNS name: ``vpce-<id>-<suffix>.<service>.<region>.vpce.amazonaws.com``
    (AWS PrivateLink guide, "DNS hostnames"); zonal names add ``-<az>`` after the suffix."""
    return re.compile(
        rf"^https://{re.escape(endpoint.id or '')}-[0-9a-z]+\.dynamodb\.{region}\.vpce\.amazonaws\.com$"
    )


def test_a_dynamodb_store_gets_an_interface_endpoint_without_private_dns(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.feature_store is not None and spec.feature_store.online_store == "dynamodb"
    endpoint = only(dynamodb_endpoints(plan)).plain_inputs()
    assert endpoint["serviceName"] == f"com.amazonaws.{spec.region}.dynamodb"
    assert_allowed(endpoint["vpcEndpointType"], "ec2", "VpcEndpointType")
    assert endpoint["vpcEndpointType"] == "Interface"
    assert endpoint["privateDnsEnabled"] is False
    # Every input is a member of EC2's CreateVpcEndpoint request (tags become TagSpecifications).
    request = shape("ec2", "CreateVpcEndpointRequest")
    members = {name[0].lower() + name[1:] for name in request.members}  # type: ignore[attr-defined]
    assert set(endpoint) - {"tags"} <= members, set(endpoint) - members


def test_models_that_read_features_are_pointed_at_the_endpoint(plan: Plan) -> None:
    spec = spec_of(plan)
    assert spec.serving is not None
    endpoint = only(dynamodb_endpoints(plan))
    url = plan.outputs["feature_store_dynamodb_endpoint"]
    assert regional_name(endpoint, spec.region).match(url), url
    env = server_env(plan)
    features = {m.name for m in spec.serving.models if m.uses_features}
    assert features and {name for name, values in env.items() if ENDPOINT_VARIABLE in values} == features
    assert all(env[name][ENDPOINT_VARIABLE] == url for name in features)
    # The endpoint is reached over HTTPS to the VPC; no further rule is needed.
    assert [rule["ports"] for rule in egress_rules(plan)][1:] == [[{"protocol": "TCP", "port": 443}]]


def test_a_redis_store_opens_its_port_to_the_vpc_and_gets_no_dynamodb_endpoint(redis_plan: Plan) -> None:
    spec = spec_of(redis_plan)
    assert spec.network is not None
    assert not dynamodb_endpoints(redis_plan)
    assert "feature_store_dynamodb_endpoint" not in redis_plan.outputs
    assert not any(ENDPOINT_VARIABLE in values for values in server_env(redis_plan).values())
    *_, redis = egress_rules(redis_plan)
    assert redis == {
        "to": [{"ipBlock": {"cidr": spec.network.cidr}}],
        "ports": [{"protocol": "TCP", "port": REDIS}],
    }
    (policy,) = [
        p for p in redis_plan.of_type(NETWORK_POLICY) if p.inputs["metadata"]["name"] == EGRESS_POLICY
    ]
    validate({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", **policy.plain_inputs()})


def test_without_a_feature_store_neither_path_is_opened(storeless_plan: Plan) -> None:
    assert not dynamodb_endpoints(storeless_plan)
    assert "feature_store_dynamodb_endpoint" not in storeless_plan.outputs
    assert not any(ENDPOINT_VARIABLE in values for values in server_env(storeless_plan).values())
    ports = [[p["port"] for p in rule["ports"]] for rule in egress_rules(storeless_plan)]
    assert ports == [[53, 53], [443]]


@pytest.mark.parametrize("variant", ["redis_plan", "storeless_plan"])
def test_the_pack_passes_each_online_store_variant(
    variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    plan: Plan = request.getfixturevalue(variant)
    saved = tmp_path / "plan.json"
    saved.write_text(plan.to_json(), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--plan", str(saved)])
    assert result.exit_code == 0, result.output
    assert " 0 violations" in result.output.replace("\n", " ")
