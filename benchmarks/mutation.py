"""Do the tests bite? Weaken one hardening default at a time and see whether the suite notices.

Each mutation replaces one exact snippet in one file of a temporary copy of the repository (never
the working tree), runs the tests that should catch it (``pytest -x``, with the copy first on
``PYTHONPATH`` so the mutated code is what runs), and counts it *killed* when they fail. A snippet
no longer found (the code moved on) is reported as *stale*, not as killed: fix the list. Prints
the kill rate over the applicable mutations and the survivors. Target: 100 %.

Run: `make mutation` or `.venv/bin/python -m benchmarks.mutation [--only ID ...] [--list]`.
Not part of `make test` (it runs the relevant tests once per mutation). Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"
)
TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` by ``new`` (exactly once) in ``path``; ``tests`` should then fail."""

    id: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


UNIT_SPEC = ("tests/unit/test_limits.py", "tests/unit/test_spec.py")
MUTATIONS: tuple[Mutation, ...] = (
    # Kubernetes scheduling and rollout defaults
    Mutation(
        "gpu-taint-effect",
        "components/scheduling.py",
        'GPU_TAINT_EFFECT: Final = "NoSchedule"',
        'GPU_TAINT_EFFECT: Final = "PreferNoSchedule"',
        ("tests/components/test_gpu_node_pool.py", "tests/components/test_serving.py"),
    ),
    Mutation(
        "gpu-pool-label",
        "components/scheduling.py",
        'LABEL_POOL: Final = "mlenv.io/pool"',
        'LABEL_POOL: Final = "pool"',
        ("tests/components/test_emitted_names.py", "tests/components/test_gpu_node_pool.py"),
    ),
    Mutation(
        "serving-rollout-max-unavailable",
        "components/serving.py",
        "max_surge=1, max_unavailable=0",
        "max_surge=1, max_unavailable=1",
        ("tests/components/test_serving.py",),
    ),
    Mutation(
        "serving-read-only-root",
        "components/serving_specs.py",
        "read_only_root_filesystem=True",
        "read_only_root_filesystem=False",
        ("tests/components/test_serving.py",),
    ),
    Mutation(
        "serving-not-privileged",
        "components/serving_specs.py",
        "privileged=False,\n        read_only_root_filesystem=True,",
        "privileged=None,\n        read_only_root_filesystem=True,",
        ("tests/components/test_serving.py",),
    ),
    # EKS and nodes
    Mutation(
        "eks-support-type",
        "components/cluster.py",
        'support_type="STANDARD"',
        'support_type="EXTENDED"',
        ("tests/components/test_cluster.py",),
    ),
    Mutation(
        "imds-tokens-required",
        "components/nodes.py",
        'http_tokens="required"',
        'http_tokens="optional"',
        ("tests/components/test_gpu_node_pool.py", "tests/components/test_cluster.py"),
    ),
    Mutation(
        "imds-hop-limit",
        "components/nodes.py",
        "IMDS_HOP_LIMIT = 1",
        "IMDS_HOP_LIMIT = 2",
        ("tests/components/test_gpu_node_pool.py", "tests/components/test_cluster.py"),
    ),
    Mutation(
        "root-volume-encrypted",
        "components/nodes.py",
        'encrypted="true"',
        'encrypted="false"',
        ("tests/components/test_gpu_node_pool.py", "tests/components/test_cluster.py"),
    ),
    # Network paths (issue 16)
    Mutation(
        "dynamodb-endpoint-private-dns",
        "components/vpc_endpoints.py",
        '"dynamodb": InterfaceEndpoint(private_dns=False)',
        '"dynamodb": InterfaceEndpoint(private_dns=True)',
        ("tests/components/test_online_store_paths.py",),
    ),
    Mutation(
        "dynamodb-endpoint-url-every-model",
        "components/serving.py",
        "self._dynamodb_endpoint_url if spec.uses_features else None",
        "self._dynamodb_endpoint_url",
        ("tests/components/test_online_store_paths.py",),
    ),
    Mutation(
        "redis-port-not-opened",
        "components/data_serving_wiring.py",
        'return (REDIS_PORT,) if store is not None and store.online_store == "redis" else ()',
        "return ()",
        ("tests/components/test_online_store_paths.py",),
    ),
    # Storage
    Mutation(
        "ecr-immutable",
        "components/artifact_store.py",
        'image_tag_mutability="IMMUTABLE"',
        'image_tag_mutability="MUTABLE"',
        ("tests/components/test_artifact_store.py",),
    ),
    Mutation(
        "dynamodb-pitr",
        "components/tables.py",
        "point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True)",
        "point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=False)",
        ("tests/components/test_feature_store.py", "tests/components/test_environment_wiring.py"),
    ),
    Mutation(
        "stateful-protect",
        "components/stateful.py",
        "protect=long_lived, retain_on_delete=long_lived",
        "protect=False, retain_on_delete=long_lived",
        ("tests/components/test_artifact_store.py", "tests/components/test_feature_store.py"),
    ),
    # Experiments: GC boundaries
    Mutation(
        "gc-expiry-boundary",
        "stacks/experiments/gc.py",
        "if record.expires_at > now:",
        "if record.expires_at > now - self.settings.lease:",
        ("tests/integration/test_experiment_gc.py",),
    ),
    Mutation(
        "gc-failure-cap",
        "stacks/experiments/gc.py",
        "if record.failures >= cap:",
        "if record.failures > cap:",
        ("tests/integration/test_experiment_gc.py",),
    ),
    # Spec-time limits (stacks/spec/limits.py, name_rules.py, network_rules.py)
    Mutation(
        "s3-name-length",
        "stacks/spec/limits.py",
        '"S3 bucket name",\n        63,',
        '"S3 bucket name",\n        69,',
        UNIT_SPEC,
    ),
    Mutation(
        "autoname-suffix",
        "stacks/spec/limits.py",
        "AUTONAME_SUFFIX_LENGTH = 8",
        "AUTONAME_SUFFIX_LENGTH = 1",
        UNIT_SPEC,
    ),
    Mutation(
        "s3-reserved-prefixes",
        "stacks/spec/limits.py",
        'forbidden_prefixes=("xn--", "sthree-", "amzn-s3-demo-"),',
        'forbidden_prefixes=("xn--",),',
        UNIT_SPEC,
    ),
    Mutation(
        "kubelet-label-domains",
        "stacks/spec/limits.py",
        'RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io",',
        'RESERVED_LABEL_DOMAINS = ("k8s.io",',
        UNIT_SPEC,
    ),
    Mutation(
        "max-tags",
        "stacks/spec/limits.py",
        "MAX_TAGS_PER_RESOURCE = 50",
        "MAX_TAGS_PER_RESOURCE = 60",
        UNIT_SPEC,
    ),
    Mutation(
        "public-endpoint-width",
        "stacks/spec/limits.py",
        "WIDEST_PUBLIC_ACCESS_ADDRESSES = 2**24",
        "WIDEST_PUBLIC_ACCESS_ADDRESSES = 2**31",
        UNIT_SPEC,
    ),
    Mutation(
        "urn-collisions",
        "stacks/spec/name_rules.py",
        "        if len(paths) > 1:",
        "        if len(paths) > 2:",
        UNIT_SPEC,
    ),
    Mutation(
        "service-cidr-overlap",
        "stacks/spec/network_rules.py",
        "    if vpc.overlaps(SERVICE_CIDR):",
        "    if vpc == SERVICE_CIDR:",
        UNIT_SPEC,
    ),
    Mutation(
        "region-partition",
        "stacks/spec/limits.py",
        'PARTITION = "aws"',
        'PARTITION = "aws-us-gov"',
        UNIT_SPEC,
    ),
    Mutation(
        "owner-label-ascii",
        "components/tags.py",
        "c if (c.isascii() and c.isalnum())",
        "c if c.isalnum()",
        ("tests/unit/test_stack_file.py",),
    ),
    # Stack files, plans, the pack
    Mutation(
        "yaml-duplicate-keys",
        "stacks/offline/stack_yaml.py",
        "        if first != line:",
        "        if False:",
        ("tests/unit/test_stack_file.py",),
    ),
    Mutation(
        "plan-duplicate-urns",
        "stacks/check/plan_integrity.py",
        "for urn, n in urns.items() if n > 1",
        "for urn, n in urns.items() if n > 2",
        ("tests/integration/test_check_inputs.py",),
    ),
    Mutation(
        "pack-open-endpoint",
        "policies/compute.py",
        "WIDEST_IPV4_ADDRESSES = 2**24",
        "WIDEST_IPV4_ADDRESSES = 2**32",
        ("tests/policies/test_policies.py",),
    ),
    Mutation(
        "waiver-dates-as-text",
        "policies/waiver_file.py",
        "raw = yaml.load(text, Loader=_DatesAsText)",
        "raw = yaml.safe_load(text)",
        ("tests/policies/test_waivers.py",),
    ),
)


def _mutate(copy: Path, mutation: Mutation) -> bool:
    path = copy / mutation.path
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if text.count(mutation.old) != 1:
        return False
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")
    return True


def _run(copy: Path, mutation: Mutation) -> tuple[str, float]:
    """'killed', 'survived' or 'stale', and the seconds the tests took."""
    original = (
        {mutation.path: (copy / mutation.path).read_bytes()} if (copy / mutation.path).is_file() else {}
    )
    if not _mutate(copy, mutation):
        return "stale", 0.0
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        outcome = "survived" if result.returncode == 0 else "killed"
        if result.returncode not in (0, 1):  # usage/collection errors are not a kill
            outcome = f"error (pytest exit {result.returncode})"
    except subprocess.TimeoutExpired:
        outcome = "killed (timeout)"
    finally:
        for relative, data in original.items():
            (copy / relative).write_bytes(data)
    return outcome, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only these mutation ids")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.id in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.id:34} {m.path}: {m.old.strip()!r} -> {m.new.strip()!r}")
        return
    results: list[tuple[Mutation, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="mlenv-mutation-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(REPO, copy, ignore=COPY_IGNORE)
        baseline = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co", *UNIT_SPEC],
            cwd=copy,
            env={**os.environ, "PYTHONPATH": str(copy)},
            capture_output=True,
            check=False,
        )
        if baseline.returncode != 0:
            print("the unmutated copy does not collect its tests; fix that first", file=sys.stderr)
            raise SystemExit(1)
        for mutation in chosen:
            outcome, seconds = _run(copy, mutation)
            results.append((mutation, outcome, seconds))
            print(f"  {outcome:10} {seconds:6.1f}s  {mutation.id}", flush=True)
    applicable = [r for r in results if r[1] != "stale"]
    killed = [r for r in applicable if r[1].startswith("killed")]
    rate = 100 * len(killed) / len(applicable) if applicable else 0.0
    stale = len(results) - len(applicable)
    print(f"\nmutation kill rate: {len(killed)}/{len(applicable)} = {rate:.0f} % (stale: {stale})")
    for mutation, outcome, _ in results:
        if not outcome.startswith("killed"):
            print(f"  {outcome}: {mutation.id} ({mutation.path}) -> run {' '.join(mutation.tests)}")


if __name__ == "__main__":
    main()
