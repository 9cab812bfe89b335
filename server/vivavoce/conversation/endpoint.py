"""Where a conversation talks: the configured server, or the local peer started on demand.

:class:`Endpoint` owns the one ``httpx.AsyncClient`` of the conversation and the local peer
(:mod:`vivavoce.peer.process`), and hands out what each mode needs to reach the server: a
call's :class:`~vivavoce.realtime.CallOptions`, text mode's chat and speech clients. The key
is the local peer's own per-start key when the local peer is the server (the user's key never
goes to it), else :meth:`Settings.api_key_for <vivavoce.settings.Settings.api_key_for>`, the one
place that decides it.

``peer`` setting: ``auto`` (the local peer unless an API key is set), ``openai`` (``baseUrl``),
``embedded`` (the local peer), or a URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..tasks import CloseOnce

if TYPE_CHECKING:
    import httpx

    from ..peer.process import LocalPeer
    from ..realtime import CallOptions
    from ..settings import Configuration
    from ..text.chat import Chat, UsageCallback
    from ..text.speech import Speech


log = logging.getLogger(__name__)


class Endpoint:
    """The server of one conversation, and the HTTP client every request goes through."""

    def __init__(
        self,
        config: Configuration,
        *,
        separate_peer: bool,
        on_peer_exit: Callable[[int], None] = lambda _: None,
    ) -> None:
        self._config = config
        #: Run the local peer in a process of its own (real sound devices in this one).
        self._separate_peer = separate_peer
        self._on_peer_exit = on_peer_exit
        #: Told the usage a chat completion or a transcription reported: (kind, model, usage).
        self.on_usage: UsageCallback | None = None
        self._http: httpx.AsyncClient | None = None
        self._peer: LocalPeer | None = None
        #: The upstream options the local peer was started with.
        self._peer_arguments: list[str] = []
        self._peer_lock = asyncio.Lock()
        self._closing = CloseOnce()

    @property
    def peer(self) -> LocalPeer | None:
        """The local peer, once started (None: not used, or not yet)."""
        return self._peer

    def http(self) -> httpx.AsyncClient:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient()
        return self._http

    async def base_url(self) -> str:
        """The server's base URL; starts the local peer on first use when it is the server."""
        url, _ = await self._server()
        return url

    async def _server(self) -> tuple[str, str]:
        """The server's base URL and the key to send it (starting the local peer if needed)."""
        settings = self._config.current
        peer = settings.peer
        if peer == "auto":
            peer = "openai" if settings.api_key else "embedded"
        if peer != "embedded":
            url = settings.base_url if peer == "openai" else peer
            return url, settings.api_key_for(url)
        async with self._peer_lock:
            arguments = settings.local_services.peer_arguments()
            if self._peer is not None and not self._peer.running:
                await self._peer.close()  # it ended (said already): a fresh one below
                self._peer = None
            if self._peer is not None and arguments != self._peer_arguments:
                log.info("the local services changed: restarting the local peer")
                await self._peer.close()
                self._peer = None
            if self._peer is None:
                from ..peer.process import start_local_peer

                self._peer = await start_local_peer(
                    separate_process=self._separate_peer,
                    on_exit=self._on_peer_exit,
                    arguments=arguments,
                )
                self._peer_arguments = arguments
            url = self._peer.base_url
            return url, self._peer.api_key or settings.api_key_for(url)

    async def call_options(self) -> CallOptions:
        from ..realtime import CallOptions

        url, key = await self._server()
        return CallOptions.from_settings(self._config.current, url, api_key=key)

    async def chat(self) -> Chat:
        from ..text.chat import Chat

        url, key = await self._server()
        return Chat(self.http(), base_url=url, api_key=key, on_usage=self.on_usage)

    async def speech(self) -> Speech:
        from ..text.speech import Speech

        url, key = await self._server()
        return Speech(
            self.http(),
            base_url=url,
            api_key=key,
            speech_model=self._config.current.speech_model,
            on_usage=self.on_usage,
        )

    async def close(self) -> None:
        """Stop the local peer and close the HTTP client (idempotent)."""
        await self._closing.run(self._close)

    async def _close(self) -> None:
        if self._peer is not None:
            await self._peer.close()
            self._peer = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
