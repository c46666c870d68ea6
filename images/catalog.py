"""The approved-image catalog (images/catalog.yaml): typed, validated once, read by pure lookups.

``load_catalog()`` parses and validates the whole file and reports every problem at once as a
``CatalogError``; the default catalog is loaded once per process. Lookups (``Catalog.image``,
``Catalog.ami``, ``Catalog.container``, ``Catalog.chart``) raise ``CatalogError`` naming what was asked
for and listing what exists, so a stack-file typo is fixed without opening the catalog.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from images.errors import CatalogError
from images.strict_yaml import load_yaml_strict, validation_problems

DEFAULT_CATALOG_PATH = Path(__file__).with_name("catalog.yaml")

# Formats. Kept public so other modules (spec validation, policies) check the same shapes.
AMI_ID_PATTERN = r"^ami-[0-9a-f]{17}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
# NVIDIA Linux driver versions are "branch.minor[.patch]", e.g. 570.26 or 580.95.05.
DRIVER_VERSION_PATTERN = r"^[0-9]{3,4}\.[0-9]{1,3}(\.[0-9]{1,3})?$"
CUDA_VERSION_PATTERN = r"^[0-9]{1,2}\.[0-9]{1,2}$"
KUBERNETES_VERSION_PATTERN = r"^1\.[0-9]{1,2}$"
# Image and container ids end up as Kubernetes label values and in node-group names: 63 chars max.
ID_PATTERN = r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"
REPOSITORY_PATTERN = r"^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
# Charts are pinned to one exact release, never a range.
CHART_VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$"

AmiId = Annotated[str, StringConstraints(pattern=AMI_ID_PATTERN)]
Digest = Annotated[str, StringConstraints(pattern=DIGEST_PATTERN)]
DriverVersion = Annotated[str, StringConstraints(pattern=DRIVER_VERSION_PATTERN)]
CudaVersion = Annotated[str, StringConstraints(pattern=CUDA_VERSION_PATTERN)]
KubernetesVersion = Annotated[str, StringConstraints(pattern=KUBERNETES_VERSION_PATTERN)]
CatalogId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]

# What a user reads instead of a regular expression when a value has the wrong shape (also used by the
# build spec loader).
VALUE_FORMATS = {
    AMI_ID_PATTERN: "an AMI id: 'ami-' followed by 17 lowercase hex digits",
    DIGEST_PATTERN: "a digest: 'sha256:' followed by 64 lowercase hex digits",
    DRIVER_VERSION_PATTERN: 'a full NVIDIA driver version such as "580.95.05"',
    CUDA_VERSION_PATTERN: 'a CUDA version "major.minor" such as "12.8"',
    KUBERNETES_VERSION_PATTERN: 'a Kubernetes version "1.minor" such as "1.33"',
    ID_PATTERN: "an id of lowercase letters, digits, '.' and '-' (at most 63, alphanumeric at both ends)",
    REGION_PATTERN: "an AWS region such as us-east-1",
    CHART_VERSION_PATTERN: "one exact chart version such as 0.17.4 (no ranges)",
}

Purpose = Literal["training", "serving", "system"]
WORKLOAD_PURPOSES: frozenset[str] = frozenset({"training", "serving"})


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


KernelModules = Literal["open", "proprietary"]
"""NVIDIA kernel module flavour: open (Turing and newer, required by Blackwell) or proprietary (Volta)."""


class Provenance(_Frozen):
    """How an image was built. ``mlenv images build`` writes every field; hand-registered entries record
    at least ``source_ami``. A field left out is unknown, never a default."""

    source_ami: AmiId | None = None
    built_at: datetime | None = None
    packer_version: Text | None = None
    template: Text | None = None
    build_id: Text | None = None
    # The digests actually pulled into containerd at build time, per container id: the containers table
    # says what should be there, this records what was baked in.
    container_digests: dict[CatalogId, Digest] = Field(default_factory=dict)
    # Build options, so that re-rendering an entry's template reproduces what was built.
    fabric_manager: bool | None = None
    efa: bool | None = None
    kernel_modules: KernelModules | None = None


class ImageEntry(_Frozen):
    """One golden-image build: driver, CUDA ceiling, kernel, Kubernetes version and AMIs per region."""

    id: CatalogId
    description: Text | None = None
    os_family: Literal["amazon-linux-2023"]
    architecture: Literal["x86_64", "arm64"]
    driver_version: DriverVersion
    cuda_max: CudaVersion
    kernel: Text
    kubernetes_version: KubernetesVersion
    amis: dict[Region, AmiId] = Field(min_length=1)
    containers: tuple[CatalogId, ...] = ()
    provenance: Provenance | None = None

    @property
    def driver_branch(self) -> int:
        """The driver's release branch, e.g. 580 for 580.95.05."""
        return int(self.driver_version.split(".", 1)[0])

    @model_validator(mode="after")
    def _id_names_driver_and_kubernetes(self) -> ImageEntry:
        # The id is what stacks pin; making it carry the driver branch and Kubernetes version means an
        # in-place edit of either field without a new id is caught here instead of silently rolling nodes.
        problems = []
        if f"-nvidia-{self.driver_branch}-" not in self.id:
            problems.append(f"id must contain '-nvidia-{self.driver_branch}-' (driver {self.driver_version})")
        if f"-k8s{self.kubernetes_version}-" not in self.id:
            problems.append(f"id must contain '-k8s{self.kubernetes_version}-' (kubernetes_version)")
        if len(set(self.containers)) != len(self.containers):
            problems.append("containers lists the same container twice")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ContainerImage(_Frozen):
    """A container image pinned by digest, with the CUDA runtime it carries."""

    id: CatalogId
    repository: Annotated[str, StringConstraints(pattern=REPOSITORY_PATTERN)]
    tag: Annotated[str, StringConstraints(pattern=TAG_PATTERN)]
    digest: Digest
    cuda: CudaVersion | None = None
    cudnn: Text | None = None
    purpose: Purpose
    run_as_non_root: bool
    user: Annotated[int, Field(ge=1, le=2147483647)] | None = None
    """The numeric UID of the image's default user, recorded where it is not root."""
    privileged_reason: Text | None = None

    @property
    def ref(self) -> str:
        """The reference to deploy: ``repository:tag@sha256:...``; the runtime pulls by the digest."""
        return f"{self.repository}:{self.tag}@{self.digest}"

    @model_validator(mode="after")
    def _purpose_rules(self) -> ContainerImage:
        if self.purpose in WORKLOAD_PURPOSES and self.cuda is None:
            raise ValueError(f"a {self.purpose} container must state the CUDA runtime it carries (cuda)")
        if self.run_as_non_root and self.user is None:
            # runAsNonRoot with a named (non-numeric) image user makes the kubelet refuse the pod
            # ("image has non-numeric user ... cannot verify user is non-root"), so record the UID.
            raise ValueError("run_as_non_root: true needs the default user's numeric UID (user)")
        if not self.run_as_non_root and self.user is not None:
            raise ValueError("user is recorded only for images whose default user is not root")
        if self.privileged_reason is not None and self.purpose != "system":
            # Exemptions from restricted pod security are for cluster components, never for workloads.
            raise ValueError("privileged_reason is only allowed for purpose: system")
        return self


class HelmChart(_Frozen):
    """A Helm chart pinned to one exact version, and the catalog container it deploys."""

    name: CatalogId
    repository: Annotated[str, StringConstraints(pattern=r"^(https|oci)://\S+$")]
    """An https:// chart repository, or an oci:// registry path (the chart is ``<repository>/<chart>``)."""
    chart: CatalogId
    version: Annotated[str, StringConstraints(pattern=CHART_VERSION_PATTERN)]
    container: CatalogId

    @property
    def oci(self) -> bool:
        """Whether the chart is an OCI artifact (Helm installs it as ``oci://.../<chart>``, no repo)."""
        return self.repository.startswith("oci://")

    @property
    def reference(self) -> str:
        """What Helm installs: ``oci://<registry path>/<chart>`` for OCI charts, else the chart name."""
        return f"{self.repository}/{self.chart}" if self.oci else self.chart


def _with_ids(table: Any) -> Any:
    """Copy each table key into its entry's ``id``/``name`` so entries are self-describing."""
    if not isinstance(table, Mapping):
        return table
    return {
        key: {"id": key, **value} if isinstance(value, Mapping) else value for key, value in table.items()
    }


class Catalog(_Frozen):
    """The whole catalog; construct it with ``load_catalog``."""

    schema_version: Literal[1]
    images: tuple[ImageEntry, ...]
    containers: dict[CatalogId, ContainerImage]
    helm_charts: dict[CatalogId, HelmChart] = Field(default_factory=dict)
    _source: str = PrivateAttr(default="images/catalog.yaml")

    @model_validator(mode="before")
    @classmethod
    def _inject_ids(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        data["containers"] = _with_ids(data.get("containers"))
        charts = data.get("helm_charts")
        if isinstance(charts, Mapping):
            data["helm_charts"] = {
                key: {"name": key, **value} if isinstance(value, Mapping) else value
                for key, value in charts.items()
            }
        return data

    @model_validator(mode="after")
    def _cross_references(self) -> Catalog:
        problems: list[str] = []
        if not self.images:
            problems.append("images: the catalog needs at least one image")
        for image_id in _duplicates(image.id for image in self.images):
            problems.append(f"image id {image_id!r} appears more than once (a new build needs a new id)")
        owners: dict[str, str] = {}
        for image in self.images:
            for region, ami in image.amis.items():
                if ami in owners:
                    problems.append(
                        f"AMI {ami} ({image.id}, {region}) is also listed by {owners[ami]}: "
                        "each build has its own AMIs"
                    )
                owners.setdefault(ami, f"{image.id}, {region}")
            for container_id in image.containers:
                if container_id not in self.containers:
                    problems.append(
                        f"image {image.id!r} lists unknown container {container_id!r}; "
                        f"known containers: {', '.join(sorted(self.containers))}"
                    )
        for key, container in self.containers.items():
            if container.id != key:
                problems.append(f"containers.{key}: id {container.id!r} differs from its key")
        for name, chart in self.helm_charts.items():
            if chart.name != name:
                problems.append(f"helm_charts.{name}: name {chart.name!r} differs from its key")
            if chart.container not in self.containers:
                problems.append(f"helm chart {name!r} deploys unknown container {chart.container!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def source(self) -> str:
        """Where this catalog was loaded from, for error messages."""
        return self._source

    @property
    def image_ids(self) -> tuple[str, ...]:
        """Every image id, in file order."""
        return tuple(image.id for image in self.images)

    def image(self, image_id: str) -> ImageEntry:
        """The entry with this id; ``CatalogError`` naming the known ids if there is none."""
        for image in self.images:
            if image.id == image_id:
                return image
        raise _unknown("image id", image_id, self.image_ids, self.source)

    def ami(self, image_id: str, region: str) -> str:
        """The AMI id of an image in a region; ``CatalogError`` if the image has no AMI there."""
        image = self.image(image_id)
        if region in image.amis:
            return image.amis[region]
        elsewhere = ", ".join(sorted(image.amis))
        alternatives = [other.id for other in self.images if region in other.amis]
        hint = (
            f"images with an AMI in {region}: {', '.join(alternatives)}"
            if alternatives
            else f"no image in the catalog has an AMI in {region}; build one with `mlenv images build`"
        )
        raise CatalogError(
            f"image {image_id!r} has no AMI in region {region!r} (it has AMIs in: {elsewhere}); {hint}"
        )

    def container(self, container_id: str) -> ContainerImage:
        """The container with this id; ``CatalogError`` naming the known ids if there is none."""
        if container_id in self.containers:
            return self.containers[container_id]
        raise _unknown("container id", container_id, sorted(self.containers), self.source)

    def containers_of(self, image_id: str) -> tuple[ContainerImage, ...]:
        """The containers pre-pulled into an image, in the entry's order."""
        return tuple(self.containers[cid] for cid in self.image(image_id).containers)

    def workload_cudas(self, image_id: str) -> tuple[str, ...]:
        """The distinct CUDA versions of an image's training and serving containers, lowest first."""
        cudas = {c.cuda for c in self.containers_of(image_id) if c.purpose in WORKLOAD_PURPOSES and c.cuda}
        return tuple(sorted(cudas, key=lambda v: tuple(int(p) for p in v.split("."))))

    def chart(self, name: str) -> HelmChart:
        """The pinned Helm chart with this name; ``CatalogError`` naming the known charts if there is none."""
        if name in self.helm_charts:
            return self.helm_charts[name]
        raise _unknown("helm chart", name, sorted(self.helm_charts), self.source)

    def images_in_region(self, region: str) -> tuple[ImageEntry, ...]:
        """Entries that have an AMI in ``region``, in file order."""
        return tuple(image for image in self.images if region in image.amis)


def _duplicates(values: Iterable[Hashable]) -> list[Hashable]:
    seen: set[Hashable] = set()
    dupes: list[Hashable] = []
    for value in values:
        if value in seen and value not in dupes:
            dupes.append(value)
        seen.add(value)
    return dupes


def _unknown(kind: str, name: str, known: Sequence[str], source: str) -> CatalogError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return CatalogError(
        f"unknown {kind} {name!r} (not in {source}).{hint} Known: {', '.join(known) or '(none)'}"
    )


def parse_catalog(text: str, source: str = "<string>") -> Catalog:
    """Validate catalog YAML text; every problem is reported at once in one ``CatalogError``."""
    try:
        raw = load_yaml_strict(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{source}: expected a mapping with images, containers and helm_charts")
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        lines = validation_problems(exc, raw, VALUE_FORMATS)
        count = len(lines)
        raise CatalogError(
            f"{source}: {count} problem{'s' if count != 1 else ''} in the image catalog\n"
            + "\n".join(f"  - {line}" for line in lines)
        ) from None
    catalog._source = source
    return catalog


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Load and validate a catalog file; without ``path``, images/catalog.yaml, loaded once per process."""
    if path is None:
        return _load_default()
    return _load(Path(path))


@functools.cache
def _load_default() -> Catalog:
    return _load(DEFAULT_CATALOG_PATH)


def _load(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read the image catalog {path}: {exc.strerror or exc}") from None
    return parse_catalog(text, source=str(path))
