"""Output formats of a policy check: text (rich), json, sarif, junit, markdown.

``render(report, fmt)`` returns the whole document as a string; the text format is also available
as rich renderables (``text.renderables``) for a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from stacks.check.findings import CheckReport
from stacks.check.formats import junit, markdown, sarif, text


class Format(StrEnum):
    """``mlenv check --format``."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"


def _json(report: CheckReport) -> str:
    return report.to_json() + "\n"


RENDERERS: dict[Format, Callable[[CheckReport], str]] = {
    Format.TEXT: text.render,
    Format.JSON: _json,
    Format.SARIF: sarif.render,
    Format.JUNIT: junit.render,
    Format.MARKDOWN: markdown.render,
}


def render(report: CheckReport, fmt: Format | str) -> str:
    """The report as one document in the given format."""
    return RENDERERS[Format(fmt)](report)


__all__ = ["RENDERERS", "Format", "render"]
