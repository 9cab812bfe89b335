"""One settings model for the whole product.

Sources, later ones winning: defaults → environment (``VIVAVOCE_*``, ``OPENAI_API_KEY``) →
what the editor sends (initializationOptions, didChangeConfiguration, workspace/configuration;
camelCase on the wire). The API key is a :class:`~pydantic.SecretStr`: it never prints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import AuthenticationError, ConfigError
from .pricing import Price
from .voices import DEFAULT_VOICE

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_API_KEY = "no API key: set OPENAI_API_KEY or the vivavoce apiKey setting"
#: pocketsphinx's keyphrase threshold for the wake word (tuned by ``make bench``, group wakeword).
WAKE_WORD_THRESHOLD = 1e-20


class _Section(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TranscriptionSettings(_Section):
    model: str = Field(
        "gpt-transcribe", description="Model that transcribes the user's speech (both modes)."
    )
    language: str | None = Field("en", description="Language of the user's speech (ISO 639-1).")
    code_vocabulary: bool = Field(
        True,
        description="Give the transcription the words of the code in front of you: identifiers "
        "near the cursor and the names of open files (as keywords, or a prompt for models "
        "without keywords), refreshed between turns. Spoken forms become identifiers again "
        "where text goes into the buffer or a tool.",
    )
    words: list[str] = Field(
        default_factory=list,
        description="Fixed words the transcription should expect (project jargon, names), "
        "sent first, even with codeVocabulary off.",
    )


class LocalServicesSettings(_Section):
    """Your own speech and language servers behind the embedded peer, so nothing leaves the
    machine: each step of a turn through an OpenAI-compatible route (each optional; the peer's
    built-in recognizer, responder and voice otherwise). Keys come from the environment
    (VIVAVOCE_TRANSCRIBE_API_KEY, VIVAVOCE_SPEECH_API_KEY, VIVAVOCE_CHAT_API_KEY), never from
    settings. A change applies from the next call."""

    transcribe_url: str | None = Field(
        None,
        description="Recognition: base URL (…/v1) of a server with POST /audio/transcriptions "
        "(whisper.cpp server, speaches).",
    )
    transcribe_model: str = Field("whisper-1", description="Model named to transcribeUrl.")
    speech_url: str | None = Field(
        None,
        description="Speech: base URL (…/v1) of a server with POST /audio/speech "
        "(Kokoro-FastAPI, speaches); raw PCM is asked for and played as it arrives.",
    )
    speech_model: str = Field("tts-1", description="Model named to speechUrl.")
    speech_voice: str | None = Field(
        None,
        description="Voice asked of speechUrl (e.g. Kokoro's af_heart); none: the voice setting.",
    )
    chat_url: str | None = Field(
        None,
        description="Replies: base URL (…/v1) of a server with POST /chat/completions (Ollama, "
        "llama.cpp server); streamed, and the voice tools are passed to models that take tools.",
    )
    chat_model: str = Field("gpt-4o-mini", description="Model named to chatUrl.")
    timeout_seconds: float = Field(
        20.0, gt=0, description="How long each request to these servers may take."
    )
    speculate: bool = Field(
        True,
        description="Start writing a reply just before server_vad's silence ends the turn "
        "(thrown away if you go on): replies start sooner; a paid chatUrl bills those requests.",
    )

    def peer_arguments(self) -> list[str]:
        """The ``vivavoce peer`` options that put these servers behind it."""
        args: list[str] = []
        for step in ("transcribe", "speech", "chat"):
            url = getattr(self, f"{step}_url")
            if url:
                args += [f"--{step}-url", url, f"--{step}-model", getattr(self, f"{step}_model")]
        if self.speech_voice:
            args += ["--speech-voice", self.speech_voice]
        if args:
            args += ["--upstream-timeout", f"{self.timeout_seconds:g}"]
        return args if self.speculate else [*args, "--no-speculate"]


class TurnDetectionSettings(_Section):
    """``type: none`` turns voice-activity detection off (push-to-talk).

    The defaults suit a programmer at a desk who stops to think mid-sentence: ``semantic_vad``
    ends a turn when the words sound finished, and ``low`` eagerness waits up to 8 s through a
    pause after unfinished words ("so the function should …") instead of server_vad's 500 ms.
    """

    type: Literal["server_vad", "semantic_vad", "none"] = Field(
        "semantic_vad",
        description="How turns are detected: semantic_vad (a turn ends when the words sound "
        "finished), server_vad (after silenceDurationMs of silence), none = push-to-talk only.",
    )
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Speech probability that starts a turn (server_vad)."
    )
    prefix_padding_ms: int = Field(
        300, ge=0, le=5000, description="Audio kept from before speech started (server_vad)."
    )
    silence_duration_ms: int = Field(
        500, ge=50, le=10000, description="Silence that ends a turn (server_vad)."
    )
    eagerness: Literal["low", "medium", "high", "auto"] = Field(
        "low",
        description="How soon a turn ends (semantic_vad): low waits longest through a pause "
        "after unfinished words (up to 8 s), medium/auto 4 s, high 2 s.",
    )


class Settings(BaseSettings):
    """Everything a user can configure. Field names are snake_case; the wire is camelCase."""

    model_config = SettingsConfigDict(
        env_prefix="VIVAVOCE_",
        env_nested_delimiter="__",
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        validate_default=True,
    )

    api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("apiKey", "api_key", "VIVAVOCE_API_KEY", "OPENAI_API_KEY"),
        description="API key of the Realtime server (or env OPENAI_API_KEY). Never logged.",
    )
    base_url: str = Field(OPENAI_BASE_URL, description="Base URL of the Realtime API (…/v1).")
    peer: str = Field(
        "auto",
        description='"embedded" (offline local peer), "openai" (baseUrl), a URL, or "auto": '
        "embedded when no API key is set.",
    )
    dialect: Literal["ga", "beta"] = Field("ga", description="Realtime API shape to speak.")
    model: str = Field("gpt-realtime-2.1", description="Realtime model.")
    text_model: str = Field("gpt-5.4-mini", description="Chat model of text mode.")
    speech_model: str = Field(
        "gpt-realtime-2.1-mini",
        description="Voice of text mode's replies: a realtime model reads each sentence aloud "
        "over a Realtime call (the default; no microphone is sent), or a text-to-speech model "
        "(gpt-4o-mini-tts, tts-1, or a compatible local server) through POST /audio/speech. "
        "OpenAI shuts its text-to-speech models down on 2027-01-06.",
    )
    voice: str = Field(DEFAULT_VOICE, description="Voice of the assistant.")
    instructions: str = Field(
        "You are vivavoce, a concise spoken assistant inside a code editor. Keep spoken "
        "replies short: a sentence or two. Never read code aloud: put it in a show_code call "
        "(the editor shows it, and the user can insert it), then say in a few words what it "
        "does.",
        description="System instructions for the assistant (the default asks for short spoken "
        "replies, and code shown in the editor through the show_code tool, not read aloud).",
    )
    transcription: TranscriptionSettings = Field(default_factory=TranscriptionSettings)
    local_services: LocalServicesSettings = Field(default_factory=LocalServicesSettings)
    turn_detection: TurnDetectionSettings = Field(default_factory=TurnDetectionSettings)
    noise_reduction: Literal["near_field", "far_field", "off"] = Field(
        "far_field",
        description="Noise reduction of the microphone before turn detection and transcription: "
        "far_field for a laptop's or desk microphone (also keeps typing from starting turns), "
        "near_field for a headset, off.",
    )
    ice_servers: list[str] = Field(
        default_factory=list, description="STUN/TURN URLs; none is needed for OpenAI."
    )
    connect_timeout: float = Field(10.0, gt=0, le=120, description="Seconds per connect step.")
    audio_devices: bool = Field(
        True, description="Use the microphone and speaker (off: silence in, nothing out)."
    )
    input_device: str | None = Field(None, description="Microphone (name or index).")
    output_device: str | None = Field(None, description="Speaker (name or index).")
    echo_cancellation: Literal["auto", "on", "off"] = Field(
        "auto", description="Cancel the assistant's voice picked up by the microphone."
    )
    record: bool = Field(False, description="Record both sides of each call beside its transcript.")
    push_to_talk: Literal["off", "hold", "toggle"] = Field(
        "off", description="hold: talk while pressed; toggle: press to start, press to stop."
    )
    wake_word: str | None = Field(
        None,
        description='A phrase (e.g. "hey viva") that opens a call when said while none is '
        "open. Heard on this machine (pocketsphinx): nothing is sent anywhere until it is said.",
    )
    wake_word_threshold: float = Field(
        WAKE_WORD_THRESHOLD,
        gt=0,
        le=1,
        description="Keyphrase threshold of the wake word: lower hears it more readily, and "
        "more often when it was not said.",
    )
    text_voice: str | None = Field(None, description="Voice of text mode (default: mapped).")
    extra_realtime_voices: list[str] = Field(
        default_factory=list, description="Realtime voices the provider added since this release."
    )
    extra_tts_voices: list[str] = Field(
        default_factory=list, description="Text-to-speech voices the provider added."
    )
    replay_turns: int = Field(20, ge=0, le=200, description="Turns a new call is given.")
    reconnect_attempts: int = Field(
        4, ge=0, le=20, description="New calls tried when a call drops (backoff 0.5 s, doubling)."
    )
    insert_transcripts: Literal["none", "assistant", "both"] = Field(
        "none", description="Insert final turns into the buffer at the cursor."
    )
    history_dir: Path | None = Field(None, description="Where transcripts are kept.")
    allow_edits: Literal["none", "active", "open"] = Field(
        "active",
        description="Which documents the assistant's voice edits may change: none, the active "
        "one (where the cursor is), or any open one. Every edit is shown and can be refused.",
    )
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description="Prices per model over the published ones (USD per 1M tokens: textIn, "
        "cachedTextIn, audioIn, cachedAudioIn, imageIn, cachedImageIn, textOut, audioOut; "
        "transcriptionPerMinute in USD per minute), for new models and other providers; a "
        'partial table changes only the prices it names, e.g. {"my-model": {"textIn": 1}}.',
    )
    max_cost_per_conversation_usd: float | None = Field(
        None,
        gt=0,
        description="Budget of one conversation in USD (none: no limit). At 90 % you are told "
        "once; at 100 % the call ends and the conversation continues in text mode.",
    )
    idle_hangup_seconds: float = Field(
        120.0,
        ge=0,
        description="Hang up a call after this many seconds in which nobody spoke, typed or "
        "used a tool (billing stops; 0 = never). The next push to talk, typed text or start "
        "calls again with the conversation replayed.",
    )
    log_level: Literal["error", "warning", "info", "debug"] = Field(
        "info", description="Detail of window/logMessage and stderr logs."
    )

    @field_validator("allow_edits", mode="before")
    @classmethod
    def _edits_flag(cls, value: Any) -> Any:
        # true/false (the first form of this setting) still mean the active document / none.
        if isinstance(value, bool):
            return "active" if value else "none"
        return value

    def resolved_api_key(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None

    def api_key_for(self, base_url: str) -> str:
        """The key to send to ``base_url``: the configured one, else ``local`` for a server on
        this machine (the local peer takes any key unless started with ``--api-key``).

        Raises :class:`~vivavoce.errors.AuthenticationError` before any request leaves the
        machine when a remote server would need a key and none is set.
        """
        from .netguard import is_loopback

        if key := self.resolved_api_key():
            return key
        if is_loopback(base_url):
            return "local"
        raise AuthenticationError(NO_API_KEY, step="finding the API key")

    def with_changes(self, changes: dict[str, Any]) -> Settings:
        """A copy with ``changes`` (camelCase or snake_case) applied; raises ConfigError."""
        current = self.model_dump(by_alias=False, exclude_unset=False)
        if self.api_key is not None:
            current["api_key"] = self.api_key.get_secret_value()
        merged = _deep_merge(current, _snake(changes))
        try:
            return Settings.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(to_camel(str(p)) for p in first["loc"])
            raise ConfigError(f"setting {key!r} is invalid: {first['msg']}", key=key) from exc


def _snake(data: dict[str, Any]) -> dict[str, Any]:
    import re

    def conv(k: str) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower()

    # The keys of ``prices`` are model names: kept as they are (their tables take camelCase).
    return {
        conv(k): (_snake(v) if isinstance(v, dict) and conv(k) != "prices" else v)
        for k, v in data.items()
    }


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        nested = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = _deep_merge(out[k], v) if nested else v
    return out


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus ``overrides`` (snake_case)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {key!r} is invalid: {first['msg']}", key=key) from exc


class Configuration:
    """The configured settings of one server: one owner, replaced whole, read at use.

    The language server owns one; the conversation holds a reference and reads
    :attr:`current` when it needs a value, so it never keeps a copy that could go stale.
    Listeners are told ``(old, new)`` after every replacement.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._current = settings
        self._listeners: list[Callable[[Settings, Settings], None]] = []

    @property
    def current(self) -> Settings:
        if self._current is None:  # first use: defaults and the environment
            self._current = load_settings()
        return self._current

    def replace(self, new: Settings) -> None:
        old, self._current = self.current, new
        for listener in list(self._listeners):
            listener(old, new)

    def on_change(self, listener: Callable[[Settings, Settings], None]) -> None:
        self._listeners.append(listener)
