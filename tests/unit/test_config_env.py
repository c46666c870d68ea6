"""A stack config too large for the one environment variable Pulumi passes it in exits 2 at plan time.

The limit is checked against the kernel itself: a child process is started with a variable of
exactly the largest size, and one byte more, as the Pulumi CLI would start the program or a pack.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.errors import EXIT_BAD_INPUT, StackFileError
from stacks.offline.config_env import (
    CONFIG_VARIABLE,
    MAX_ARG_STRLEN,
    config_variable_bytes,
    go_json,
)
from stacks.offline.engine import STACKS_DIR, load_stack_config

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="MAX_ARG_STRLEN is Linux's limit (execve(2))"
)


def _start_with(value: str) -> None:
    subprocess.run(["/bin/true"], env={CONFIG_VARIABLE: value}, check=True)


@linux_only
def test_the_limit_is_the_kernels() -> None:
    largest = "x" * (MAX_ARG_STRLEN - len(CONFIG_VARIABLE) - 2)  # "=" and the NUL
    assert config_variable_bytes({"k": "v"}) == len(f'{CONFIG_VARIABLE}={{"k":"v"}}') + 1
    _start_with(largest)
    with pytest.raises(OSError) as info:
        _start_with(largest + "x")
    assert info.value.errno == errno.E2BIG


def test_go_json_matches_go_marshal_of_a_string_map() -> None:
    # Go's encoding/json sorts map keys, writes no spaces, keeps UTF-8 and escapes <, > and &.
    assert go_json({"b": "<&>", "a": "é"}) == '{"a":"é","b":"\\u003c\\u0026\\u003e"}'


def _stack_with_models(tmp_path: Path, count: int) -> None:
    document = yaml.safe_load((STACKS_DIR / "Pulumi.prod.yaml").read_text())
    models = document["config"]["mlenv:environment"]["serving"]["models"]
    models.extend({**models[0], "name": f"model-{i:05d}"} for i in range(count))
    (tmp_path / "Pulumi.big.yaml").write_text(yaml.safe_dump(document))


def test_a_config_over_the_limit_exits_2_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    _stack_with_models(tmp_path, 1_000)
    with pytest.raises(StackFileError) as info:
        load_stack_config("big", tmp_path)
    message = str(info.value)
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert message.startswith(f"{tmp_path / 'Pulumi.big.yaml'}: config:"), message
    assert "mlenv:environment" in message and "131,072" in message and "Fix: split" in message


def test_a_config_under_the_limit_loads(tmp_path: Path) -> None:
    _stack_with_models(tmp_path, 100)
    config, _ = load_stack_config("big", tmp_path)
    environment = json.loads(config["mlenv:environment"])
    assert len(environment["serving"]["models"]) > 100
    assert config_variable_bytes(config) < MAX_ARG_STRLEN
