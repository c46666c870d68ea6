"""Stack files are read strictly: every problem exits 2, names the file, and all are listed at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.tags import Tagging
from stacks.errors import EXIT_BAD_INPUT, StackFileError
from stacks.offline.engine import STACKS_DIR, load_stack_config
from tests.unit.test_limits import karpenter_label_reference

DEV = (STACKS_DIR / "Pulumi.dev.yaml").read_text()
BOMB = "\n".join(
    ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    + ["config:", "  mlenv:environment: *i", ""]
)

CASES = {
    "duplicate key": (
        DEV.replace("    owner:", "    name: again\n    owner:", 1),
        ["line 8: duplicate key 'name' (first at line 6)"],
    ),
    "alias bomb": (BOMB, ["aliases expand to more than"]),
    "empty": ("", ["the file is empty"]),
    "comments only": ("# nothing\n", ["the file is empty"]),
    "null environment": ("config:\n  mlenv:environment: null\n", ["must be a mapping", "nothing (null)"]),
    "string environment": ("config:\n  mlenv:environment: dev\n", ["must be a mapping", "a str ('dev')"]),
    "misspelt key": (
        DEV.replace("mlenv:environment", "mlenv:enviroment"),
        [
            "'mlenv:enviroment' is not one mlenv reads (did you mean 'mlenv:environment'?)",
            "has no 'mlenv:environment'",
        ],
    ),
    "list": ("- config\n", ["the top level is a list"]),
    "config list": ("config: [a]\n", ["'config' must map namespaced keys"]),
    "bad yaml": ("config: {a: [}\n", ["not valid YAML"]),
    "unknown top-level key": ("confg:\n  x: 1\n", ["unknown top-level key 'confg' (did you mean 'config'?)"]),
}


def _load(tmp_path: Path, content: bytes) -> StackFileError:
    (tmp_path / "Pulumi.s.yaml").write_bytes(content)
    with pytest.raises(StackFileError) as info:
        load_stack_config("s", tmp_path)
    return info.value


@pytest.mark.parametrize("case", sorted(CASES))
def test_stack_file_problems_exit_2_naming_the_file(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    error = _load(tmp_path, text.encode())
    assert error.exit_code == EXIT_BAD_INPUT
    message = str(error)
    assert message.startswith(str(tmp_path / "Pulumi.s.yaml")) or message.startswith("Pulumi.s.yaml"), message
    for part in expected:
        assert part in message, message


def test_non_utf8_names_the_byte(tmp_path: Path) -> None:
    error = _load(tmp_path, DEV.replace("ml-platform", "jürgen").encode("latin-1"))
    assert "not UTF-8 text (byte" in str(error)
    assert error.exit_code == EXIT_BAD_INPUT


def test_every_problem_of_a_file_is_listed(tmp_path: Path) -> None:
    text = "confg: 1\nconfig:\n  mlenv:enviroment: {}\n  other: 2\n"
    message = str(_load(tmp_path, text.encode()))
    assert "4 problems in the stack file" in message
    for part in ("'confg'", "'mlenv:enviroment'", "'other'", "has no 'mlenv:environment'"):
        assert part in message


def test_two_duplicates_are_both_reported(tmp_path: Path) -> None:
    text = DEV.replace("    owner:", "    name: again\n    owner:", 1).replace(
        "    kind:", "    region: x\n    kind:", 1
    )
    message = str(_load(tmp_path, text.encode()))
    assert "duplicate key 'name'" in message and "duplicate key 'region'" in message


def test_shipped_stack_files_load() -> None:
    for stack in ("dev", "prod", "experiment"):
        config, _ = load_stack_config(stack)
        assert "mlenv:environment" in config


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_owner_labels_are_valid_for_any_owner(owner: str) -> None:
    pattern, max_length, _ = karpenter_label_reference()
    value = Tagging(stack="dev", owner=owner).labels("c")["mlenv.io/owner"]
    assert len(value) <= max_length and pattern.fullmatch(value), value
