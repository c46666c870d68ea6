"""Kubernetes pod security: the restricted Pod Security Standard, with catalog-stated exceptions.

Each control of the restricted profile is its own policy, so a finding names exactly what to
change. The only exceptions are the ones images/catalog.yaml states: a ``system`` container with a
``privileged_reason`` (the NVIDIA device plugin) is exempt from the privilege, host and non-root
controls. An image that runs as root by default is no exception: the workload sets a non-root
user (the catalog's ``user``, or mlenv's non-root UID). A namespace that enforces less than
``restricted`` must hold only workloads with a ``privileged_reason`` (``namespace-pod-security``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from images.catalog import ContainerImage
from policies import resource_types as T
from policies.joins import of_type
from policies.policy_types import Report, ResourcePolicy, StackPolicy
from policies.properties import get, mappings, strings
from policies.workloads import catalog_container, containers, images_of, parse_image, pod_spec

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
ALLOWED_ADDED_CAPABILITIES = ("NET_BIND_SERVICE",)
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


def _catalog_entry(container: Mapping[str, Any]) -> ContainerImage | None:
    image = get(container, "image")
    return catalog_container(parse_image(image)) if isinstance(image, str) else None


def privileged_exempt(container: Mapping[str, Any]) -> bool:
    """The catalog states why this container needs privileges (``privileged_reason``)."""
    entry = _catalog_entry(container)
    return entry is not None and entry.privileged_reason is not None


def _pod(args: ResourceValidationArgs) -> Any:
    pod = pod_spec(args.resource_type, args.props)
    if pod is None:
        args.not_applicable("the workload has no pod spec")
    return pod


def _containers(
    args: ResourceValidationArgs, exempt: Callable[[Mapping[str, Any]], bool]
) -> Iterator[tuple[Any, Mapping[str, Any]]]:
    pod = _pod(args)
    for container in containers(pod):
        if not exempt(container):
            yield pod, container


def check_not_privileged(args: ResourceValidationArgs, report: Report) -> None:
    """No privileged containers, no privilege escalation."""
    if args.resource_type not in T.WORKLOADS:
        return
    for _, container in _containers(args, privileged_exempt):
        name = get(container, "name")
        if get(container, "securityContext.privileged") is True:
            report(
                f"container {name}: remove securityContext.privileged (or state a "
                "privileged_reason in the catalog)"
            )
        if get(container, "securityContext.allowPrivilegeEscalation") is not False:
            report(f"container {name}: set securityContext.allowPrivilegeEscalation=False")


pods_not_privileged = ResourcePolicy(
    name="pods-not-privileged",
    description=(
        "Containers are not privileged and cannot gain privileges, so a compromise stays in the container."
    ),
    check=check_not_privileged,
)


def check_run_as_non_root(args: ResourceValidationArgs, report: Report) -> None:
    """Containers run as non-root (pod or container level), never as UID 0."""
    if args.resource_type not in T.WORKLOADS:
        return
    for pod, container in _containers(args, privileged_exempt):
        name = get(container, "name")
        own = get(container, "securityContext.runAsNonRoot")
        non_root = own if own is not None else get(pod, "securityContext.runAsNonRoot")
        user = get(container, "securityContext.runAsUser")
        user = user if user is not None else get(pod, "securityContext.runAsUser")
        if non_root is not True or user == 0:
            report(f"container {name}: set securityContext.runAsNonRoot=True (and no runAsUser 0)")


pods_run_as_non_root = ResourcePolicy(
    name="pods-run-as-non-root",
    description="Containers run as a non-root user unless the catalog states why one needs privileges.",
    check=check_run_as_non_root,
)


def check_drop_capabilities(args: ResourceValidationArgs, report: Report) -> None:
    """Containers drop ALL capabilities and add back at most NET_BIND_SERVICE."""
    if args.resource_type not in T.WORKLOADS:
        return
    for _, container in _containers(args, privileged_exempt):
        name = get(container, "name")
        if "ALL" not in strings(get(container, "securityContext.capabilities.drop")):
            report(f"container {name}: set securityContext.capabilities.drop=['ALL']")
        added = [
            c
            for c in strings(get(container, "securityContext.capabilities.add"))
            if c not in ALLOWED_ADDED_CAPABILITIES
        ]
        if added:
            report(f"container {name}: remove added capabilities {', '.join(added)}")


pods_drop_all_capabilities = ResourcePolicy(
    name="pods-drop-all-capabilities",
    description="Containers drop every Linux capability, so they cannot change the node's network or kernel.",
    check=check_drop_capabilities,
)


def check_seccomp(args: ResourceValidationArgs, report: Report) -> None:
    """Containers run under the RuntimeDefault (or a Localhost) seccomp profile."""
    if args.resource_type not in T.WORKLOADS:
        return
    for pod, container in _containers(args, privileged_exempt):
        own = get(container, "securityContext.seccompProfile.type")
        profile = own if own is not None else get(pod, "securityContext.seccompProfile.type")
        if profile not in SECCOMP_TYPES:
            report(
                f"container {get(container, 'name')}: set "
                "securityContext.seccompProfile.type='RuntimeDefault'"
            )


pods_seccomp_runtime_default = ResourcePolicy(
    name="pods-seccomp-runtime-default",
    description="Containers run under a seccomp profile, so they cannot make arbitrary system calls.",
    check=check_seccomp,
)


def check_no_host_namespaces(args: ResourceValidationArgs, report: Report) -> None:
    """No host network, PID or IPC namespace, no hostPath volumes, no host ports."""
    if args.resource_type not in T.WORKLOADS:
        return
    pod = _pod(args)
    if all(privileged_exempt(c) for c in containers(pod)) and any(True for _ in containers(pod)):
        args.not_applicable("every container has a privileged_reason in images/catalog.yaml")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if get(pod, flag) is True:
            report(f"remove {flag}: pods share nothing with the node")
    for volume in mappings(get(pod, "volumes")):
        if get(volume, "hostPath") is not None:
            report(
                f"volume {get(volume, 'name')}: replace the hostPath volume (emptyDir, a PVC or a CSI volume)"
            )
    for container in containers(pod):
        for port in mappings(get(container, "ports")):
            if get(port, "hostPort"):
                report(
                    f"container {get(container, 'name')}: remove hostPort {get(port, 'hostPort')}; "
                    "expose a Service"
                )


pods_no_host_namespaces = ResourcePolicy(
    name="pods-no-host-namespaces",
    description="Pods do not share the node's network, processes, IPC or filesystem.",
    check=check_no_host_namespaces,
)


def _namespace_of(resource: PolicyResource) -> Any:
    if resource.resource_type == T.HELM_RELEASE:
        return get(resource.props, "namespace")
    return get(resource.props, "metadata.namespace")


def _entries(resource: PolicyResource) -> list[ContainerImage | None]:
    return [
        catalog_container(parse_image(ref)) for _, ref in images_of(resource.resource_type, resource.props)
    ]


def check_namespace_pod_security(args: StackValidationArgs, report: Report) -> None:
    """Namespaces enforce restricted, or a lower level only for catalog-stated workloads."""
    namespaces = of_type(args.resources, T.K8S_NAMESPACE)
    if not namespaces:
        args.not_applicable("the stack creates no Kubernetes namespace")
    tenants = of_type(args.resources, *T.WORKLOADS, T.HELM_RELEASE)
    for namespace in namespaces:
        level = get(namespace.props, ("metadata", "labels", ENFORCE_LABEL))
        name = get(namespace.props, "metadata.name")
        if level == "restricted":
            continue
        if level not in ("baseline", "privileged"):
            report(f"namespace {name}: label it {ENFORCE_LABEL}=restricted", namespace.urn)
            continue
        entries = [e for t in tenants if _namespace_of(t) == name for e in _entries(t)]
        if not (entries and all(e is not None and e.privileged_reason for e in entries)):
            report(
                f"namespace {name} enforces {level}: only workloads whose every image has a "
                "privileged_reason in images/catalog.yaml may run below restricted; enforce restricted",
                namespace.urn,
            )


namespace_pod_security = StackPolicy(
    name="namespace-pod-security",
    description="Namespaces enforce the restricted Pod Security Standard unless the catalog states why not.",
    check=check_namespace_pod_security,
)
