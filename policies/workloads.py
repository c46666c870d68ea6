"""What Kubernetes workloads and Helm releases run: pod specs, containers and image references."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from components.scheduling import GPU_RESOURCE, GPU_TAINT_KEY
from images.catalog import ContainerImage, load_catalog
from policies import resource_types as T
from policies.properties import get, mappings, number

DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


@dataclass(frozen=True)
class ImageRef:
    """A container image reference split into its parts."""

    ref: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def registry(self) -> str:
        """``nvcr.io`` for ``nvcr.io/nvidia/x``; ``docker.io`` for Docker Hub names (``vllm/vllm-openai``)."""
        first, _, rest = self.repository.partition("/")
        return first if rest and ("." in first or ":" in first or first == "localhost") else "docker.io"


def parse_image(ref: str) -> ImageRef:
    """``repo:tag@sha256:...`` -> its parts (tag and digest optional)."""
    match = DIGEST.search(ref)
    digest = match.group(1) if match else None
    name = ref[: match.start()] if match else ref
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return ImageRef(ref, name[:colon], name[colon + 1 :], digest)
    return ImageRef(ref, name, None, digest)


def catalog_container(image: ImageRef) -> ContainerImage | None:
    """The catalog container with this repository and digest, if any."""
    for container in load_catalog().containers.values():
        if container.repository == image.repository and container.digest == image.digest:
            return container
    return None


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Any:
    """The pod spec of a workload (None if the type is not a workload or it has none)."""
    path = T.POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    return get(props, ".".join(path))


def containers(pod: Any) -> Iterator[Mapping[str, Any]]:
    """Init containers, then containers, of a pod spec."""
    yield from mappings(get(pod, "initContainers"))
    yield from mappings(get(pod, "containers"))


def release_images(props: Mapping[str, Any]) -> Iterator[str]:
    """Image references a Helm release's values set (``image.repository`` + ``image.tag``/``digest``)."""
    image = get(props, "values.image")
    if not isinstance(image, Mapping):
        return
    repository = get(image, "repository")
    if not isinstance(repository, str):
        return
    tag, digest = get(image, "tag"), get(image, "digest")
    ref = repository + (f":{tag}" if tag else "")
    if digest and "@" not in ref:
        ref += f"@{digest}"
    yield ref


def images_of(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, image reference) of every image a workload or Helm release runs."""
    if resource_type == T.HELM_RELEASE:
        return [("values.image", ref) for ref in release_images(props)]
    pod = pod_spec(resource_type, props)
    found = []
    for container in containers(pod):
        image = get(container, "image")
        found.append((f"container {get(container, 'name')}", image if isinstance(image, str) else ""))
    return found


def gpu_limit(container: Mapping[str, Any]) -> int:
    """The container's ``nvidia.com/gpu`` limit (0 if none)."""
    value = get(container, "resources.limits")
    count = number(value.get(GPU_RESOURCE)) if isinstance(value, Mapping) else None
    return int(count) if count is not None else 0


def pod_gpus(pod: Any) -> int:
    """GPUs one pod needs: its containers' limits (init containers run before them, one at a time)."""
    regular = sum(gpu_limit(c) for c in mappings(get(pod, "containers")))
    init = max((gpu_limit(c) for c in mappings(get(pod, "initContainers"))), default=0)
    return max(regular, init)


def tolerates_gpu_taint(pod: Any) -> bool:
    """Whether the pod tolerates the GPU pools' taint (components/scheduling.py)."""
    return any(
        get(t, "key") == GPU_TAINT_KEY or (get(t, "key") is None and get(t, "operator") == "Exists")
        for t in mappings(get(pod, "tolerations"))
    )
