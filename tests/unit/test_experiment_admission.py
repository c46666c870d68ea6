"""The experiment's ValidatingAdmissionPolicy, evaluated by a CEL interpreter (cel-python) on pods.

The API server evaluates these expressions with cel-go; cel-python implements the same CEL
specification (macros ``has``/``exists``, ``in`` on maps), so a rule that admits or rejects a pod
here does the same there. The scheduling side uses Kubernetes' toleration-matching rule.
"""

from __future__ import annotations

from typing import Any

import celpy
import pytest
from celpy.adapter import json_to_cel

from components.experiment_slice import (
    SYSTEM_NAMESPACES,
    admission_binding_spec,
    admission_policy_spec,
    node_labels,
    taint,
    toleration,
)
from components.scheduling import GPU_TAINT_EFFECT, GPU_TAINT_KEY, LABEL_POOL
from images.catalog import load_catalog
from images.instance_types import load_instance_types

EXPERIMENT = "churn"
OWN = {"mlenv.io/experiment": EXPERIMENT}


def admitted(namespace: str, pod_spec: dict[str, Any], experiment: str = EXPERIMENT) -> bool:
    """Whether every validation of ``experiment``'s policy passes for a pod created in ``namespace``."""
    environment = celpy.Environment()
    activation = {
        "object": json_to_cel({"apiVersion": "v1", "kind": "Pod", "spec": pod_spec}),
        "request": json_to_cel({"namespace": namespace, "operation": "CREATE"}),
    }
    results = []
    for validation in admission_policy_spec(experiment)["validations"]:
        program = environment.program(environment.compile(validation["expression"]))
        result = program.evaluate(activation)
        assert isinstance(result, celpy.celtypes.BoolType), (validation["expression"], result)
        results.append(bool(result))
    return all(results)


def pod(
    node_selector: dict[str, str] | None = None, tolerations: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "example"}]}
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return spec


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        (pod(OWN, [toleration(EXPERIMENT)]), True),
        (pod({**OWN, "mlenv.io/gpu-product": "L40S"}), True),
        (pod(), False),  # selects nothing: could land on any node it tolerates
        (pod({"mlenv.io/experiment": "other"}), False),
        (pod({LABEL_POOL: "serving"}, [{"key": GPU_TAINT_KEY, "operator": "Exists"}]), False),
    ],
)
def test_pods_in_the_namespace_must_select_their_own_pool(spec: dict[str, Any], allowed: bool) -> None:
    assert admitted(f"exp-{EXPERIMENT}", spec) is allowed


@pytest.mark.parametrize(
    ("tolerations", "allowed"),
    [
        ([], True),
        ([{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}], True),
        ([toleration("another-experiment")], True),  # another experiment's own pods
        ([toleration(EXPERIMENT)], False),
        ([{"key": "mlenv.io/experiment", "operator": "Exists"}], False),
        ([{"operator": "Exists"}], False),  # tolerates every taint
        ([{"key": "", "operator": "Exists", "effect": "NoSchedule"}], False),
    ],
)
def test_pods_elsewhere_may_not_tolerate_the_experiment_taint(
    tolerations: list[dict[str, str]], allowed: bool
) -> None:
    assert admitted("serving", pod({LABEL_POOL: "serving"}, tolerations)) is allowed


def test_another_experiments_pods_are_left_to_their_own_policy() -> None:
    theirs = pod({"mlenv.io/experiment": "other"}, [toleration("other")])
    assert admitted("exp-other", theirs, experiment=EXPERIMENT)
    assert admitted("exp-other", theirs, experiment="other")


def test_the_binding_denies_everywhere_but_the_system_daemonsets_namespaces() -> None:
    binding = admission_binding_spec(EXPERIMENT, "mlenv-exp-churn")
    assert binding["validationActions"] == ["Deny"]
    (expression,) = binding["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert expression == {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system", "nvidia-device-plugin"],
    }
    assert tuple(expression["values"]) == SYSTEM_NAMESPACES


def tolerates(rule: dict[str, str], node_taint: dict[str, str]) -> bool:
    """Kubernetes' matching rule (k8s.io/api core/v1 Toleration.ToleratesTaint)."""
    if rule.get("effect") and rule["effect"] != node_taint["effect"]:
        return False
    if rule.get("operator") == "Exists":
        return not rule.get("key") or rule["key"] == node_taint["key"]
    return rule.get("key") == node_taint["key"] and rule.get("value", "") == node_taint.get("value", "")


@pytest.mark.parametrize("name", ["serving", "training", "gpu", "exp-serving"])
def test_an_experiment_named_like_a_platform_pool_attracts_nothing_of_the_platform(name: str) -> None:
    """Serving pods select ``mlenv.io/pool=<pool>`` and tolerate the GPU taint: an experiment's nodes
    carry neither that label nor that taint, whatever the experiment is called."""
    image = load_catalog().image("al2023-nvidia-580-k8s1.33-20251020")
    labels = node_labels(name, image, load_instance_types().gpu_info("g6e.xlarge"))
    assert LABEL_POOL not in labels
    serving_pod: dict[str, Any] = {
        "nodeSelector": {LABEL_POOL: name},
        "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists"}],
    }
    assert not all(labels.get(k) == v for k, v in serving_pod["nodeSelector"].items())
    assert not any(tolerates(t, taint(name)) for t in serving_pod["tolerations"])
    assert tolerates(toleration(name), taint(name))
