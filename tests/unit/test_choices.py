"""The user's choices over the configured settings, and the one place a session is built."""

from __future__ import annotations

from vivavoce.conversation import Choices, session_for
from vivavoce.settings import Configuration, Settings


def test_a_session_from_settings_alone_is_what_was_configured() -> None:
    settings = Settings(voice="verse", model="gpt-realtime-mini", instructions="Be brief.")
    session = session_for(settings)
    assert session.model == "gpt-realtime-mini"
    assert session.instructions == "Be brief."
    assert session.audio.output.voice == "verse"
    assert session.audio.input.turn_detection is not None
    assert session.tools is None


def chosen(settings: Settings, model: str) -> Choices:
    """What a user chose at start: this model, the sage voice, French."""
    choices = Choices.from_settings(settings)
    choices.models["realtime"] = model
    choices.instructions = "Answer in French."
    choices.voices.choose("realtime", "sage")
    return choices


def test_the_users_choices_win_over_settings_and_tools_are_declared() -> None:
    settings = Settings(voice="verse")
    choices = chosen(settings, "gpt-4o-realtime-preview")
    tools = [("read_document", "Read it", {"type": "object", "properties": {}})]
    session = session_for(settings, choices, tools)
    assert (session.model, session.instructions) == ("gpt-4o-realtime-preview", "Answer in French.")
    assert session.audio.output.voice == "sage"
    assert session.tools is not None and [t.name for t in session.tools] == ["read_document"]
    assert session.tool_choice == "auto"
    assert settings.voice == "verse" and settings.model == "gpt-realtime-2.1"  # never written back


def test_push_to_talk_turns_voice_activity_detection_off() -> None:
    for mode in ("hold", "toggle"):
        session = session_for(Settings(push_to_talk=mode))
        assert session.audio.input.turn_detection is None


def test_only_settings_that_changed_replace_the_users_choices() -> None:
    old = Settings(voice="verse")
    choices = chosen(old, "gpt-realtime-mini")
    unrelated = old.with_changes({"insertTranscripts": "both", "textModel": "gpt-4o"})
    choices.settings_changed(old, unrelated)
    assert choices.model("realtime", unrelated) == "gpt-realtime-mini"
    assert choices.voice("realtime") == "sage"
    assert choices.instructions_for(unrelated) == "Answer in French."
    newer = unrelated.with_changes({"model": "gpt-4o-realtime-preview", "voice": "cedar"})
    choices.settings_changed(unrelated, newer)
    assert choices.model("realtime", newer) == "gpt-4o-realtime-preview"
    assert choices.voice("realtime") == "cedar"
    assert choices.instructions_for(newer) == "Answer in French."


def test_a_configured_voice_belongs_to_each_mode_that_has_it() -> None:
    both = Choices.from_settings(Settings(voice="alloy"))
    assert (both.voice("realtime"), both.voice("text")) == ("alloy", "alloy")
    text_only = Choices.from_settings(Settings(voice="onyx"))
    assert (text_only.voice("realtime"), text_only.voice("text")) == ("echo", "onyx")
    paired = Choices.from_settings(Settings(voice="verse", text_voice="fable"))
    assert (paired.voice("realtime"), paired.voice("text")) == ("verse", "fable")


def test_configuration_is_replaced_whole_and_listeners_see_old_and_new() -> None:
    first = Settings(voice="verse")
    config = Configuration(first)
    seen: list[tuple[str, str]] = []
    config.on_change(lambda old, new: seen.append((old.voice, new.voice)))
    second = first.with_changes({"voice": "sage"})
    config.replace(second)
    assert config.current is second and first.voice == "verse"
    assert seen == [("verse", "sage")]


def test_noise_reduction_is_sent_in_both_shapes_and_off_is_null() -> None:
    import json

    from vivavoce.realtime import events as ev
    from vivavoce.realtime.events import session_to_beta

    for setting, wire in (("far_field", {"type": "far_field"}), ("off", None)):
        session = session_for(Settings(noise_reduction=setting))
        ga = session.model_dump(exclude_none=True)["audio"]["input"]
        assert ga["noise_reduction"] == wire
        assert session_to_beta(session)["input_audio_noise_reduction"] == wire
    update = ev.SessionUpdate(session=session_for(Settings(noise_reduction="off")))
    assert json.loads(ev.encode(update))["session"]["audio"]["input"]["noise_reduction"] is None
