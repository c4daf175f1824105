"""Commands `parking run` starts beside the API: edge simulators and the demo lot's gate agents."""

from __future__ import annotations

from typing import Any

from parking.settings import Settings


def simulator_commands(settings: Settings) -> list[tuple[str, list[str]]]:
    return []


def agent_commands(settings: Settings, seeded: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return []
