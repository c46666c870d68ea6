"""The README and `--help` agree: every `mlenv ...` example names a real command and real options.

A README example that a user copies and that fails (an option renamed, a command gone) is the first
thing a new user meets; the README is parsed here and each example is checked against the command's
own `--help`. README links stay inside the repository (a clone has nothing beside it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stacks.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"
GROUPS = {"images", "exp"}
"""Command groups: their first word after `mlenv` is a group, the second a command."""
runner = CliRunner()


def examples() -> list[str]:
    """`mlenv ...` examples: inline code spans and lines of sh code blocks (comments dropped)."""
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"`(mlenv [^`]+)`", text)
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        found += [line.split("#", 1)[0].strip() for line in block.splitlines() if line.startswith("mlenv ")]
    return sorted(set(found))


def command_and_options(example: str) -> tuple[list[list[str]], list[str]]:
    """([["exp", "up"]], ["--gpus", ...]) of an example; `up|ls` alternatives give one command each."""
    words = example.replace("\\|", "|").replace("[", " ").replace("]", " ").split()[1:]
    path: list[list[str]] = []
    while words and not words[0].startswith("-") and len(path) < 2:
        if path and path[0][0] not in GROUPS:
            break
        path.append(words.pop(0).split("|"))
    commands = [[group, *rest] for group in (path[0] if path else [""]) for rest in (path[1:] or [[]])]
    if len(path) == 2:
        commands = [[path[0][0], name] for name in path[1]]
    options = [w.split("=")[0] for w in words if re.fullmatch(r"--?[a-z][a-z-]*", w.split("=")[0])]
    return [[word for word in command if word] for command in commands], options


def test_the_readme_has_examples_to_check() -> None:
    assert len(examples()) >= 10


@pytest.mark.parametrize("example", examples())
def test_every_readme_example_matches_the_commands_help(example: str) -> None:
    commands, options = command_and_options(example)
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"{example!r}: `mlenv {' '.join(command)} --help`: {result.output}"
        for option in options:
            assert re.search(rf"(^|[\s,]){re.escape(option)}([\s,/=]|$)", result.output, flags=re.M), (
                f"README example {example!r} uses {option}, not in `mlenv {' '.join(command)} --help`"
            )


def test_readme_links_stay_inside_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    assert "../" not in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith(("http://", "https://")):
            assert (README.parent / target).exists(), target
