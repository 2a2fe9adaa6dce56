"""Multipart requests read in memory as they stream in (server.multipart)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest
from starlette.requests import Request
from starlette.types import Message

from server.multipart import FIELD_CAP, MultipartError, ReceivedFile, read_form
from tests.graphql import GraphQLClient

CREATE = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id } errors { field code } } }"""
BOUNDARY = "gesso-test-boundary"


def body(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart/form-data body of ``(name, filename or None, content)`` parts."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: image/jpeg\r\n"
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def request(payload: bytes, chunk: int = 65536) -> Request:
    """A Starlette request whose body arrives in ``chunk``-byte messages, as a server sends it."""
    pieces = [payload[i : i + chunk] for i in range(0, len(payload), chunk)] or [b""]
    messages: list[Message] = [
        {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1}
        for n, piece in enumerate(pieces)
    ]

    async def receive() -> Message:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
    }
    return Request(scope, receive)


async def test_fields_and_files_are_read_whole() -> None:
    content = bytes(range(256)) * 1000  # crosses many chunk borders, boundary-like bytes too
    fields, files = await read_form(
        request(body(("operations", None, b'{"query": "x"}'), ("0", "a.jpg", content)), 1000),
        file_cap=len(content),
    )
    assert fields == {"operations": '{"query": "x"}'}
    received = files["0"]
    assert (received.filename, received.content_type, received.size) == (
        "a.jpg",
        "image/jpeg",
        len(content),
    )
    assert await received.read(len(content) + 1) == content


async def test_a_file_over_the_cap_is_counted_not_kept() -> None:
    content = b"\xff\xd8\xff" + b"x" * 300_000
    _, files = await read_form(request(body(("0", "big.jpg", content))), file_cap=1000)
    received = files["0"]
    assert received.size == len(content)
    # what is kept reaches past the cap (so the resolver refuses it) but not much further
    assert 1000 < len(received.data) <= 1000 + 65536
    assert received.data == content[: len(received.data)]


@pytest.mark.parametrize(
    "payload",
    [
        body(("operations", None, b"x" * (FIELD_CAP + 1))),
        b'--other\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--other--\r\n',
        f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nb\r\n--{BOUNDARY}--\r\n".encode(),
        body(("operations", None, b"\xff\xfe")),
    ],
    ids=["field over the cap", "another boundary", "no content-disposition", "not utf-8"],
)
async def test_bodies_not_read_are_refused(payload: bytes) -> None:
    with pytest.raises(MultipartError):
        await read_form(request(payload), file_cap=10_000)


async def test_a_malformed_body_is_answered_400(clean_db: str) -> None:
    async with GraphQLClient.for_app() as gql:
        response = await gql.http.post(
            "/graphql",
            content=body(("operations", None, b"\xff\xfe")),
            headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "GraphQL-Preflight": "1",
            },
        )
    assert response.status_code == 400


async def test_an_upload_is_read_without_handing_chunks_to_threads(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Starlette's form reader spooled a file over 1 MiB to disk, a worker thread per chunk.
    handed: list[Callable[..., Any]] = []
    original = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        handed.append(func)
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    async with GraphQLClient.for_app() as gql:
        await gql.sign_up("painter")
        result = await gql.upload(
            CREATE,
            {"i": {"title": "Noise", "images": [{"file": None}]}},
            {"i.images.0.file": ("noise.jpg", b"not a picture " * 150_000, "image/jpeg")},
            as_="painter",
        )
    assert result.data["createArtwork"]["errors"] == [
        {"field": "images", "code": "IMAGE_UNSUPPORTED"}
    ]
    assert handed == []


async def test_a_received_file_reads_in_pieces() -> None:
    received = ReceivedFile("a.jpg", "image/jpeg", b"abcdef", 6)
    assert [await received.read(4), await received.read(4), await received.read()] == [
        b"abcd",
        b"ef",
        b"",
    ]
