"""A test editor for the real ``vivavoce lsp`` process (pytest-lsp): what it saw, its buffer.

The client keeps a real text buffer: it applies the server's edits and echoes them back as
``didChange``, like an editor, and can refuse edits or report a selection (``realtime/context``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities

from vivavoce.lsp.wire import plain

SERVER = [sys.executable, "-m", "vivavoce", "lsp"]
DOC = "file:///tmp/vivavoce-notes.md"
COMMANDS = {
    "start", "stop", "toggleMode", "status", "sendText", "pushToTalk", "mute", "interrupt", "voices",
    "openHistory", "listDevices", "selectDevice", "insertCode",
}  # fmt: skip


class Editor:
    """What the test editor saw and holds: notifications, edits, and the buffer's text."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.statuses: list[dict[str, Any]] = []
        self.transcripts: list[dict[str, Any]] = []
        #: realtime/code: the code the assistant showed.
        self.codes: list[dict[str, Any]] = []
        self.edits: list[lsp.TextEdit] = []
        self.text = ""
        self.version = 0
        self.refuse_edits = False
        self.labels: list[str | None] = []
        self._changed = asyncio.Event()

        @client.feature("realtime/status")
        def on_status(params: Any) -> None:
            self.statuses.append(plain(params))
            self._changed.set()

        @client.feature("realtime/transcript")
        def on_transcript(params: Any) -> None:
            self.transcripts.append(plain(params))
            self._changed.set()

        @client.feature("realtime/code")
        def on_code(params: Any) -> None:
            self.codes.append(plain(params))
            self._changed.set()

        @client.feature(lsp.WORKSPACE_APPLY_EDIT)
        def on_apply_edit(params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
            if self.refuse_edits:
                return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="user said no")
            assert params.edit.changes is not None
            assert set(params.edit.changes) == {DOC}, params.edit.changes
            self.labels.append(params.label)
            for edit in params.edit.changes[DOC]:
                self.edits.append(edit)
                self.change(edit.range, edit.new_text)
            self._changed.set()
            return lsp.ApplyWorkspaceEditResult(applied=True)

    def open(self, text: str, uri: str = DOC) -> None:
        """Open a document (``DOC`` is the buffer this editor keeps and edits)."""
        if uri == DOC:
            self.text, self.version = text, 1
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(
                    uri=uri, language_id="markdown", version=1, text=text
                )
            )
        )

    def select(self, start: tuple[int, int], end: tuple[int, int] | None = None) -> None:
        """Put the cursor at ``start`` in ``DOC`` (and select up to ``end``): realtime/context."""
        params: dict[str, Any] = {
            "textDocument": {"uri": DOC},
            "position": {"line": (end or start)[0], "character": (end or start)[1]},
        }
        if end is not None:
            params["selection"] = {
                "start": {"line": start[0], "character": start[1]},
                "end": {"line": end[0], "character": end[1]},
            }
        self.client.protocol.notify("realtime/context", params)

    def change(self, where: lsp.Range, new_text: str) -> None:
        """Edit the buffer (ASCII test text: UTF-16 units == characters) and tell the server."""
        lines = self.text.split("\n")

        def offset(p: lsp.Position) -> int:
            return sum(len(line) + 1 for line in lines[: p.line]) + p.character

        start, end = offset(where.start), offset(where.end)
        self.text = self.text[:start] + new_text + self.text[end:]
        self.version += 1
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=DOC, version=self.version),
                content_changes=[lsp.TextDocumentContentChangePartial(range=where, text=new_text)],
            )
        )

    def type_at(self, line: int, character: int, text: str) -> None:
        pos = lsp.Position(line=line, character=character)
        self.change(lsp.Range(start=pos, end=pos), text)

    async def until(self, predicate: Any, timeout: float = 20) -> None:
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                # Messages and progress reach pytest-lsp's own handlers: poll for those too.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            seen = [s["state"] for s in self.statuses]
            messages = [m.message for m in self.client.messages]
            pytest.fail(f"waited {timeout} s in vain; statuses {seen}, messages {messages}")

    def finals(self, role: str) -> list[str]:
        return [t["text"] for t in self.transcripts if t["final"] and t["role"] == role]

    async def request(self, method: str, params: Any = None) -> Any:
        return plain(await self.client.protocol.send_request_async(method, params))

    async def command(self, name: str, arguments: list[Any] | None = None) -> Any:
        params = lsp.ExecuteCommandParams(command=name, arguments=arguments)
        return plain(await self.client.workspace_execute_command_async(params))


def init_params(options: dict[str, Any], spec: str = "visual-studio-code") -> lsp.InitializeParams:
    return lsp.InitializeParams(
        capabilities=client_capabilities(spec),
        initialization_options={"vivavoce": options},
    )


async def end_server(lsp_client: LanguageClient) -> None:
    """After a test: a server still running is shut down, or killed.

    A test that failed before shutting down would leave the server running, and pygls' client
    waits for it to exit on its own: ending it here keeps a failure from hanging the suite.
    """
    process = lsp_client._server
    if process is not None and process.returncode is None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(lsp_client.shutdown_session(), 5)
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5)  # reaped: no transport left open
