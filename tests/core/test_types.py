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
