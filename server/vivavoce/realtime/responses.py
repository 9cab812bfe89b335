"""One response at a time, as a Realtime server demands.

The server runs one response per session; a ``response.create`` sent while one runs is refused
(``conversation_already_has_active_response``). :class:`ResponseQueue` is the sequencer the
official agents clients keep: a reply asked for while another runs (after tool outputs, after a
typed message during a spoken answer) is sent when the running one is done. Requests made
meanwhile collapse into one reply, which answers everything added since. A refusal that races
with a response the server started on its own (voice activity) is retried the same way, and
never reaches the user.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from . import events as ev

log = logging.getLogger(__name__)

ALREADY_ACTIVE = "conversation_already_has_active_response"


class ResponseQueue:
    """The state of the session's one response, and the reply waiting for it to end."""

    def __init__(self, send: Callable[[ev.ResponseCreate], Awaitable[None]]) -> None:
        self._send = send
        #: The id of the response running now.
        self.active: str | None = None
        #: The event id of a ``response.create`` sent and not yet answered (created or refused).
        self._asked: str | None = None
        self._waiting = False

    @property
    def busy(self) -> bool:
        """A response runs, is asked for, or waits its turn."""
        return self.active is not None or self._asked is not None or self._waiting

    async def request(self) -> None:
        """A reply: now if the session is free, else as soon as the running one is done."""
        if self.active is not None or self._asked is not None:
            self._waiting = True
            return
        create = ev.ResponseCreate()
        self._asked = create.event_id
        await self._send(create)

    def drop_waiting(self) -> None:
        """The user interrupted: the reply that was waiting is not wanted any more."""
        self._waiting = False

    async def observe(self, event: ev.ServerEvent) -> bool:
        """Follow one server event; True when it was a refusal handled here (not for the user)."""
        match event:
            case ev.ResponseCreated(response=response):
                self.active, self._asked = response.id, None
            case ev.ResponseDone(response=response) if response.id in (self.active, None):
                self.active = None
                if self._waiting:
                    self._waiting = False
                    await self.request()
            case ev.ErrorEvent(error=error) if error.code == ALREADY_ACTIVE:
                log.debug("response.create refused while one runs: sent again when it is done")
                self._asked, self._waiting = None, True
                return True
            case ev.ErrorEvent(error=error) if self._asked and error.event_id == self._asked:
                self._asked = None  # refused for another reason: the user is told by the caller
        return False
