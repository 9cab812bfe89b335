"""Transcript assembly: deltas, finals, and order by item links rather than arrival."""

from vivavoce.realtime import events as ev
from vivavoce.realtime.transcript import Transcript


def _user_item(item_id: str, prev: str | None) -> ev.ItemAdded:
    return ev.ItemAdded(
        previous_item_id=prev,
        item=ev.Item(id=item_id, role="user", content=[ev.ContentPart(type="input_audio")]),
    )


def test_assistant_deltas_stream_then_final_carries_whole_text() -> None:
    t = Transcript()
    updates = []
    for delta in ["Hel", "lo ", "there"]:
        updates += t.apply(ev.AudioTranscriptDelta(response_id="r", item_id="a1", delta=delta))
    updates += t.apply(
        ev.AudioTranscriptDone(response_id="r", item_id="a1", transcript="Hello there")
    )
    assert [u.delta for u in updates] == ["Hel", "lo ", "there", None]
    assert [u.text for u in updates] == ["Hel", "Hello ", "Hello there", "Hello there"]
    assert [u.final for u in updates] == [False, False, False, True]
    assert {u.role for u in updates} == {"assistant"}


def test_late_user_transcription_is_ordered_before_the_reply_it_caused() -> None:
    t = Transcript()
    t.apply(_user_item("u1", None))
    # The reply starts and finishes before the user's speech is transcribed.
    t.apply(ev.ItemAdded(previous_item_id="u1", item=ev.Item(id="a1", role="assistant")))
    t.apply(ev.AudioTranscriptDone(response_id="r", item_id="a1", transcript="Sure."))
    t.apply(ev.InputTranscriptionCompleted(item_id="u1", transcript=" open the file "))
    assert [(turn.role, turn.text) for turn in t.final_turns()] == [
        ("user", "open the file"),
        ("assistant", "Sure."),
    ]


def test_turns_follow_previous_item_links_even_when_announced_out_of_order() -> None:
    t = Transcript()
    t.apply(ev.ItemAdded(previous_item_id="u2", item=ev.Item(id="a2", role="assistant")))
    t.apply(_user_item("u1", None))
    t.apply(ev.ItemAdded(previous_item_id="u1", item=ev.Item(id="a1", role="assistant")))
    t.apply(_user_item("u2", "a1"))
    assert [turn.item_id for turn in t.turns()] == ["u1", "a1", "u2", "a2"]


def test_delta_after_final_changes_nothing() -> None:
    t = Transcript()
    t.apply(ev.AudioTranscriptDone(response_id="r", item_id="a1", transcript="Done."))
    assert t.apply(ev.AudioTranscriptDelta(response_id="r", item_id="a1", delta="more")) == []
    turn = t.get("a1")
    assert turn is not None
    assert turn.text == "Done."


def test_cancelled_response_ends_its_turn_marked_interrupted() -> None:
    t = Transcript()
    t.apply(ev.AudioTranscriptDelta(response_id="r", item_id="a1", delta="Let me expl"))
    updates = t.apply(
        ev.ResponseDone(response=ev.Response(id="r", status="cancelled", output=[ev.Item(id="a1")]))
    )
    assert len(updates) == 1
    assert updates[0].final and updates[0].interrupted
    assert updates[0].text == "Let me expl"


def test_typed_user_message_is_a_final_user_turn() -> None:
    t = Transcript()
    updates = t.apply(
        ev.ItemAdded(
            item=ev.Item(
                id="u1", role="user", content=[ev.ContentPart(type="input_text", text="hi there")]
            )
        )
    )
    assert [(u.role, u.text, u.final) for u in updates] == [("user", "hi there", True)]


def test_a_reply_final_waits_for_the_late_user_transcription_it_follows() -> None:
    t = Transcript()
    t.apply(_user_item("u1", None))
    t.apply(ev.ItemAdded(previous_item_id="u1", item=ev.Item(id="a1", role="assistant")))
    streamed = t.apply(ev.AudioTranscriptDelta(response_id="r", item_id="a1", delta="Sure."))
    assert [(u.item_id, u.final) for u in streamed] == [("a1", False)]  # deltas are never held
    assert t.apply(ev.AudioTranscriptDone(response_id="r", item_id="a1", transcript="Sure.")) == []
    released = t.apply(ev.InputTranscriptionCompleted(item_id="u1", transcript="open it"))
    assert [(u.item_id, u.role, u.text, u.final) for u in released] == [
        ("u1", "user", "open it", True),
        ("a1", "assistant", "Sure.", True),
    ]


def test_a_failed_transcription_releases_what_waited_for_it() -> None:
    t = Transcript()
    t.apply(_user_item("u1", None))
    t.apply(ev.ItemAdded(previous_item_id="u1", item=ev.Item(id="a1", role="assistant")))
    t.apply(ev.AudioTranscriptDone(response_id="r", item_id="a1", transcript="Pardon?"))
    failure = ev.ErrorDetail(type="invalid_request_error", message="audio unclear")
    released = t.apply(ev.InputTranscriptionFailed(item_id="u1", error=failure))
    assert [u.item_id for u in released] == ["u1", "a1"]


def test_finals_still_held_when_the_call_ends_are_flushed_not_lost() -> None:
    t = Transcript()
    t.apply(_user_item("u1", None))
    t.apply(ev.ItemAdded(previous_item_id="u1", item=ev.Item(id="a1", role="assistant")))
    t.apply(ev.AudioTranscriptDone(response_id="r", item_id="a1", transcript="Sure."))
    assert [(u.item_id, u.text) for u in t.flush()] == [("a1", "Sure.")]
    assert t.flush() == []
