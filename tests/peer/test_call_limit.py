"""A peer carries at most ``max_calls`` calls; one more gets the API's 429, the others go on.

Real aiortc calls on 127.0.0.1 against a peer started with ``max_calls=2`` (``vivavoce peer
--max-calls 2``), and the product's own ``Call`` for what the user is told.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import call_for
from vivavoce.errors import RateLimitError
from vivavoce.peer import start_peer
from vivavoce.peer.app import RunningPeer
from vivavoce.settings import Settings

from .conftest import KEY, CallFactory, RawCall

pytestmark = pytest.mark.timeout(120)

#: What a call beyond the limit gets: the real API's rate-limit error, our words.
REFUSAL = {
    "message": "Too many simultaneous calls: this server takes 2 at a time (limit 2, open 2, "
    "requested 1). Please try again when a call ends.",
    "type": "requests",
    "param": None,
    "code": "rate_limit_exceeded",
}


@pytest.fixture
async def two_call_peer() -> AsyncIterator[RunningPeer]:
    running = await start_peer(api_key=KEY, max_calls=2)
    yield running
    await running.close()


async def _answers_a_turn(call: RawCall, text: str) -> None:
    after = len(call.events)
    call.ask(text, ("audio",))
    done = await call.wait_for("response.done", timeout=20, after=after)
    assert done["response"]["status"] == "completed", done
    heard = call.audible_ms()
    await call.wait_for("output_audio_buffer.stopped", timeout=20, after=after)
    assert call.audible_ms() > heard, "the answer was not heard"


async def _refused_offer(peer: RunningPeer) -> tuple[int, dict[str, object]]:
    from aiortc import RTCPeerConnection

    from vivavoce.rtc import prepare_aiortc, rtc_configuration
    from vivavoce.rtc.ice import host_addresses

    prepare_aiortc()
    pc = RTCPeerConnection(rtc_configuration([]))
    try:
        pc.createDataChannel("oai-events")
        pc.addTransceiver("audio", direction="sendrecv")
        with host_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        status, _, body = await RawCall(peer.base_url).post_offer(
            pc.localDescription.sdp, "ga", None
        )
        return status, json.loads(body)
    finally:
        await pc.close()


async def test_a_call_beyond_the_limit_gets_429_and_the_open_calls_go_on(
    two_call_peer: RunningPeer, make_call: CallFactory
) -> None:
    peer = two_call_peer
    first = await make_call(peer.base_url)
    second = await make_call(peer.base_url)

    # The third offer, and a key for it, are refused in the API's rate-limit shape.
    status, body = await _refused_offer(peer)
    assert (status, body) == (429, {"error": REFUSAL})
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{peer.base_url}/realtime/client_secrets",
            json={"session": {"type": "realtime"}},
            headers={"Authorization": f"Bearer {KEY}"},
        ) as resp:
            assert resp.status == 429
            assert await resp.json() == {"error": REFUSAL}
        # A WebSocket call is a call too: refused before the upgrade.
        with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
            await http.ws_connect(
                f"{peer.base_url.replace('http', 'ws', 1)}/realtime?model=gpt-realtime-2.1",
                headers={"Authorization": f"Bearer {KEY}"},
            )
        assert handshake.value.status == 429
    assert len(peer.calls) == 2

    # What a vivavoce user sees for it: one line naming the cause.
    refused = call_for(Settings(api_key=KEY, connect_timeout=10), peer.base_url)
    with pytest.raises(RateLimitError) as info:
        await refused.start()
    assert str(info.value) == (
        f"rate limited by 127.0.0.1 while minting an ephemeral key (429): {REFUSAL['message']}"
    )
    await refused.close()

    # The two open calls were not disturbed: both still answer, spoken.
    await asyncio.gather(
        _answers_a_turn(first, "how are you"), _answers_a_turn(second, "what time is it")
    )
    assert not first.of_type("error") and not second.of_type("error")

    # One hangs up: its place is free again.
    assert await first.hangup() == 200
    async with asyncio.timeout(10):
        while len(peer.calls) > 1:
            await asyncio.sleep(0.05)
    third = await make_call(peer.base_url)
    await _answers_a_turn(third, "hello again")
    await _answers_a_turn(second, "still there")


def test_the_limit_is_a_cli_option_with_a_documented_default() -> None:
    import argparse

    from vivavoce.peer import add_arguments
    from vivavoce.peer.options import MAX_CALLS

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).max_calls == MAX_CALLS == 16
    assert parser.parse_args(["--max-calls", "2"]).max_calls == 2
    assert "(default 16)" in " ".join(parser.format_help().split())
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-calls", "0"])
