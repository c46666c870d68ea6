"""Every deploy mlenv runs passes the policy pack: the adapter's ``up`` and ``preview`` calls.

The Pulumi CLI does not run here, so ``pulumi.automation``'s stack selection is replaced by a
recording double at the adapter's boundary; what is asserted is the arguments the adapter hands to
the real ``Stack.up`` / ``Stack.preview`` signatures (checked with ``inspect.signature``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from stacks.automation import POLICY_PACK_DIR, PulumiAutomationBackend

RECORDED: list[tuple[str, dict[str, Any]]] = []


class StackDouble:
    """Test double for ``pulumi.automation.Stack``: records up/preview calls, emits one event."""

    def set_config(self, key: str, value: Any) -> None:
        RECORDED.append(("set_config", {"key": key}))

    def up(self, **kwargs: Any) -> Any:
        inspect.signature(auto.Stack.up).bind(None, **kwargs)
        RECORDED.append(("up", kwargs))

        class Result:
            outputs: dict[str, Any] = {}

        return Result()

    def preview(self, **kwargs: Any) -> Any:
        inspect.signature(auto.Stack.preview).bind(None, **kwargs)
        RECORDED.append(("preview", kwargs))
        kwargs["on_event"](
            auto.events.EngineEvent.from_json({"sequence": 1, "timestamp": 2, "cancelEvent": {}})
        )
        return None

    def cancel(self) -> None:
        pass


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> PulumiAutomationBackend:
    RECORDED.clear()
    monkeypatch.setattr("stacks.automation.shutil.which", lambda name: f"/opt/bin/{name}")
    monkeypatch.setattr(auto, "create_or_select_stack", lambda **_: StackDouble())
    monkeypatch.setattr(auto, "select_stack", lambda **_: StackDouble())
    return PulumiAutomationBackend(timeout_seconds=30)


def test_the_pack_is_the_repository_policies_directory() -> None:
    assert (POLICY_PACK_DIR / "PulumiPolicy.yaml").is_file()
    assert Path(__file__).resolve().parents[2] / "policies" == POLICY_PACK_DIR


def test_up_passes_the_policy_pack(backend: PulumiAutomationBackend) -> None:
    backend.up("exp-churn", {"name": "churn"})
    ((_, kwargs),) = [r for r in RECORDED if r[0] == "up"]
    assert kwargs["policy_packs"] == [str(POLICY_PACK_DIR)]


def test_preview_refresh_passes_the_policy_pack_and_returns_json_events(
    backend: PulumiAutomationBackend,
) -> None:
    events = backend.preview_refresh_events("dev")
    ((_, kwargs),) = [r for r in RECORDED if r[0] == "preview"]
    assert kwargs["policy_packs"] == [str(POLICY_PACK_DIR)]
    assert kwargs["refresh"] is True
    assert events == [{"sequence": 1, "timestamp": 2, "cancelEvent": {}}]
