"""Reading a GraphQL multipart request (the file-upload convention: ``operations``, ``map``, then
the files) in memory as its body streams in.

Starlette's form reader spools every file over 1 MiB to a temporary file, writing each chunk of
the body through a worker thread (about 60 thread hand-offs for a 3.5 MB photo), and the upload
is then read back from disk, in another thread, before the resolvers see a byte. Here a file's
chunks are kept as they arrive and joined once at its end: one copy, no temporary file, no
thread. Memory is bounded as before: each file keeps at most ``file_cap + 1`` bytes (what is
beyond is counted, not kept, so the resolver refuses it as too large), each plain field at most
``field_cap``, and the whole body is capped by ``server.bodylimit``. An upload the resolvers
read was held in memory whole before too (``resolvers.media.ImageUpload``); what changes is a
request refused before its files are read (signed out, rate-limited, invalid): its files are in
memory, not on disk, until it is answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cross_web import FormData, StarletteRequestAdapter
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

FIELD_CAP = 1024 * 1024  # a plain field (``operations``, ``map``): Starlette's limit
MAX_PARTS = 1000


class MultipartError(ValueError):
    """A multipart body this server does not read (malformed, or beyond a limit)."""


@dataclass(eq=False, slots=True)
class ReceivedFile:
    """One file of a multipart request, in memory. ``read`` reads it like an upload file."""

    filename: str
    content_type: str
    data: bytes
    size: int  # bytes the client sent; more than ``len(data)`` when the file passed the cap
    _position: int = field(default=0, repr=False)

    async def read(self, size: int = -1) -> bytes:
        start = self._position
        end = len(self.data) if size < 0 else min(len(self.data), start + size)
        self._position = end
        # A whole-file read returns the stored bytes themselves (no copy).
        return self.data if (start, end) == (0, len(self.data)) else self.data[start:end]

    async def close(self) -> None:
        self.data = b""


@dataclass(slots=True)
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    chunks: list[bytes] = field(default_factory=list)
    kept: int = 0
    size: int = 0


class _Reader:
    """The callbacks of ``python_multipart.MultipartParser``, collecting fields and files."""

    def __init__(self, file_cap: int, field_cap: int) -> None:
        self.file_cap = file_cap
        self.field_cap = field_cap
        self.fields: dict[str, str] = {}
        self.files: dict[str, ReceivedFile] = {}
        self.parts = 0
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise MultipartError(f"more than {MAX_PARTS} parts")
        self.part = _Part()
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self.headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise MultipartError("a part has no Content-Disposition: form-data with a name")
        self.part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self.part.filename = options[b"filename"].decode("utf-8", "replace")
        self.part.content_type = self.headers.get(b"content-type", b"").decode("latin-1")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        part.size += end - start
        if part.filename is None:
            if part.size > self.field_cap:
                raise MultipartError(f"the field {part.name!r} is over {self.field_cap} bytes")
        elif part.kept > self.file_cap:
            return  # beyond the cap: counted, not kept
        whole = start == 0 and end == len(data) and type(data) is bytes
        part.chunks.append(data if whole else bytes(data[start:end]))
        part.kept += end - start

    def on_part_end(self) -> None:
        part = self.part
        data = b"".join(part.chunks)
        part.chunks = []
        if part.filename is None:
            try:
                self.fields[part.name] = data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise MultipartError(f"the field {part.name!r} is not UTF-8") from error
        else:
            self.files[part.name] = ReceivedFile(part.filename, part.content_type, data, part.size)


async def read_form(
    request: Request, *, file_cap: int, field_cap: int = FIELD_CAP
) -> tuple[dict[str, str], dict[str, ReceivedFile]]:
    """The plain fields and the files of a ``multipart/form-data`` request."""
    _, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if not boundary:
        raise MultipartError("the Content-Type has no boundary")
    reader = _Reader(file_cap, field_cap)
    callbacks = {
        "on_part_begin": reader.on_part_begin,
        "on_header_field": reader.on_header_field,
        "on_header_value": reader.on_header_value,
        "on_header_end": reader.on_header_end,
        "on_headers_finished": reader.on_headers_finished,
        "on_part_data": reader.on_part_data,
        "on_part_end": reader.on_part_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except MultipartParseError as error:
        raise MultipartError(str(error)) from error
    return reader.fields, reader.files


def request_adapter(file_cap: int) -> type[StarletteRequestAdapter]:
    """Strawberry's request adapter, reading multipart bodies with ``read_form`` (a
    ``MultipartError`` is a ``ValueError``: Strawberry answers 400, as for any body it cannot
    parse)."""

    class MultipartInMemory(StarletteRequestAdapter):
        def __init__(self, request: Request) -> None:
            super().__init__(request)
            self.starlette_request = request

        async def get_form_data(self) -> FormData:
            fields, files = await read_form(self.starlette_request, file_cap=file_cap)
            return FormData(files=files, form=fields)

    return MultipartInMemory
