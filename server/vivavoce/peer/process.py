"""The local peer as the conversation sees it: a handle with a URL, started on demand.

The conversation reaches the peer only through :class:`LocalPeer` and :func:`start_local_peer`,
so the peer can be split out of this package without touching the conversation. The peer runs

* in a process of its own (:class:`PeerProcess`) when this process also drives real sound
  devices: speech recognition and synthesis would otherwise hold the GIL long enough to starve
  the sound callbacks;
* in this process's event loop otherwise (tests, text-only editors): it starts faster.

Either way it listens on 127.0.0.1 with a fresh random key (:func:`new_peer_key`) that only
this handle knows: other local users and web pages can reach the port, not use it. A peer
process gets its key on stdin (``--api-key-stdin``), never on its command line, which every
user can read in ``ps``; that pipe then stays open, and the peer stops when it ends
(``--exit-with-stdin``), so a peer never outlives the language server that started it, even
one killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from ..errors import CallError
from ..tasks import CloseOnce, TaskSet

log = logging.getLogger(__name__)

#: How long a new peer process may take to say it is listening (imports, models).
START_TIMEOUT = 60.0


class LocalPeer(Protocol):
    """A running local peer."""

    #: ``http://127.0.0.1:PORT/v1``
    base_url: str

    @property
    def api_key(self) -> str | None:
        """The bearer key it requires (None: it takes any key). Never log it."""
        ...

    @property
    def running(self) -> bool:
        """False once it ended, by :meth:`close` or on its own."""
        ...

    async def close(self) -> None:
        """Stop it (idempotent)."""
        ...


async def start_local_peer(
    *,
    separate_process: bool,
    on_exit: Callable[[int], None] = lambda _: None,
    arguments: Sequence[str] = (),
) -> LocalPeer:
    """A local peer on a free loopback port, with a key of its own (:attr:`LocalPeer.api_key`);
    ``on_exit`` hears of a peer process that died. ``arguments``: ``vivavoce peer`` options
    for its upstream servers (``--chat-url URL`` …; see :mod:`.upstreams`)."""
    if separate_process:
        return await PeerProcess.start(on_exit=on_exit, arguments=arguments)
    import argparse

    from .app import start_peer
    from .cli import add_arguments, upstream_options

    parser = argparse.ArgumentParser(prog="vivavoce peer", exit_on_error=False)
    add_arguments(parser)
    options = upstream_options(parser.parse_args(list(arguments)))
    return await start_peer(host="127.0.0.1", port=0, api_key=new_peer_key(), **options)


def new_peer_key() -> str:
    """A fresh random key for one start of a local peer (256 bits)."""
    return secrets.token_urlsafe(32)


class PeerProcess:
    """The local peer in a process of its own (``vivavoce peer`` on a free loopback port).

    ``on_exit(returncode)`` is called if it ends without :meth:`close` (it crashed or was
    killed): the call to it is over at once, with no need to wait for ICE consent to expire.
    """

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        base_url: str,
        api_key: str,
        on_exit: Callable[[int], None] = lambda _: None,
    ) -> None:
        self._proc = proc
        self.base_url = base_url
        self._api_key = api_key
        self._on_exit = on_exit
        self._closing = CloseOnce()
        self._tasks = TaskSet("vivavoce peer process")
        self._tasks.spawn(self._watch_exit(), "watch exit")

    async def _watch_exit(self) -> None:
        code = await self._proc.wait()
        if not self._closing.started:
            log.warning("the local peer process ended (exit code %s)", code)
            self._on_exit(code)

    @property
    def running(self) -> bool:
        return self._proc.returncode is None

    @property
    def api_key(self) -> str:
        return self._api_key

    def __repr__(self) -> str:
        return f"PeerProcess({self.base_url!r}, pid={self._proc.pid})"  # no key

    @classmethod
    async def start(
        cls,
        on_exit: Callable[[int], None] = lambda _: None,
        api_key: str | None = None,
        arguments: Sequence[str] = (),
    ) -> PeerProcess:
        """``vivavoce peer`` with ``api_key`` (default: a new random one) given on its stdin."""
        key = api_key or new_peer_key()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vivavoce", "peer", "--host", "127.0.0.1", "--port", "0",
            "--api-key-stdin", "--exit-with-stdin", *arguments,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{key}\n".encode())
        with contextlib.suppress(ConnectionError):  # it died at once: said below
            await proc.stdin.drain()
        # stdin stays open: its end tells the peer we are gone, however we end (SIGKILL too).
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)).decode()
        except TimeoutError:
            line = ""
        if not line.startswith("listening on "):
            proc.stdin.close()
            proc.kill()
            await proc.wait()
            raise CallError("the local peer did not start (run `vivavoce peer` to see why)")
        return cls(proc, line.split()[-1], key, on_exit)

    async def close(self) -> None:
        await self._closing.run(self._close)

    async def _close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        if self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        await self._tasks.wait()
