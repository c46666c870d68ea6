"""What to build and how: the inputs of an image template and of `mlenv images build SPEC`.

A template is rendered from an ``ImageTarget`` (what goes into the image: driver, kernel, containers)
and ``BuildParams`` (how Packer builds it: pinned source AMI, regions, builder instance type, fabric
manager and EFA on or off). Both come either from an existing catalog entry (``target_for_entry``,
``params_for_entry``: re-rendering a recorded build) or from a build spec file (``load_build_spec``:
a new build, see images/builds/README.md for the format).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from images.catalog import (
    AmiId,
    Catalog,
    CatalogId,
    ContainerImage,
    CudaVersion,
    DriverVersion,
    ImageEntry,
    KubernetesVersion,
    Region,
    Text,
)
from images.errors import BuildSpecError

# The builder instance type only needs to compile kernel modules and pull containers, not a GPU; a
# GPU type is still the default so the driver's module loads and `nvidia-smi` can be checked.
DEFAULT_BUILD_INSTANCE_TYPE = "g5.2xlarge"
# Versions of components the catalog does not track per image; one place, recorded in provenance.
DEFAULT_CONTAINER_TOOLKIT_VERSION = "1.17.8"
DEFAULT_EFA_INSTALLER_VERSION = "1.43.1"

InstanceType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]
PackageVersion = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+){1,3}$")]
KmsKey = Annotated[str, StringConstraints(pattern=r"^(arn:aws[a-z-]*:kms:\S+|alias/\S+|[0-9a-f-]{36})$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuildParams(_Frozen):
    """How Packer builds an image. Only ``source_ami`` and ``regions`` have no default."""

    source_ami: AmiId
    """The EKS-optimized AL2023 NVIDIA AMI to start from, by id (never a "most recent" filter)."""
    regions: tuple[Region, ...] = Field(min_length=1)
    """Where the AMI must exist; Packer builds in the first and copies to the others."""
    instance_type: InstanceType = DEFAULT_BUILD_INSTANCE_TYPE
    """Builder instance type; default g5.2xlarge."""
    fabric_manager: bool = False
    """Install NVIDIA Fabric Manager, needed by NVSwitch instances (p4d, p4de, p5, p5e, p5en).
    Off by default: on other instances the service fails to start."""
    efa: bool = False
    """Install the EFA software (for pools using Elastic Fabric Adapter). Off by default."""
    kernel_modules: Literal["open", "proprietary"] = "open"
    """NVIDIA kernel module flavour; default open (Turing and newer). Volta (V100) needs proprietary."""
    root_volume_gib: int = Field(default=100, ge=30, le=2048)
    """Encrypted gp3 root volume size of the AMI; default 100 GiB (pre-pulled images are large)."""
    kms_key_id: KmsKey | None = None
    """KMS key for the root volume; by default the account's EBS default key."""
    container_toolkit_version: PackageVersion = DEFAULT_CONTAINER_TOOLKIT_VERSION
    """NVIDIA container toolkit version installed and locked."""
    efa_installer_version: PackageVersion = DEFAULT_EFA_INSTALLER_VERSION
    """aws-efa-installer version, used only when ``efa`` is on."""

    @model_validator(mode="after")
    def _distinct_regions(self) -> BuildParams:
        if len(set(self.regions)) != len(self.regions):
            raise ValueError("regions lists the same region twice")
        return self

    @property
    def build_region(self) -> str:
        """The region Packer launches the builder in."""
        return self.regions[0]


class NewImage(_Frozen):
    """The catalog fields of an image that does not exist yet (``amis`` and ``provenance`` come from
    the build)."""

    id: CatalogId
    description: Text | None = None
    os_family: Literal["amazon-linux-2023"] = "amazon-linux-2023"
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    driver_version: DriverVersion
    cuda_max: CudaVersion
    kernel: Text
    kubernetes_version: KubernetesVersion
    containers: tuple[CatalogId, ...] = ()


class BuildSpec(_Frozen):
    """A build spec file: the new catalog entry (``image``) and how to build it (``build``)."""

    image: NewImage
    build: BuildParams


class ImageTarget(_Frozen):
    """Everything the template puts into an image, with container references resolved."""

    id: CatalogId
    description: str | None
    architecture: Literal["x86_64", "arm64"]
    driver_version: str
    cuda_max: str
    kernel: str
    kubernetes_version: str
    containers: tuple[ContainerImage, ...]


def target_for_entry(entry: ImageEntry | NewImage, catalog: Catalog) -> ImageTarget:
    """The template target of an image; ``CatalogError`` if it names an unknown container."""
    return ImageTarget(
        id=entry.id,
        description=entry.description,
        architecture=entry.architecture,
        driver_version=entry.driver_version,
        cuda_max=entry.cuda_max,
        kernel=entry.kernel,
        kubernetes_version=entry.kubernetes_version,
        containers=tuple(catalog.container(cid) for cid in entry.containers),
    )


def params_for_entry(entry: ImageEntry, *, source_ami: str | None = None, **overrides: Any) -> BuildParams:
    """Build parameters that reproduce a catalog entry: its regions, and the source AMI its provenance
    records (or ``source_ami`` for hand-registered entries, which have none)."""
    recorded = entry.provenance.source_ami if entry.provenance else None
    ami = source_ami or recorded
    if ami is None:
        raise BuildSpecError(
            f"image {entry.id!r} has no recorded source AMI (it was registered by hand, not built by "
            "`mlenv images build`); pass the EKS-optimized AL2023 NVIDIA AMI to start from, e.g. "
            "--source-ami ami-0123456789abcdef0"
        )
    try:
        return BuildParams(source_ami=ami, regions=tuple(entry.amis), **overrides)
    except ValidationError as exc:
        raise _spec_error(f"build parameters for {entry.id}", exc) from None


def parse_build_spec(text: str, source: str = "<string>") -> BuildSpec:
    """Validate build spec YAML; every problem is reported at once in one ``BuildSpecError``."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BuildSpecError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise BuildSpecError(f"{source}: expected a mapping with `image` and `build` (see images/builds/)")
    try:
        return BuildSpec.model_validate(raw)
    except ValidationError as exc:
        raise _spec_error(source, exc) from None


def load_build_spec(path: Path | str) -> BuildSpec:
    """Read and validate a build spec file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BuildSpecError(f"cannot read the build spec {path}: {exc.strerror or exc}") from None
    return parse_build_spec(text, source=str(path))


def _spec_error(source: str, error: ValidationError) -> BuildSpecError:
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        got = "" if item["type"] in {"missing", "extra_forbidden"} else f" (got {item.get('input')!r})"
        lines.append(f"  - {where}: {item['msg'].removeprefix('Value error, ')}{got}")
    count = len(lines)
    return BuildSpecError(f"{source}: {count} problem{'s' if count != 1 else ''}\n" + "\n".join(lines))
