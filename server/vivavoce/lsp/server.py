"""``vivavoce lsp``: the language server any editor starts.

It maps the wire contract (DESIGN.md) onto one :class:`~vivavoce.conversation.Conversation`:

* requests ``realtime/<name>`` and the same as ``workspace/executeCommand`` ``vivavoce.<name>``
  (listed in ``executeCommandProvider``); params validated (bad ones → InvalidParams naming the
  field); every failure is a JSON-RPC error with one line, never a traceback;
* notifications ``realtime/status`` (every change) and ``realtime/transcript`` (every delta and
  final, both sides); ``realtime/code`` for code the assistant shows (:mod:`.shown`), which
  ``insertCode`` puts at the cursor; ``$/progress`` while connecting; ``window/showMessage``
  for background failures; ``window/logMessage`` for details at the configured level;
* settings from initializationOptions, ``workspace/didChangeConfiguration`` and
  ``workspace/configuration`` (an empty or partial object never resets anything; a bad value
  keeps the last good one and says which key and why);
* insertion of final turns into the buffer (:mod:`.insertion`), and in dictation mode the
  user's words as they are said (:mod:`.dictation`).

aiortc, av, sounddevice and the local peer are imported only when a call starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from .. import __version__
from ..errors import ConfigError, VivavoceError
from .dictation import DictationWriter
from .insertion import Inserter, Pos, format_turn, lsp_range_to_pos
from .logs import ClientLogHandler, ExpectedErrors, set_log_level
from .progress import ConnectProgress
from .shown import ShownCode
from .wire import plain

if TYPE_CHECKING:
    from ..conversation import (
        AudioFactory,
        AudioIO,
        Conversation,
        MessageLevel,
        Microphone,
        MicrophoneFactory,
        Status,
    )
    from ..realtime.transcript import TranscriptUpdate
    from ..settings import Configuration, Settings
    from ..tools import Toolbox
    from . import params as P

log = logging.getLogger(__name__)

SECTION = "vivavoce"
#: How long a client may take to answer workspace/configuration before we go on without it.
CONFIG_TIMEOUT = 2.0
#: shutdown/exit must end a call within this.
CLOSE_TIMEOUT = 2.0
#: An experimental client capability: ``{"experimental": {"vivavoceUndoGroups": true}}`` says
#: the client makes the edits of one group (one dictated utterance: its live words and its
#: final text) one undo step. Such a client's edits carry the label UNDO_GROUP_LABEL + group.
UNDO_GROUPS = "vivavoceUndoGroups"
UNDO_GROUP_LABEL = "vivavoce undo group "

Handler = Callable[[Any], Awaitable[Any]]


class _Protocol(LanguageServerProtocol):
    """pygls' protocol, accepting what JSON-RPC allows and pygls does not."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        # JSON-RPC lets a request or notification omit "params"; pygls requires the member.
        if "jsonrpc" in data and "method" in data and "params" not in data:
            data["params"] = None
        return super().structure_message(data)


class VivavoceServer(LanguageServer):
    """The language server: one conversation, the editor's documents, its settings."""

    def __init__(self) -> None:
        super().__init__(
            "vivavoce",
            __version__,
            text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental,
            protocol_cls=_Protocol,
        )
        # Settings, the conversation and pydantic load after `initialize` is answered.
        self._config: Configuration | None = None
        self._conversation: Conversation | None = None
        self._init_options: Any = None
        #: The client joins the edits of one undo group (see UNDO_GROUPS).
        self._undo_groups = False
        self.inserter = Inserter(self._replace_text, lambda text: self.say("warning", text))
        self._inserted: set[str] = set()
        self.dictation = DictationWriter(
            self.inserter,
            lambda text: self.say("info", text),
            to_code=self._spoken_to_code,
        )
        self.connecting = ConnectProgress(self)
        self._closing: asyncio.Future[None] | None = None
        #: Settings changes told so far: a pull answered for an older one is stale.
        self._config_changes = 0
        #: The client's last cursor/selection (realtime/context).
        self.context: P.ContextParams | None = None
        self._tools: Toolbox | None = None
        #: Code the assistant showed, for insertCode.
        self.shown = ShownCode()
        self._register()

    @property
    def config(self) -> Configuration:
        """The configured settings: this server is their one owner (replaced whole)."""
        if self._config is None:
            from ..settings import Configuration

            self._config = Configuration()
        return self._config

    @property
    def settings(self) -> Settings:
        return self.config.current

    @property
    def conversation(self) -> Conversation:
        if self._conversation is None:
            from ..conversation import Conversation
            from ..store import ConversationLog, history_dir

            history = ConversationLog(
                history_dir(self.settings.history_dir),
                on_error=lambda exc: self.say("warning", f"vivavoce: {exc}"),
            )
            devices = self.settings.audio_devices
            audio: AudioFactory | None = _open_devices if devices else None
            microphone: MicrophoneFactory | None = _open_microphone if devices else None
            self._conversation = Conversation(
                self.config,
                on_status=self._send_status,
                on_transcript=self._send_transcript,
                on_message=self.say,
                history=history,
                audio=audio,
                microphone=microphone,
                tools=self.toolbox,
            )
            self._conversation.on_step = self.connecting.step
        return self._conversation

    @property
    def toolbox(self) -> Toolbox:
        """The voice tools, acting on the documents this client opened (and the words of the
        code in them, for the transcription)."""
        if self._tools is None:
            from ..tools import Toolbox
            from .editor import LspEditor

            editor = LspEditor(
                documents=lambda: list(self.workspace.text_documents),
                text=self._text,
                context=lambda: self.context,
                apply_edit=self._apply_range,
                encoding=lambda: self.inserter.encoding,
                show_code=self._show_code,
            )
            self._tools = Toolbox(editor, lambda: self.settings.allow_edits, self._words)
        return self._tools

    def _words(self) -> tuple[bool, list[str]]:
        tr = self.settings.transcription
        return tr.code_vocabulary, tr.words

    def _editor_changed(self) -> None:
        """Documents or the cursor changed: a live call's vocabulary follows between turns."""
        if self._conversation is not None:
            self._conversation.context_changed()

    # ------------------------------------------------------------------ requests

    def _register(self) -> None:
        # name → (params model in .params, handler); the models load with the first request.
        requests: dict[str, tuple[str, Handler]] = {
            "start": ("StartParams", self._start),
            "stop": ("NoParams", lambda _: self.conversation.stop()),
            "toggleMode": ("NoParams", lambda _: self.conversation.toggle_mode()),
            "status": ("NoParams", self._status),
            "sendText": ("SendTextParams", self._send_text),
            "pushToTalk": ("PushToTalkParams", lambda p: self.conversation.push_to_talk(p.pressed)),
            "mute": ("MuteParams", lambda p: self.conversation.mute(p.muted)),
            "interrupt": ("NoParams", lambda _: self.conversation.interrupt()),
            "voices": ("NoParams", self._voices),
            "openHistory": ("NoParams", self._open_history),
            "listDevices": ("NoParams", self._list_devices),
            "selectDevice": ("SelectDeviceParams", self._select_device),
            "insertCode": ("InsertCodeParams", self._insert_code),
        }
        for name, (model, handler) in requests.items():
            self.feature(f"realtime/{name}")(self._endpoint(name, model, handler, positional=False))
            self.command(f"vivavoce.{name}")(self._endpoint(name, model, handler, positional=True))
        # pygls tags handlers with attributes, which bound methods cannot carry: wrap them.
        self.feature("realtime/context")(_function(self._context))
        self.feature(lsp.INITIALIZE)(_function(self._initialize))
        self.feature(lsp.INITIALIZED)(_function(self._initialized))
        self.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)(
            _function(self._did_change_configuration)
        )
        self.feature(lsp.TEXT_DOCUMENT_DID_OPEN)(_function(self._did_open))
        self.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)(_function(self._did_change))
        self.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)(_function(self._did_close))
        self.feature(lsp.SHUTDOWN)(_function(self._shutdown))

    def _endpoint(
        self, name: str, model: str, handler: Handler, *, positional: bool
    ) -> Callable[..., Awaitable[Any]]:
        async def endpoint(*args: Any) -> Any:
            from . import params as P

            # Requests get one params object; pygls spreads a command's arguments.
            raw = list(args) if positional else (args[0] if args else None)
            try:
                result = await handler(P.parse(getattr(P, model), raw, positional=positional))
            except ConfigError as exc:
                raise JsonRpcException(message=str(exc), code=lsp.ErrorCodes.InvalidParams) from exc
            except VivavoceError as exc:
                raise JsonRpcException(message=str(exc), code=exc.code) from exc
            except Exception as exc:
                log.exception("realtime/%s failed", name)
                raise JsonRpcException(
                    message=f"vivavoce {name} failed: {type(exc).__name__}: {exc}",
                    code=lsp.ErrorCodes.InternalError,
                ) from exc
            return result.wire() if hasattr(result, "wire") else result

        endpoint.__name__ = f"realtime_{name}"
        return endpoint

    async def _status(self, _: P.NoParams) -> Status:
        return self.conversation.status

    async def _list_devices(self, _: P.NoParams) -> dict[str, Any]:
        """Microphones and speakers: index, name, host API, default marks."""
        from ..audio.devices import list_devices_async

        return await list_devices_async()

    async def _select_device(self, params: P.SelectDeviceParams) -> dict[str, Any]:
        """Use this device from the next call on (None: follow the system default)."""
        from ..audio.devices import select_device

        result = await select_device(params.kind, params.device)
        key = "inputDevice" if params.kind == "input" else "outputDevice"
        self._apply_settings({key: params.device}, "vivavoce.selectDevice")
        return result

    async def _open_history(self, _: P.NoParams) -> dict[str, Any]:
        """The current conversation's history file and its call recordings, for the editor."""
        from ..store.reader import recordings

        history = self.conversation.history
        if history is None:
            raise ConfigError("no history is kept for this conversation")
        path = await history.ensure_file()
        found = recordings(history.folder, history.id)
        return {
            "uri": path.as_uri(),
            "path": str(path),
            "recordings": [{"uri": p.as_uri(), "path": str(p)} for p in found],
        }

    async def _voices(self, _: P.NoParams) -> dict[str, Any]:
        """Both voice sets, for a client's voice picker (the current mode's set applies)."""
        catalog = self.conversation.choices.voices.catalog
        status = self.conversation.status
        return {
            "realtime": list(catalog.realtime),
            "text": list(catalog.text),
            "mode": status.mode,
            "voice": status.voice,
        }

    async def _start(self, params: P.StartParams) -> Status:
        if params.text_document is not None:
            from . import params as P

            uri = params.text_document.uri
            at = params.position or P.Position(line=0, character=0)
            self.inserter.target(uri, Pos(at.line, at.character), self._text(uri))
            if self.context is None or self.context.text_document.uri != uri:
                self.context = P.ContextParams(text_document=params.text_document, position=at)
        if self.conversation.status.state in ("live", "connecting"):
            return self.conversation.status
        await self.connecting.begin(params.work_done_token)
        try:
            status = await self.conversation.start(
                mode=params.mode,
                voice=params.voice,
                model=params.model,
                instructions=params.instructions,
            )
        except VivavoceError as exc:
            self.connecting.end(f"failed: {exc}")
            raise
        self.connecting.end("live" if status.state == "live" else status.state)
        return status

    async def _send_text(self, params: P.SendTextParams) -> dict[str, Any]:
        await self.conversation.send_text(params.text)
        return {"sent": True}

    async def _insert_code(self, params: P.InsertCodeParams) -> dict[str, Any]:
        """The last code shown (or the one ``id`` names) into the document at the cursor: the
        position given, else the last ``realtime/context``."""
        piece = self.shown.get(params.id)
        if piece is None:
            what = f"no code with id {params.id!r} was shown" if params.id else "no code shown yet"
            raise ConfigError(f"nothing to insert: {what}", key="id")
        uri, at = self._cursor(params)
        applied, reason = await self._apply_range(uri, at, at, piece.code, "vivavoce: insert code")
        if not applied:
            return {"inserted": False, "id": piece.id, "reason": reason or "no reason given"}
        return {"inserted": True, "id": piece.id, "uri": uri}

    def _cursor(self, params: P.InsertCodeParams) -> tuple[str, Pos]:
        """Where insertCode inserts: the document and position the request names, else the
        cursor the editor last reported (a selection's end)."""
        if params.text_document is not None:
            at = params.position
            uri = params.text_document.uri
        elif (ctx := self.context) is not None:
            uri = ctx.text_document.uri
            at = ctx.position or (ctx.selection.end if ctx.selection is not None else None)
        else:
            raise ConfigError("nothing to insert into: the editor has not said where the cursor is")
        if at is None:
            raise ConfigError("nothing to insert into: no position given", key="position")
        return uri, Pos(at.line, at.character)

    def _context(self, raw: Any) -> None:
        """Where the cursor is: new turns are inserted there if insertion is on."""
        from . import params as P

        try:
            ctx = P.parse(P.ContextParams, raw)
        except ConfigError as exc:
            log.info("ignored realtime/context: %s", exc)
            return
        self.context = ctx
        self._editor_changed()
        if self.inserter.uri is None and ctx.position is not None:
            uri, at = ctx.text_document.uri, ctx.position
            self.inserter.target(uri, Pos(at.line, at.character), self._text(uri))

    # ------------------------------------------------------------------ outbound

    def _send_status(self, status: Status) -> None:
        self.protocol.notify("realtime/status", status.wire())

    def _show_code(self, language: str, code: str, title: str | None) -> str:
        piece = self.shown.add(language, code, title)
        self.protocol.notify("realtime/code", piece.wire())
        return piece.id

    def _send_transcript(self, update: TranscriptUpdate) -> None:
        body: dict[str, Any] = {
            "itemId": update.item_id,
            "previousItemId": update.previous_item_id,
            "role": update.role,
            "text": update.text,
            "final": update.final,
        }
        if update.delta is not None:
            body["delta"] = update.delta
        if update.interrupted:
            body["interrupted"] = True
        self.protocol.notify("realtime/transcript", body)
        conversation = self._conversation
        if update.role == "user" and conversation and conversation.status.mode == "dictation":
            self.dictation.update(update)  # written as it is said, whatever insertTranscripts
        elif update.final and update.item_id not in self._inserted:
            # A turn can be finalized again (marked interrupted): it is inserted once. What the
            # user said goes in with spoken identifiers written as code ("get user by id").
            said = update.text
            if update.role == "user" and self.settings.insert_transcripts == "both":
                said = self.toolbox.spoken_to_code(said)
            text = format_turn(update.role, said, self.settings.insert_transcripts)
            if text is not None:
                self._inserted.add(update.item_id)
                self.inserter.insert(text)

    def _spoken_to_code(self, text: str) -> str:
        return self.toolbox.spoken_to_code(text)  # the toolbox loads when first needed

    def say(self, level: MessageLevel, text: str) -> None:
        """One line the user should see (and the log keeps)."""
        kind = {"error": lsp.MessageType.Error, "warning": lsp.MessageType.Warning}.get(
            level, lsp.MessageType.Info
        )
        getattr(log, level)(text)
        self.window_show_message(lsp.ShowMessageParams(type=kind, message=text))

    async def _replace_text(
        self, uri: str, start: Pos, end: Pos, text: str, group: str | None
    ) -> tuple[bool, str | None]:
        # No label for other clients: Neovim's own handler prints an edit's label on the command
        # line, at every turn (and at every word of a dictation), and a transcript writing itself
        # needs no announcement. A client that asks for undo groups (the experimental client
        # capability UNDO_GROUPS: vivavoce's Neovim plugin) gets the group as the label.
        label = f"{UNDO_GROUP_LABEL}{group}" if group and self._undo_groups else None
        return await self._apply_range(uri, start, end, text, label)

    async def _apply_range(
        self, uri: str, start: Pos, end: Pos, text: str, label: str | None
    ) -> tuple[bool, str | None]:
        """``workspace/applyEdit`` of one text edit; (applied, the editor's reason if not)."""
        where = lsp.Range(
            start=lsp.Position(line=start.line, character=start.character),
            end=lsp.Position(line=end.line, character=end.character),
        )
        edit = lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(range=where, new_text=text)]})
        result = await self.workspace_apply_edit_async(
            lsp.ApplyWorkspaceEditParams(edit=edit, label=label)
        )
        if result is None:  # some clients answer null
            return False, "no answer"
        return bool(result.applied), result.failure_reason

    # ------------------------------------------------------------------ lifecycle, settings

    def _initialize(self, params: lsp.InitializeParams) -> None:
        # Applied in `initialized`, so that `initialize` is answered before pydantic loads.
        self._init_options = params.initialization_options
        experimental = params.capabilities.experimental
        self._undo_groups = isinstance(experimental, dict) and bool(experimental.get(UNDO_GROUPS))
        encoding = self.workspace.position_encoding
        value = getattr(encoding, "value", encoding) or "utf-16"
        self.inserter.encoding = value if value in ("utf-8", "utf-16", "utf-32") else "utf-16"  # type: ignore[assignment]

    async def _initialized(self, _: Any) -> None:
        self._apply_settings(self._init_options, "initializationOptions")
        await self._pull_configuration()
        self._listen_for_wake_word()

    async def _did_change_configuration(self, params: lsp.DidChangeConfigurationParams) -> None:
        self._config_changes += 1
        self._apply_settings(params.settings, "didChangeConfiguration")
        await self._pull_configuration()
        self._listen_for_wake_word()

    def _listen_for_wake_word(self) -> None:
        """With a wake word set, the conversation (made now if need be) listens for it."""
        if self.settings.wake_word:
            self.conversation.wake.changed()

    async def _pull_configuration(self) -> None:
        workspace = self.client_capabilities.workspace
        if not (workspace and workspace.configuration):
            return
        asked_at = self._config_changes
        try:
            result = await asyncio.wait_for(
                self.workspace_configuration_async(
                    lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section=SECTION)])
                ),
                CONFIG_TIMEOUT,
            )
        except (TimeoutError, JsonRpcException) as exc:
            log.info("workspace/configuration gave nothing (%s); keeping current settings", exc)
            return
        if asked_at != self._config_changes:
            # A newer change came while this was answered: the client's answer may predate it
            # (seen: a cleared voice set back to the old one), and that change pulls again.
            log.debug("workspace/configuration answered for an older change; not applied")
            return
        if result:
            self._apply_settings({SECTION: result[0]}, "workspace/configuration")

    def _apply_settings(self, raw: Any, source: str) -> None:
        data = plain(raw)
        if not isinstance(data, dict):
            return
        section = data.get(SECTION, data) if SECTION in data else data
        if not isinstance(section, dict) or not section:
            return  # eglot sends {"settings": {}}: nothing to change
        try:
            new = self.settings.with_changes(section)
        except ConfigError as exc:
            self.say("warning", f"vivavoce: {exc} (from {source}; keeping the previous value)")
            section = {k: v for k, v in section.items() if k != (exc.key or "").split(".")[0]}
            try:
                new = self.settings.with_changes(section)
            except ConfigError:
                return
        before = self.settings.model_dump(by_alias=True)
        self.config.replace(new)  # the conversation follows (Configuration.on_change)
        set_log_level(new.log_level)
        changed = [k for k, v in new.model_dump(by_alias=True).items() if before.get(k) != v]
        if changed:  # (names only: a value may be a key)
            log.info("settings changed (from %s): %s", source, ", ".join(sorted(changed)))

    async def _shutdown(self, *_: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """End the call and free the microphone (idempotent; bounded by CLOSE_TIMEOUT)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closing), CLOSE_TIMEOUT)

    async def _close(self) -> None:
        await self.dictation.close()
        await self.inserter.close()
        if self._conversation is not None:
            await self._conversation.close()

    # ------------------------------------------------------------------ documents

    def _text(self, uri: str) -> str | None:
        doc = self.workspace.text_documents.get(uri)
        return None if doc is None else doc.source

    def _did_open(self, _: lsp.DidOpenTextDocumentParams) -> None:
        self._editor_changed()

    def _did_change(self, params: lsp.DidChangeTextDocumentParams) -> None:
        changes: list[tuple[Pos, Pos, str] | None] = []
        for change in params.content_changes:
            if isinstance(change, lsp.TextDocumentContentChangePartial):
                start, end = lsp_range_to_pos(change.range)
                changes.append((start, end, change.text))
            else:
                changes.append(None)
        uri = params.text_document.uri
        self.inserter.document_changed(uri, changes, self._text(uri))

    def _did_close(self, params: lsp.DidCloseTextDocumentParams) -> None:
        self.inserter.document_closed(params.text_document.uri)
        self._editor_changed()


async def _open_devices(settings: Settings, on_level: Callable[[float], None]) -> AudioIO:
    """The microphone and speaker; sounddevice and numpy load only when a call needs them."""
    from ..audio import open_audio

    return await open_audio(settings, on_level)


async def _open_microphone(settings: Settings, on_level: Callable[[float], None]) -> Microphone:
    """The microphone alone, while the wake word is listened for."""
    from ..audio.listen import open_microphone

    return await open_microphone(settings, on_level)


def _function(method: Callable[..., Any]) -> Callable[..., Any]:
    """A plain function calling ``method`` (sync stays sync, async stays async)."""
    if asyncio.iscoroutinefunction(method):

        async def call_async(*args: Any) -> Any:
            return await method(*args)

        return call_async

    def call(*args: Any) -> Any:
        return method(*args)

    return call


def serve_stdio(server: VivavoceServer) -> None:
    """Serve over stdin/stdout until the client exits or stdin closes; then clean up."""
    import os
    import sys
    from threading import Event

    from pygls.io_ import StdoutWriter

    from .framing import FrameReader, serve

    async def main() -> None:
        server._stop_event = Event()
        loop = asyncio.get_running_loop()
        stdin = sys.stdin.buffer.fileno()
        reader = FrameReader(lambda n: loop.run_in_executor(server.thread_pool, os.read, stdin, n))
        writer = StdoutWriter(sys.stdout.buffer)
        server.protocol.set_writer(writer)
        try:
            # Not pygls' run_async: it loses every message after one bad frame (see .framing).
            await serve(reader, server.protocol, server._stop_event, writer.write)
        finally:
            # stdin closed (the editor went away) or exit: end the call, free the microphone.
            await server.close()

    with contextlib.suppress(KeyboardInterrupt, SystemExit, BrokenPipeError):
        asyncio.run(main())
    server.thread_pool.shutdown(wait=False, cancel_futures=True)


def make_server() -> VivavoceServer:
    for name in ("pygls.protocol.json_rpc", "pygls.protocol.language_server"):
        logging.getLogger(name).addFilter(ExpectedErrors())
    server = VivavoceServer()
    handler = ClientLogHandler(server)
    handler.setLevel(logging.INFO)
    logging.getLogger("vivavoce").addHandler(handler)
    return server
