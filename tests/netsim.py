"""A bad network on loopback, for tests and benchmarks: this kernel has no netem.

``benchmarks.run`` imports it from here (both run from the repository root).

:class:`NetSim` puts two things between a client and a local peer, both on 127.0.0.1:

* an HTTP proxy in front of the peer (``NetSim.base_url`` is what the client calls). It passes
  every request through unchanged, except the SDP of a call: it starts a UDP relay for that
  call and rewrites the host candidates of the offer and of the answer to the relay's two
  sockets, so that neither side knows a way to the other but through the relay;
* that :class:`Relay`: every datagram of the call (STUN, DTLS, SCTP, RTP, RTCP) goes through
  it, both ways, impaired as the shared :class:`Impairment` says at that moment: loss, delay
  ± jitter, reordering, duplication, a blackout. Its random choices come from one seeded RNG.

Nothing in the product is patched: the client sees a server whose only candidate is the
relay's front socket; the peer sees a client whose only candidate is the relay's back one.

    async with NetSim(peer.base_url, Impairment(loss=0.05, delay=0.04, jitter=0.03)) as net:
        call = Call(session, CallOptions(net.base_url, key))
        ...
        net.blackout(3.0)
        net.impairment = Impairment()  # clean again
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter, deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import ClientSession, web

HOST = "127.0.0.1"
_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ udp \d+ )(\S+) (\d+)( typ host.*)$", re.I)
#: Hop-by-hop or recomputed headers the proxy does not copy.
_SKIP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass
class Impairment:
    """What the network does to each datagram, in each direction (seconds, probabilities)."""

    loss: float = 0.0
    delay: float = 0.0
    #: Each datagram's delay is ``delay`` ± up to ``jitter`` (uniform): 20 ms audio packets
    #: with more than 10 ms of jitter arrive out of order by themselves.
    jitter: float = 0.0
    #: Probability that a datagram is held back a further ``reorder_by`` seconds.
    reorder: float = 0.0
    reorder_by: float = 0.05
    duplicate: float = 0.0
    #: False: the server's datagrams other than STUN are dropped (a server that streams no
    #: audio and sends nothing while quiet, yet answers connectivity checks).
    server_media: bool = True

    @property
    def clean(self) -> bool:
        return self == Impairment()


#: The bad network of issue 17, for the fault tests and ``make bench`` (group ``impaired``):
#: 5 % loss, 40 ms ± 30 ms (uniform) each way, 2 % held back a further 50 ms, 1 % duplicated.
BAD_NETWORK = Impairment(loss=0.05, delay=0.04, jitter=0.03, reorder=0.02, duplicate=0.01)


def is_stun(data: bytes) -> bool:
    """RFC 7983 demultiplexing: the first byte of a STUN message is 0–3."""
    return bool(data) and data[0] < 4


class Relay:
    """Forwards one call's datagrams between the client and the peer's candidate, impaired."""

    def __init__(self, net: NetSim, client: tuple[str, int]) -> None:
        self._net = net
        #: The peer's candidate (known once it answered) and the client's.
        self.target: tuple[str, int] | None = None
        self._client = client
        self._front: asyncio.DatagramTransport | None = None  # the client talks to this one
        self._back: asyncio.DatagramTransport | None = None  # the peer sees this one
        self._pending: deque[asyncio.TimerHandle] = deque()
        #: ``"up dropped"``, ``"down sent"``, … (up: client → peer).
        self.counts: Counter[str] = Counter()

    @property
    def front_port(self) -> int:
        assert self._front is not None
        port: int = self._front.get_extra_info("sockname")[1]
        return port

    @property
    def back_port(self) -> int:
        assert self._back is not None
        port: int = self._back.get_extra_info("sockname")[1]
        return port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._from_client), local_addr=(HOST, 0)
        )
        self._back, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._from_peer), local_addr=(HOST, 0)
        )

    def close(self) -> None:
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        for transport in (self._front, self._back):
            if transport is not None:
                transport.close()

    def _from_client(self, data: bytes, addr: tuple[str, int]) -> None:
        self._client = addr
        if self._back is not None and self.target is not None:
            self._forward("up", data, self._back, self.target)

    def _from_peer(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._front is None:
            return
        if not self._net.impairment.server_media and not is_stun(data):
            self.counts["down filtered"] += 1
            return
        self._forward("down", data, self._front, self._client)

    def _forward(
        self, way: str, data: bytes, out: asyncio.DatagramTransport, addr: tuple[str, int]
    ) -> None:
        imp, rng = self._net.impairment, self._net.rng
        if time.monotonic() < self._net.blackout_until:
            self.counts[f"{way} blacked out"] += 1
            return
        if rng.random() < imp.loss:
            self.counts[f"{way} lost"] += 1
            return
        copies = 2 if rng.random() < imp.duplicate else 1
        self.counts[f"{way} duplicated"] += copies - 1
        for _ in range(copies):
            delay = max(0.0, imp.delay + rng.uniform(-imp.jitter, imp.jitter))
            if rng.random() < imp.reorder:
                delay += imp.reorder_by
                self.counts[f"{way} held back"] += 1
            self.counts[f"{way} sent"] += 1
            if delay <= 0:
                out.sendto(data, addr)
                continue
            loop = asyncio.get_running_loop()
            self._pending.append(loop.call_later(delay, self._send, out, data, addr))
            while self._pending and self._pending[0].when() < loop.time() - 1:
                self._pending.popleft()  # long run; cancelling it at close is a no-op anyway

    @staticmethod
    def _send(out: asyncio.DatagramTransport, data: bytes, addr: tuple[str, int]) -> None:
        if not out.is_closing():
            out.sendto(data, addr)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Any) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable from a peer that went away: like a real network, ignore


class NetSim:
    """The proxy and the relays of one test; ``impairment`` may be replaced at any moment."""

    def __init__(self, peer_url: str, impairment: Impairment | None = None, seed: int = 17):
        self.peer_url = peer_url.rstrip("/")
        self.impairment = impairment or Impairment()
        self.rng = random.Random(seed)
        self.blackout_until = 0.0
        self.relays: list[Relay] = []
        self._runner: web.AppRunner | None = None
        self._http: ClientSession | None = None
        self.base_url = ""

    def blackout(self, seconds: float) -> None:
        """Drop every datagram, both ways, for the next ``seconds``."""
        self.blackout_until = time.monotonic() + seconds

    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for relay in self.relays:
            total.update(relay.counts)
        return total

    async def __aenter__(self) -> NetSim:
        self._http = ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._proxy)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        prefix = self.peer_url.split("/", 3)[3] if self.peer_url.count("/") >= 3 else ""
        self.base_url = f"http://{HOST}:{port}/{prefix}".rstrip("/")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for relay in self.relays:
            relay.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        origin = self.peer_url.split("/", 3)
        url = f"{origin[0]}//{origin[2]}{request.rel_url}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP_HEADERS}
        body = await request.read()
        relay: Relay | None = None
        if request.content_type == "application/sdp":
            client = _candidates(body.decode())
            if client:
                relay = Relay(self, client[0])
                await relay.start()
                self.relays.append(relay)
                body = _rewrite(body.decode(), relay.back_port).encode()
        async with self._http.request(request.method, url, headers=headers, data=body) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _SKIP_HEADERS}
            if relay is not None and upstream.content_type == "application/sdp":
                peer = _candidates(body.decode())
                if peer:
                    relay.target = peer[0]
                    body = _rewrite(body.decode(), relay.front_port).encode()
        return web.Response(status=upstream.status, body=body, headers=out)


def _candidates(sdp: str) -> list[tuple[str, int]]:
    """The UDP host candidates of an SDP, in order."""
    return [(m[2], int(m[3])) for line in sdp.split("\r\n") if (m := _CANDIDATE.match(line))]


def _rewrite(sdp: str, port: int) -> str:
    """``sdp`` with every UDP host candidate moved to 127.0.0.1:``port``."""
    return "\r\n".join(
        f"{m[1]}{HOST} {port}{m[4]}" if (m := _CANDIDATE.match(line)) else line
        for line in sdp.split("\r\n")
    )
