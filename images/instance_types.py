"""EC2's own data about GPU instance types, generated into images/gpu_instance_types.json.

``mlenv images refresh-instance-types`` calls EC2 ``DescribeInstanceTypes`` (``refresh_instance_types``)
and writes the NVIDIA GPU instance types to a JSON file committed to the repository
(``write_instance_types``). Plan time reads that file (``load_instance_types``, ``gpu_info``), so planning
needs no cloud access and nobody hand-types GPU models, counts or memory sizes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from images.errors import CatalogError

DEFAULT_INSTANCE_TYPES_PATH = Path(__file__).with_name("gpu_instance_types.json")
GPU_MANUFACTURER = "NVIDIA"
SCHEMA_VERSION = 1


class _Paginator(Protocol):
    def paginate(self) -> Iterable[Mapping[str, Any]]: ...


class Ec2Client(Protocol):
    """The part of a boto3 EC2 client this module uses."""

    @property
    def meta(self) -> Any: ...

    def get_paginator(self, operation_name: Literal["describe_instance_types"]) -> _Paginator: ...


@dataclass(frozen=True)
class GpuInstanceType:
    """What EC2 reports about one NVIDIA GPU instance type."""

    instance_type: str
    gpu_manufacturer: str
    gpu_model: str
    gpu_count: int
    """Physical GPUs; 0 for fractional-GPU types (g6f), whose share is ``gpu_partition_size``."""
    logical_gpu_count: int
    gpu_partition_size: float
    """Fraction of one GPU per logical GPU: 1.0 for whole GPUs, 0.125 for an eighth."""
    gpu_memory_mib: int
    """Memory of each GPU (or GPU partition)."""
    total_gpu_memory_mib: int
    vcpus: int
    memory_mib: int
    efa_supported: bool
    max_efa_interfaces: int
    cpu_architectures: tuple[str, ...]


def _gpu_record(item: Mapping[str, Any]) -> GpuInstanceType | None:
    """The record for one ``DescribeInstanceTypes`` item, or None if it has no NVIDIA GPU."""
    gpu_info = item.get("GpuInfo") or {}
    gpus = [g for g in gpu_info.get("Gpus", []) if g.get("Manufacturer") == GPU_MANUFACTURER]
    if not gpus or len({g.get("Name") for g in gpus}) != 1 or len(gpus) != len(gpu_info.get("Gpus", [])):
        # No NVIDIA GPU, or a mix of models/vendors that one flat record cannot describe (EC2 has none).
        return None
    first = gpus[0]
    count = sum(int(g.get("Count", 0)) for g in gpus)
    network = item.get("NetworkInfo") or {}
    efa_supported = bool(network.get("EfaSupported", False))
    return GpuInstanceType(
        instance_type=item["InstanceType"],
        gpu_manufacturer=first["Manufacturer"],
        gpu_model=first["Name"],
        gpu_count=count,
        logical_gpu_count=sum(int(g.get("LogicalGpuCount", g.get("Count", 0))) for g in gpus),
        gpu_partition_size=float(first.get("GpuPartitionSize", 1.0)),
        gpu_memory_mib=int(first["MemoryInfo"]["SizeInMiB"]),
        total_gpu_memory_mib=int(gpu_info["TotalGpuMemoryInMiB"]),
        vcpus=int(item["VCpuInfo"]["DefaultVCpus"]),
        memory_mib=int(item["MemoryInfo"]["SizeInMiB"]),
        efa_supported=efa_supported,
        max_efa_interfaces=int((network.get("EfaInfo") or {}).get("MaximumEfaInterfaces", 0))
        if efa_supported
        else 0,
        cpu_architectures=tuple(sorted(item.get("ProcessorInfo", {}).get("SupportedArchitectures", []))),
    )


def gpu_instance_types_from(items: Iterable[Mapping[str, Any]]) -> dict[str, GpuInstanceType]:
    """The NVIDIA GPU instance types among ``DescribeInstanceTypes`` items, sorted by name."""
    records = (record for item in items if (record := _gpu_record(item)) is not None)
    return {record.instance_type: record for record in sorted(records, key=lambda r: r.instance_type)}


def refresh_instance_types(ec2_client: Ec2Client, *, today: dt.date | None = None) -> dict[str, Any]:
    """Fetch every instance type from EC2 (all pages) and return the document to write: ``generated_at``,
    ``source`` and the NVIDIA GPU instance types. Botocore errors propagate to the caller."""
    paginator = ec2_client.get_paginator("describe_instance_types")
    items = (item for page in paginator.paginate() for item in page.get("InstanceTypes", []))
    records = gpu_instance_types_from(items)
    meta = ec2_client.meta
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": (today or dt.datetime.now(dt.UTC).date()).isoformat(),
        "source": {
            "api": "ec2:DescribeInstanceTypes",
            "region": meta.region_name,
            "endpoint_url": meta.endpoint_url,
            "filter": f"GpuInfo.Gpus[].Manufacturer == {GPU_MANUFACTURER}",
        },
        "instance_types": {name: _to_json(record) for name, record in records.items()},
    }


def _to_json(record: GpuInstanceType) -> dict[str, Any]:
    data = asdict(record)
    del data["instance_type"]  # it is the key
    data["cpu_architectures"] = list(record.cpu_architectures)
    return data


def write_instance_types(path: Path | str, data: Mapping[str, Any]) -> None:
    """Write the document atomically (temp file + rename) in a stable order with one trailing newline,
    so a refresh that finds nothing new changes only ``generated_at`` in the diff."""
    path = Path(path)
    # Provenance first so a reader sees when and where the data came from; records sorted by name.
    head = {key: data[key] for key in ("schema_version", "generated_at", "source") if key in data}
    records = data.get("instance_types", {})
    ordered = {
        **head,
        **{key: value for key, value in data.items() if key not in head and key != "instance_types"},
        "instance_types": {name: dict(sorted(records[name].items())) for name in sorted(records)},
    }
    text = json.dumps(ordered, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class InstanceTypeData:
    """The loaded data file: when and where it was generated, and the GPU instance types."""

    generated_at: str
    source: Mapping[str, Any]
    instance_types: Mapping[str, GpuInstanceType]
    path: str

    def gpu_info(self, instance_type: str) -> GpuInstanceType:
        """The GPU facts of an instance type; ``CatalogError`` if it is unknown or has no NVIDIA GPU."""
        if instance_type in self.instance_types:
            return self.instance_types[instance_type]
        close = difflib.get_close_matches(instance_type, list(self.instance_types), n=4, cutoff=0.6)
        hint = f" Close matches: {', '.join(close)}." if close else ""
        family = instance_type.split(".", 1)[0]
        if family in NVIDIA_FAMILIES_WITHOUT_RECORDS:
            what = (
                f"{instance_type!r} has NVIDIA {NVIDIA_FAMILIES_WITHOUT_RECORDS[family]} GPUs, but the GPU "
                "instance data has no record of it"
            )
            fix = (
                "Run `mlenv images refresh-instance-types` against an account that lists it, or choose a "
                "type listed there."
            )
        elif _is_ec2_instance_type(instance_type):
            what = f"{instance_type!r} is an EC2 instance type without NVIDIA GPUs"
            fix = "GPU node pools need an instance type with NVIDIA GPUs."
        else:
            what = f"{instance_type!r} is not an EC2 instance type"
            fix = "If EC2 has added it since, run `mlenv images refresh-instance-types`."
        raise CatalogError(
            f"{what} (GPU instance types: {self.path}, generated {self.generated_at}).{hint} {fix}"
        )


NVIDIA_FAMILIES_WITHOUT_RECORDS: Mapping[str, str] = {"p2": "K80", "p3": "V100", "g3": "M60", "g3s": "M60"}
"""Older NVIDIA families that EC2's DescribeInstanceTypes data used here (moto's) has no GpuInfo for,
so a p3.2xlarge is not called "without NVIDIA GPUs" (docs.aws.amazon.com/ec2/latest/instancetypes/ac.html)."""


def _is_ec2_instance_type(name: str) -> bool:
    """Whether botocore's EC2 service model lists ``name``; only used to word an error message."""
    import botocore.session
    from botocore.model import StringShape

    shape = botocore.session.get_session().get_service_model("ec2").shape_for("InstanceType")
    return isinstance(shape, StringShape) and name in (shape.enum or [])


def parse_instance_types(data: Mapping[str, Any], source: str = "<data>") -> InstanceTypeData:
    """Build ``InstanceTypeData`` from a written document; ``CatalogError`` if it is malformed."""
    try:
        if data["schema_version"] != SCHEMA_VERSION:
            raise CatalogError(
                f"{source}: schema_version {data['schema_version']!r}, expected {SCHEMA_VERSION}"
            )
        records = {
            name: GpuInstanceType(
                instance_type=name, **{**fields, "cpu_architectures": tuple(fields["cpu_architectures"])}
            )
            for name, fields in data["instance_types"].items()
        }
        return InstanceTypeData(
            generated_at=str(data["generated_at"]), source=data["source"], instance_types=records, path=source
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise CatalogError(
            f"{source}: not a GPU instance-type file ({type(exc).__name__}: {exc}); "
            "regenerate it with `mlenv images refresh-instance-types`"
        ) from None


def load_instance_types(path: Path | str | None = None) -> InstanceTypeData:
    """Load the generated file; without ``path``, images/gpu_instance_types.json, once per process."""
    if path is None:
        return _load_default()
    return _load(Path(path))


@functools.cache
def _load_default() -> InstanceTypeData:
    return _load(DEFAULT_INSTANCE_TYPES_PATH)


def _load(path: Path) -> InstanceTypeData:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(
            f"cannot read {path}: {exc.strerror or exc}; "
            "generate it with `mlenv images refresh-instance-types`"
        ) from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON: {exc}") from None
    return parse_instance_types(data, source=str(path))


def gpu_info(instance_type: str) -> GpuInstanceType:
    """GPU facts of an instance type from the committed data file (``CatalogError`` if not a GPU type)."""
    return load_instance_types().gpu_info(instance_type)


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh wrote: where, how many GPU instance types, and which GPU models."""

    path: Path
    count: int
    gpu_models: tuple[str, ...]


def refresh_command(
    region: str, endpoint_url: str | None = None, output: Path | str | None = None
) -> RefreshResult:
    """The logic of `mlenv images refresh-instance-types`: fetch from EC2 in ``region`` (or a compatible
    endpoint such as a moto server) and write ``output`` (default: the committed data file).

    AWS failures (credentials, network, API errors) become ``InstanceTypesRefreshError``.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from images.errors import InstanceTypesRefreshError

    path = Path(output) if output is not None else DEFAULT_INSTANCE_TYPES_PATH
    if not path.parent.is_dir():
        raise CatalogError(f"cannot write {path}: directory {path.parent} does not exist")
    where = endpoint_url or f"EC2 in {region}"
    try:
        client = boto3.session.Session().client("ec2", region_name=region, endpoint_url=endpoint_url)
        data = refresh_instance_types(client)
    except (BotoCoreError, ClientError) as exc:
        raise InstanceTypesRefreshError(
            f"could not describe instance types from {where}: {exc}. Check AWS credentials "
            "(any identity with ec2:DescribeInstanceTypes) and network access; nothing was written."
        ) from None
    if not data["instance_types"]:
        raise InstanceTypesRefreshError(
            f"{where} reported no NVIDIA GPU instance types; refusing to overwrite {path} with an empty list"
        )
    write_instance_types(path, data)
    models = sorted({record["gpu_model"] for record in data["instance_types"].values()})
    return RefreshResult(path=path, count=len(data["instance_types"]), gpu_models=tuple(models))
