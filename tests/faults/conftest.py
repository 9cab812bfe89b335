"""Helpers of the fault matrix: a faulty peer, settings that point at it, the admin endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from vivavoce.settings import Settings

KEY = "sk-test-faults"


def settings_for(url: str, **changes: Any) -> Settings:
    base: dict[str, Any] = {
        "api_key": KEY,
        "peer": url,
        "connect_timeout": 2,
        "reconnect_attempts": 1,
    }
    return Settings(**(base | changes))


async def admin(base_url: str, **body: Any) -> dict[str, Any]:
    """POST /v1/_admin/faults on a peer (faults=[…] to set, fire=[…] to fire now)."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{base_url}/_admin/faults",
            json=body,
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


@pytest.fixture
async def faulty_peer() -> AsyncIterator[Any]:
    """A local peer with no fault yet and the admin route on (see :func:`admin`)."""
    from vivavoce.peer import start_peer

    running = await start_peer(api_key=KEY, fault_sdp_delay=30, fault_admin=True)
    try:
        yield running
    finally:
        await running.close()
