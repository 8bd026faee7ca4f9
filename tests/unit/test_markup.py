import pytest

from core.chat import Button, Reply, escape_markup, parse_markup, strip_markup


def test_parse_styles() -> None:
    assert parse_markup("**Hi** _you_ `x`") == [
        ("b", "Hi"),
        ("", " "),
        ("i", "you"),
        ("", " "),
        ("code", "x"),
    ]


@pytest.mark.parametrize(
    "user_text", ["a_b_c", "**not bold**", "_x_", "back\\slash", "`tick`", "snake_case_name"]
)
def test_escaped_user_text_roundtrips_literally(user_text: str) -> None:
    assert strip_markup(escape_markup(user_text)) == user_text
    assert all(style == "" for style, _ in parse_markup(escape_markup(user_text)))


def test_identifiers_with_underscores_are_not_italic() -> None:
    assert strip_markup("ring_light and content_types") == "ring_light and content_types"


def test_button_payload_limit_is_bytes() -> None:
    Button("ok", "x" * 64)
    with pytest.raises(ValueError):
        Button("too long", "é" * 33)  # 66 bytes


def test_reply_json_shape() -> None:
    reply = Reply.text("**hi**", result=[1], buttons=[[Button("A", "cmd:help")]])
    data = reply.to_dict()
    assert data["blocks"] == [{"type": "text", "text": "**hi**"}]
    assert data["buttons"] == [[{"label": "A", "action": "cmd:help"}]]
    assert data["result"] == [1]
    assert reply.plain_text == "hi"
