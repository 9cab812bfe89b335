"""The code vocabulary: which words the transcription is given, and spoken forms → code."""

from __future__ import annotations

import pytest

from vivavoce.conversation.choices import session_for
from vivavoce.settings import Settings
from vivavoce.vocabulary import Document, rank, split_identifier, to_code, transcription_hints

CODE = """\
import os

def parse_config(path):
    return load(path)

def getUserById(user_id):
    max_retries = 3
    for attempt in range(max_retries):
        cursor_here = fetchUser(user_id)
"""


def test_identifiers_nearest_the_cursor_come_first_after_fixed_words_and_file_names() -> None:
    cursor = CODE.index("cursor_here")
    words = rank(
        [
            Document("file:///src/users.py", CODE, cursor),
            Document("file:///src/other.ts", "const farAwayThing = renderWidget();"),
        ],
        fixed=["PR", "vivavoce"],
    )
    assert words[:4] == ["PR", "vivavoce", "users.py", "other.ts"]
    near = words[4:]
    # Nearest first; keywords, short names (os, path) and English words left out.
    assert near.index("cursor_here") < near.index("fetchUser") < near.index("parse_config")
    assert "max_retries" in near and "getUserById" in near and "user_id" in near
    assert not {"import", "return", "for", "os", "path", "def"} & set(words)
    # Other documents' identifiers follow the active one's.
    assert near.index("parse_config") < near.index("farAwayThing")


def test_a_frequent_identifier_beats_a_rare_one_at_about_the_same_distance() -> None:
    text = "alphaOnce betaTwice\nbetaTwice " + " " * 20 + "|"
    words = rank([Document("file:///a.py", text, text.index("|"))])
    assert words.index("betaTwice") < words.index("alphaOnce")


def test_the_vocabulary_is_capped_and_unique() -> None:
    text = " ".join(f"name{i:04d}x" for i in range(500))
    words = rank([Document("file:///big.py", text, len(text) // 2)], fixed=["Jargon"], limit=50)
    assert len(words) == 50 == len(set(words))
    assert words[0] == "Jargon"
    assert rank([], fixed=["a", "b", "a"], limit=1) == ["a"]


def test_only_the_window_around_the_cursor_of_a_huge_document_is_read() -> None:
    text = "farStart " + "x " * 100_000 + "nearCursor |" + "y " * 100_000 + "farEnd"
    words = rank([Document("file:///huge.py", text, text.index("|"))])
    assert "nearCursor" in words
    assert "farStart" not in words and "farEnd" not in words


def test_split_identifier() -> None:
    assert split_identifier("getUserByID") == ["get", "user", "by", "id"]
    assert split_identifier("max_retries") == ["max", "retries"]
    assert split_identifier("HTTPServer2") == ["http", "server", "2"]
    assert split_identifier("kebab-case-name") == ["kebab", "case", "name"]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-transcribe", {"keywords": ["getUserById", "max_retries"]}),
        ("gpt-live-transcribe", {"keywords": ["getUserById", "max_retries"]}),
        ("gpt-4o-transcribe", {"prompt": "getUserById, max_retries"}),
        ("whisper-1", {"prompt": "getUserById, max_retries"}),
        ("gpt-realtime-whisper", {}),  # takes neither in GA realtime sessions
    ],
)
def test_keywords_for_models_that_take_them_else_a_prompt(
    model: str, expected: dict[str, object]
) -> None:
    assert transcription_hints(model, ["getUserById", "max_retries"]) == expected
    assert transcription_hints(model, []) == {}


def test_a_long_prompt_is_cut_at_a_whole_word() -> None:
    prompt = transcription_hints("whisper-1", [f"identifier{i}" for i in range(500)])["prompt"]
    assert isinstance(prompt, str) and len(prompt) <= 1000
    assert prompt.split(", ")[-1].startswith("identifier")


def test_the_session_carries_the_vocabulary_in_the_sdk_shape() -> None:
    from openai.types.realtime.audio_transcription import AudioTranscription

    session = session_for(Settings(), vocabulary=["getUserById"])
    tr = session.audio.input.transcription
    assert tr is not None
    wire = tr.model_dump(exclude_none=True)
    assert wire == {"model": "gpt-transcribe", "language": "en", "keywords": ["getUserById"]}
    AudioTranscription.model_validate(wire)  # a field the real API knows
    whisper = Settings().with_changes({"transcription": {"model": "whisper-1"}})
    tr = session_for(whisper, vocabulary=["getUserById"]).audio.input.transcription
    assert tr is not None and tr.prompt == "getUserById" and tr.keywords is None


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("call get user by id with the token", "call getUserById with the token"),
        ("Get user by ID.", "getUserById."),
        ("set snake case max retries to five", "set max_retries to five"),
        ("snake case retry count", "retry_count"),
        ("camel case parse config file", "parseConfig file"),
        ("pascal case http server", "HttpServer"),
        ("kebab case my new flag, please", "my-new-flag, please"),
        ("constant case max retries", "MAX_RETRIES"),
        ("a new user by idea", "a new user by idea"),  # no identifier: unchanged
        ("get user by", "get user by"),  # a prefix of one: unchanged
        ("snake case", "snake case"),  # nothing to case
    ],
)
def test_spoken_forms_become_identifiers(said: str, written: str) -> None:
    vocabulary = ["getUserById", "max_retries", "parseConfig", "users.py"]
    assert to_code(said, vocabulary) == written


def test_a_vocabulary_phrase_is_only_joined_when_the_identifier_is_in_the_vocabulary() -> None:
    assert to_code("call get user by id", []) == "call get user by id"
    # The explicit case forms work with no vocabulary at all.
    assert to_code("call snake case get user", []) == "call get_user"
