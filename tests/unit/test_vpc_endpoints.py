"""Pure decisions about the network's interface endpoints and how model servers are pointed at them."""

from __future__ import annotations

import itertools

import pytest

from components.errors import ComponentError
from components.serving_specs import server_env
from components.vpc_endpoints import interface_services, regional_dns_name

# The shapes of AWS's example output for an interface endpoint (describe-vpc-endpoints): the
# regional name, one zonal name per AZ and, with private DNS, the service's own name.
REGIONAL = "vpce-0fe5b17a0707d6abc-29p5708s.dynamodb.us-east-1.vpce.amazonaws.com"
ZONAL_A = "vpce-0fe5b17a0707d6abc-29p5708s-us-east-1a.dynamodb.us-east-1.vpce.amazonaws.com"
ZONAL_B = "vpce-0fe5b17a0707d6abc-29p5708s-us-east-1b.dynamodb.us-east-1.vpce.amazonaws.com"
SERVICE_NAME = "dynamodb.us-east-1.amazonaws.com"


@pytest.mark.parametrize("names", list(itertools.permutations([REGIONAL, ZONAL_A, ZONAL_B, SERVICE_NAME])))
def test_the_regional_name_is_picked_by_shape_in_any_order(names: tuple[str, ...]) -> None:
    assert regional_dns_name(names, "dynamodb") == REGIONAL


@pytest.mark.parametrize(
    "names",
    [
        [ZONAL_A, ZONAL_B, SERVICE_NAME],
        [REGIONAL.replace(".dynamodb.", ".sts."), ZONAL_A],
        [REGIONAL, REGIONAL.replace("29p5708s", "abcdefgh")],
    ],
)
def test_no_or_two_regional_names_is_an_error(names: list[str]) -> None:
    with pytest.raises(ComponentError, match="expected one regional dynamodb endpoint name"):
        regional_dns_name(names, "dynamodb")


def test_s3_and_sts_always_come_first_and_each_service_once() -> None:
    assert interface_services(()) == ("s3", "sts")
    assert interface_services(("dynamodb", "sts", "dynamodb")) == ("s3", "sts", "dynamodb")


def test_a_service_without_settings_is_named() -> None:
    with pytest.raises(ComponentError, match=r"\['kinesis'\]"):
        interface_services(("dynamodb", "kinesis"))


def test_the_dynamodb_endpoint_variable_is_set_only_when_given() -> None:
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in {env.name for env in server_env()}
    url = f"https://{REGIONAL}"
    assert {env.name: env.value for env in server_env(url)}["AWS_ENDPOINT_URL_DYNAMODB"] == url
