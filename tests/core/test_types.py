from __future__ import annotations

from bestroute.types import conversation_text, last_user_text, message_text


def test_last_user_turn_is_the_default_query() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url"}]},
    ]
    assert last_user_text(messages) == "second"
    assert conversation_text(messages).splitlines()[0] == "system: Be brief."


def test_objects_with_type_and_content_are_understood() -> None:
    class Human:
        type = "human"
        content = "hi there"

    assert last_user_text([Human()]) == "hi there"
    assert message_text("plain") == "plain"
    assert last_user_text([]) == ""


def test_trace_dict_copies_samples_but_never_their_native_message() -> None:
    from bestroute.pool import Arm
    from bestroute.trace import Attempt, Decision, Trace
    from bestroute.types import Sample

    class Uncopyable:
        def __deepcopy__(self, memo: object) -> None:
            raise AssertionError("the native message was deep-copied")

    arm = Arm("small", 1)
    metadata = {"finish_reason": "stop", "tool_calls": [{"name": "add"}]}
    sample = Sample("Four.", 3, 2, 0.5, Uncopyable(), metadata)
    decision = Decision("2 + 2?", arm, [arm], {arm.key: 0.9}, {arm.key: 0.0}, 3, 0.01)
    trace = Trace(decision, [Attempt(arm, samples=[sample], selected=0)])
    (entry,) = trace.to_dict()["attempts"][0]["samples"]
    assert entry == {
        "text": "Four.",
        "input_tokens": 3,
        "output_tokens": 2,
        "latency_s": 0.5,
        "metadata": metadata,
    }
    assert entry["metadata"]["tool_calls"] is not metadata["tool_calls"]  # a copy, as before
