"""GPU instance prices: the shipped table (``gpu_prices.json``) and its refresh from the AWS Pricing API.

The shipped table says its region, date and, per instance type, where the price comes from. A refresh asks
the Pricing API for every instance type in the table; when the API is unreachable, refuses, or returns
nothing, the shipped table is used and the reason is kept so a report can say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stacks.experiments.durations import hours

SHIPPED_PRICES = Path(__file__).with_name("gpu_prices.json")

# The Pricing API names regions by location in some documents and by code in others; the
# regionCode attribute is the stable one.
_PRICE_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}


@dataclass(frozen=True)
class InstancePrice:
    """On-demand price of one instance type, and how many GPUs one instance has."""

    instance_type: str
    gpus: int
    usd_per_hour: float
    """USD per instance-hour, on demand."""
    source: str
    """Where the price comes from (a URL, "aws-pricing-api <date>", or why it is unverified)."""
    gpu: str = ""
    """GPU model, e.g. L40S; informational."""


@dataclass(frozen=True)
class PriceTable:
    """Prices of GPU instance types in one region, as of a date."""

    region: str
    as_of: date
    prices: Mapping[str, InstancePrice]
    fallback_reason: str | None = None
    """Set when a refresh fell back to the shipped table: why the API was not used."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def get(self, instance_type: str) -> InstancePrice | None:
        """The price of ``instance_type``, or None when the table does not know it."""
        return self.prices.get(instance_type)


def load_price_table(path: Path = SHIPPED_PRICES) -> PriceTable:
    """Read a price table file (the shipped ``gpu_prices.json`` by default)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    prices = {
        name: InstancePrice(
            instance_type=name,
            gpus=int(entry["gpus"]),
            usd_per_hour=float(entry["usd_per_hour"]),
            source=str(entry.get("source", "")),
            gpu=str(entry.get("gpu", "")),
        )
        for name, entry in raw["instances"].items()
    }
    return PriceTable(region=str(raw["region"]), as_of=date.fromisoformat(str(raw["as_of"])), prices=prices)


def save_price_table(table: PriceTable, path: Path) -> None:
    """Write a table in the shipped format, e.g. after a refresh, so it can replace ``gpu_prices.json``."""
    doc = {
        "region": table.region,
        "currency": "USD",
        "as_of": table.as_of.isoformat(),
        "instances": {
            p.instance_type: {
                "gpus": p.gpus,
                "gpu": p.gpu,
                "usd_per_hour": p.usd_per_hour,
                "source": p.source,
            }
            for p in sorted(table.prices.values(), key=lambda p: p.instance_type)
        },
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def instances_needed(gpus: int, gpus_per_instance: int) -> int:
    """Whole instances a request for ``gpus`` GPUs occupies: EC2 bills instances, not GPUs."""
    return max(1, math.ceil(gpus / max(1, gpus_per_instance)))


def estimate_cost(gpus: int, instance_type: str, elapsed: timedelta, table: PriceTable) -> float | None:
    """USD spent so far: hours x instances x on-demand instance price; None for an unknown instance type."""
    price = table.get(instance_type)
    if price is None:
        return None
    return max(0.0, hours(elapsed)) * instances_needed(gpus, price.gpus) * price.usd_per_hour


def on_demand_price_from_product(document: str | Mapping[str, Any]) -> float | None:
    """The USD hourly on-demand price in one Pricing API product document, or None when it has none."""
    product = json.loads(document) if isinstance(document, str) else document
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and float(usd) > 0:
                return float(usd)
    return None


def fetch_on_demand_price(pricing_client: Any, instance_type: str, region: str) -> float | None:
    """Ask the Pricing API for one instance type's Linux on-demand price in ``region``.

    ``pricing_client`` is a boto3 ``pricing`` client (the API lives in us-east-1 and a few other regions).
    """
    filters = [{"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type}]
    filters.append({"Type": "TERM_MATCH", "Field": "regionCode", "Value": region})
    filters += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in _PRICE_FILTERS.items()]
    paginator = pricing_client.get_paginator("get_products")
    for page in paginator.paginate(ServiceCode="AmazonEC2", Filters=filters, FormatVersion="aws_v1"):
        for document in page.get("PriceList", []):
            price = on_demand_price_from_product(document)
            if price is not None:
                return price
    return None


def refresh_price_table(
    pricing_client: Any, *, shipped: PriceTable | None = None, region: str | None = None, today: date
) -> PriceTable:
    """Prices from the Pricing API for every instance type the shipped table knows; falls back to it.

    Falls back (returning the shipped table with ``fallback_reason`` set) when the API cannot be
    reached or refuses, or when it returns no price at all. Instance types the API has no price for
    keep their shipped price and source.
    """
    base = shipped if shipped is not None else load_price_table()
    target_region = region or base.region
    fetched: dict[str, InstancePrice] = {}
    try:
        for name, entry in base.prices.items():
            usd = fetch_on_demand_price(pricing_client, name, target_region)
            if usd is not None:
                fetched[name] = replace(
                    entry, usd_per_hour=usd, source=f"aws-pricing-api {today.isoformat()}"
                )
    except (ClientError, BotoCoreError) as exc:
        return replace(
            base, fallback_reason=f"AWS Pricing API unavailable ({_short(exc)}); using shipped prices"
        )
    if not fetched:
        return replace(base, fallback_reason="AWS Pricing API returned no prices; using shipped prices")
    merged = {**base.prices, **fetched}
    return PriceTable(region=target_region, as_of=today, prices=merged)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
