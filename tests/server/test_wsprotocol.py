"""Prepared websocket frames: byte-exact against the websockets parser, shared between sockets."""

from __future__ import annotations

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from server.wsprotocol import FrameCache, text_frame


def _parsed(frame: bytes) -> Frame:
    client = ClientProtocol(parse_uri("ws://127.0.0.1/graphql"), state=State.OPEN, max_size=None)
    client.receive_data(frame)
    events = client.events_received()
    assert len(events) == 1
    assert isinstance(events[0], Frame)
    return events[0]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 200_000])
def test_a_text_frame_of_any_length_parses_back_to_its_text(size: int) -> None:
    # given a text whose UTF-8 length straddles each length encoding
    text = "x" * size
    # when it is framed and parsed by a client
    parsed = _parsed(text_frame(text))
    # then it is one final text frame with the same text
    assert parsed.opcode is Opcode.TEXT
    assert parsed.fin is True
    assert bytes(parsed.data).decode() == text


def test_the_length_counts_utf8_bytes_not_characters() -> None:
    text = "peinture à l'huile, 油絵 🎨"  # 24 characters, 32 bytes
    frame = text_frame(text)
    assert frame[1] == 32
    assert len(frame) == 2 + 32
    assert bytes(_parsed(frame).data).decode() == text


def test_a_frame_is_built_once_per_prefix_and_text() -> None:
    cache = FrameCache(size=2)
    text = '{"data":{"homeFeed":null}}'
    first = cache.frame('{"id":"1","payload":', text, "}")
    assert cache.frame('{"id":"1","payload":', text, "}") is first
    other_id = cache.frame('{"id":"2","payload":', text, "}")
    assert other_id is not first
    assert bytes(_parsed(other_id).data) == b'{"id":"2","payload":{"data":{"homeFeed":null}}}'


def test_the_cache_forgets_the_oldest_frames_beyond_its_size() -> None:
    cache = FrameCache(size=2)
    first = cache.frame("a", "1", "")
    cache.frame("a", "2", "")
    cache.frame("a", "3", "")
    assert cache.frame("a", "1", "") is not first
