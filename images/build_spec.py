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
    VALUE_FORMATS,
    AmiId,
    Catalog,
    CatalogId,
    ContainerImage,
    CudaVersion,
    DriverVersion,
    ImageEntry,
    KernelModules,
    KubernetesVersion,
    Region,
    Text,
)
from images.errors import BuildSpecError
from images.strict_yaml import load_yaml_strict, validation_problems

# The builder instance type only needs to compile kernel modules and pull containers, not a GPU; a
# GPU type is still the default so the driver's module loads and `nvidia-smi` can be checked.
DEFAULT_BUILD_INSTANCE_TYPE = "g5.2xlarge"
# Versions of components the catalog does not track per image; one place, recorded in provenance.
DEFAULT_CONTAINER_TOOLKIT_VERSION = "1.17.8"
DEFAULT_EFA_INSTALLER_VERSION = "1.43.1"
# Build options a catalog entry's provenance records; re-rendering the entry uses them.
_RECORDED_OPTIONS = ("fabric_manager", "efa", "kernel_modules")

INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
PACKAGE_VERSION_PATTERN = r"^[0-9]+(\.[0-9]+){1,3}$"
KMS_KEY_PATTERN = r"^(arn:aws[a-z-]*:kms:\S+|alias/\S+|[0-9a-f-]{36})$"
InstanceType = Annotated[str, StringConstraints(pattern=INSTANCE_TYPE_PATTERN)]
PackageVersion = Annotated[str, StringConstraints(pattern=PACKAGE_VERSION_PATTERN)]
KmsKey = Annotated[str, StringConstraints(pattern=KMS_KEY_PATTERN)]
_FORMATS = {
    **VALUE_FORMATS,
    INSTANCE_TYPE_PATTERN: "an EC2 instance type such as g5.2xlarge",
    PACKAGE_VERSION_PATTERN: 'a package version such as "1.17.8" (quoted)',
    KMS_KEY_PATTERN: "a KMS key ARN, alias/NAME or key id",
}


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
    kernel_modules: KernelModules = "open"
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
    """Build parameters that reproduce a catalog entry: its regions, and the source AMI and build
    options (fabric manager, EFA, kernel modules) its provenance records. ``source_ami`` and
    ``overrides`` that are not ``None`` replace the recorded values; what is recorded nowhere takes
    ``BuildParams``' default."""
    recorded = entry.provenance.model_dump(exclude_none=True) if entry.provenance else {}
    ami = source_ami or recorded.get("source_ami")
    if ami is None:
        raise BuildSpecError(
            f"image {entry.id!r} has no recorded source AMI (provenance.source_ami in the catalog); "
            "pass the EKS-optimized AL2023 NVIDIA AMI to start from, e.g. "
            "--source-ami ami-0123456789abcdef0"
        )
    options = {key: recorded[key] for key in _RECORDED_OPTIONS if key in recorded}
    options |= {key: value for key, value in overrides.items() if value is not None}
    try:
        return BuildParams(source_ami=ami, regions=tuple(entry.amis), **options)
    except ValidationError as exc:
        raise _spec_error(f"build parameters for {entry.id}", exc) from None


def parse_build_spec(text: str, source: str = "<string>") -> BuildSpec:
    """Validate build spec YAML; every problem is reported at once in one ``BuildSpecError``.
    Duplicate keys are errors (YAML would silently keep the last one)."""
    try:
        raw = load_yaml_strict(text)
    except yaml.YAMLError as exc:
        raise BuildSpecError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise BuildSpecError(f"{source}: expected a mapping with `image` and `build` (see images/builds/)")
    try:
        return BuildSpec.model_validate(raw)
    except ValidationError as exc:
        raise _spec_error(source, exc, raw) from None


def load_build_spec(path: Path | str) -> BuildSpec:
    """Read and validate a build spec file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BuildSpecError(f"cannot read the build spec {path}: {exc.strerror or exc}") from None
    return parse_build_spec(text, source=str(path))


def _spec_error(source: str, error: ValidationError, raw: Any = None) -> BuildSpecError:
    lines = validation_problems(error, raw, _FORMATS)
    count = len(lines)
    return BuildSpecError(
        f"{source}: {count} problem{'s' if count != 1 else ''}\n" + "\n".join(f"  - {line}" for line in lines)
    )
