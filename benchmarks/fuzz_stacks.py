"""Seeded fuzz of the shipped dev and prod stack files, as a careless or hostile user would edit them.

Each case applies one to three mutations (names near limits, reserved prefixes, non-ASCII, label
injection, CIDRs, regions, sizes, duplicate pools, tag floods, and file-level damage: duplicate keys,
an alias bomb, an empty/null/string environment, a misspelt key, non-UTF-8 bytes) to a copy of a stack
file, loads it as `mlenv plan` does and validates it; a case the spec accepts is planned with the real
program and judged by ``benchmarks.plan_oracle``, which knows nothing of ``stacks.spec``. Prints:
cases, accepted, rejected (exit 2), false accepts (planned although AWS/Kubernetes would refuse),
unexpected outcomes (any other exit code or a traceback), rejections whose message names no field.

Run: `.venv/bin/python -m benchmarks.fuzz_stacks [--cases 3000] [--seed 14]`. Asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from benchmarks.plan_oracle import plan_problems
from stacks.errors import EXIT_BAD_INPUT, MlenvError, SpecError, StackFileError
from stacks.offline.engine import STACKS_DIR, load_stack_config, plan_stack
from stacks.spec.load import parse_environment

Env = dict[str, Any]
NASTY_STRINGS = [
    "a" * 30,
    "b" * 29 + "c",
    "xn--" + "a" * 10,
    "sthree-x",
    "amzn-s3-demo-x",
    "a--b",
    "access-logs",
    "system",
    "jürgen",
    "has space",
    "",
    "UPPER",
    "kube-system",
    "default",
    "nvidia-device-plugin",
    "exp-x",
    "x" * 64,
    "a.b",
    "-a",
]
NASTY_CIDRS = [
    "0.0.0.0/1",
    "128.0.0.0/1",
    "::/0",
    "0.0.0.0/0",
    "127.0.0.0/16",
    "169.254.0.0/16",
    "172.20.0.0/16",
    "172.16.0.0/12",
    "240.0.0.0/16",
    "0.0.0.0/16",
    "100.64.0.0/16",
    "10.0.0.0/8",
    "192.168.0.0/20",
    "203.0.113.0/24",
    "10.0.0.0/24",
    "8.0.0.0/7",
]
NASTY_REGIONS = [
    "us-gov-west-1",
    "cn-north-1",
    "eu-foo-1",
    "us-east-1",
    "eu-west-1",
    "ap-south-2",
    "us-iso-east-1",
]
NASTY_LABELS = [
    ("team", "ml"),
    ("team", "a,b=c"),
    ("", "x"),
    ("a b", "x"),
    ("kubernetes.io/role", "gpu"),
    ("node-role.kubernetes.io/gpu", ""),
    ("example.com/x", "v" * 64),
    ("example.com/x", "jürgen"),
    ("/x", "y"),
    ("mlenv.io/pool", "other"),
    ("karpenter.sh/capacity-type", "spot"),
    ("x" * 64, "y"),
    ("example.com/ok", "fine"),
]
NASTY_INTS = [0, -1, 1, 2, 63, 64, 100, 1000, 1001, 10**9, 2.5, True, None, "3"]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))] + ([path] if path else [])
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))] + ([path] if path else [])
    return [path]


def _set(root: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        root = root[part]
    root[path[-1]] = value


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        root = root[part]
    return root


def mutate_leaf(rng: random.Random, env: Env) -> str:
    path = rng.choice(_leaves(env))
    old = _get(env, path)
    if isinstance(old, (bool, int)):
        new: Any = rng.choice(NASTY_INTS)
    elif isinstance(old, str) and "/" in old and old[0].isdigit():
        new = rng.choice(NASTY_CIDRS)
    elif isinstance(old, str) and old.count("-") == 2 and old[-1].isdigit() and len(old) < 16:
        new = rng.choice(NASTY_REGIONS)
    elif isinstance(old, str):
        new = rng.choice([*NASTY_STRINGS, old + "-" + "z" * rng.randint(1, 30), old.upper()])
    elif isinstance(old, list):
        new = [] if rng.random() < 0.3 else old + copy.deepcopy(old[:1])
    elif isinstance(old, dict):
        new = {**old, "unknwon": 1} if rng.random() < 0.3 else None
    else:
        new = rng.choice(NASTY_STRINGS)
    _set(env, path, new)
    return f"leaf {'.'.join(map(str, path))} = {new!r}"[:120]


def long_names(rng: random.Random, env: Env) -> str:
    env["name"] = rng.choice(["e" * rng.randint(20, 30), "a-" * 14 + "ab", "xn--dev", "sthree-dev", "dev--x"])
    bucket = rng.choice(env["artifacts"]["buckets"])
    bucket["name"] = rng.choice(["b" * rng.randint(20, 30), "models", "access-logs"])
    return f"names {env['name']} / {bucket['name']}"


def pool_labels(rng: random.Random, env: Env) -> str:
    pool = rng.choice(env["gpu_pools"])
    pool["labels"] = dict(rng.sample(NASTY_LABELS, rng.randint(1, 3)))
    return f"labels {pool['labels']}"[:120]


def colliding_pools(rng: random.Random, env: Env) -> str:
    pool = copy.deepcopy(env["gpu_pools"][0])
    stem = "p" * rng.randint(25, 30)
    env["gpu_pools"][0]["name"] = stem[:-1] + "a"
    pool["name"] = stem[:-1] + "b"
    pool.pop("desired_size", None)
    env["gpu_pools"].append(pool)
    env["name"] = "n" * rng.randint(20, 30)
    return "pools that truncate alike"


def cidrs(rng: random.Random, env: Env) -> str:
    if rng.random() < 0.5:
        env["network"]["cidr"] = rng.choice(NASTY_CIDRS)
        return f"vpc {env['network']['cidr']}"
    env["cluster"]["public_access_cidrs"] = rng.sample(NASTY_CIDRS, rng.randint(1, 3))
    return f"public {env['cluster']['public_access_cidrs']}"


def region(rng: random.Random, env: Env) -> str:
    env["region"] = rng.choice(NASTY_REGIONS)
    return f"region {env['region']}"


def tags(rng: random.Random, env: Env) -> str:
    count = rng.choice([40, 44, 45, 46, 60])
    env["tags"] = {f"k{i}": "v" for i in range(count)}
    return f"{count} tags"


def owner_and_namespace(rng: random.Random, env: Env) -> str:
    env["owner"] = rng.choice(["jürgen", "ml-platform", "a" * 64, "o'brien"])
    if "serving" in env:
        namespaces = ["kube-system", "default", "serving", "exp-x", "nvidia-device-plugin"]
        env["serving"]["namespace"] = rng.choice(namespaces)
    return f"owner {env['owner']}"


def redis(rng: random.Random, env: Env) -> str:
    if "feature_store" in env:
        env["feature_store"]["online_store"] = "redis"
    env["name"] = "r" * rng.randint(20, 32)
    return f"redis with env {env['name']}"


ENV_MUTATIONS: list[Callable[[random.Random, Env], str]] = [
    mutate_leaf,
    mutate_leaf,
    mutate_leaf,
    long_names,
    pool_labels,
    colliding_pools,
    cidrs,
    region,
    tags,
    owner_and_namespace,
    redis,
]


def file_damage(rng: random.Random, text: str) -> tuple[bytes, str]:
    kind = rng.choice(["duplicate", "bomb", "empty", "null", "string", "misspelt", "latin1", "list", "tab"])
    if kind == "duplicate":
        return text.replace("    owner:", "    name: again\n    owner:", 1).encode(), kind
    if kind == "bomb":
        lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
        pairs = zip("abcdefgh", "bcdefghi", strict=True)
        lines += [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in pairs]
        return ("\n".join(lines) + "\nconfig:\n  mlenv:environment: *i\n").encode(), kind
    if kind == "empty":
        return b"", kind
    if kind == "null":
        return b"config:\n  mlenv:environment: null\n", kind
    if kind == "string":
        return b"config:\n  mlenv:environment: dev\n", kind
    if kind == "misspelt":
        return text.replace("mlenv:environment", "mlenv:enviroment").encode(), kind
    if kind == "latin1":
        return text.replace("ml-platform", "jürgen").encode("latin-1"), kind
    if kind == "list":
        return b"- config\n", kind
    return text.replace("    name:", "\tname:", 1).encode(), kind


def _apply(rng: random.Random, env: Env) -> str:
    """One mutation; one that no longer fits (an earlier one removed its section) is skipped."""
    mutation = rng.choice(ENV_MUTATIONS)
    try:
        return mutation(rng, env)
    except (KeyError, TypeError, IndexError, AttributeError):
        return f"({mutation.__name__} skipped)"


def run_case(rng: random.Random, base: str, work: Path) -> tuple[str, str, list[str]]:
    """(outcome, description, details) for one case."""
    stack = rng.choice(["dev", "prod"])
    text = (STACKS_DIR / f"Pulumi.{stack}.yaml").read_text()
    if rng.random() < 0.12:
        data, what = file_damage(rng, text)
    else:
        document = yaml.safe_load(text)
        env = document["config"]["mlenv:environment"]
        what = "; ".join(_apply(rng, env) for _ in range(rng.randint(1, 3)))
        data = yaml.safe_dump(document, allow_unicode=True).encode()
    (work / f"Pulumi.{stack}.yaml").write_bytes(data)
    source = f"Pulumi.{stack}.yaml"
    try:
        config, _ = load_stack_config(stack, work)
        parse_environment(json.loads(config["mlenv:environment"]), source=source)
        plan = plan_stack(stack, stacks_dir=work)
    except SpecError as exc:
        unnamed = [p.render() for p in exc.problems if not p.path or p.path == "(root)"]
        return ("unnamed-field" if unnamed else "rejected"), what, unnamed
    except StackFileError as exc:
        return ("rejected" if source in str(exc) else "unnamed-file"), what, [str(exc)[:200]]
    except MlenvError as exc:
        outcome = "rejected" if exc.exit_code == EXIT_BAD_INPUT else f"exit-{exc.exit_code}"
        return outcome, what, [str(exc)[:300]]
    except Exception:
        return "traceback", what, [traceback.format_exc()[-600:]]
    problems = plan_problems(plan)
    return ("false-accept" if problems else "accepted"), what, problems[:5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--show", type=int, default=5, help="examples printed per bad outcome")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for _ in range(args.cases):
            outcome, what, details = run_case(rng, "", work)
            outcomes[outcome] += 1
            if outcome not in ("accepted", "rejected"):
                examples.setdefault(outcome, []).append(f"{what}\n      " + "\n      ".join(details))
    elapsed = time.perf_counter() - started
    print(f"fuzz_stacks: seed {args.seed}, {args.cases} cases in {elapsed:.0f}s")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome:14} {count:6}  ({100 * count / args.cases:.1f} %)")
    for outcome, cases in examples.items():
        print(f"\n{outcome}: first {min(args.show, len(cases))} of {len(cases)}")
        for case in cases[: args.show]:
            print(f"  - {case}")


if __name__ == "__main__":
    main()
