"""Outgoing mail: over SMTP (``aiosmtplib``, ``SMTP_URL``) or, on the embedded default, as ``.eml``
files in a directory, which any mail program opens.

``SMTP_URL`` is ``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it) or
``smtps://...`` (TLS from the start, port 465 by default). Library errors become ``MailError``.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

SEND_TIMEOUT_SECONDS = 30.0


class MailError(Exception):
    """A mail could not be handed over (the SMTP server refused it or could not be reached)."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...

    async def forget(self, address: str, limit: int) -> int:
        """Delete up to ``limit`` of the kept copies of mail to ``address``; how many went."""
        ...

    def describe(self) -> str: ...


class SmtpMailer:
    """Hands each mail to an SMTP server, one connection per mail."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"SMTP_URL must be smtp://host[:port] or smtps://..., got {url!r}")
        self.hostname = parts.hostname
        self.tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None

    def describe(self) -> str:
        return f"SMTP at {self.hostname}:{self.port}"

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.tls,
                start_tls=None if not self.tls else False,
                timeout=SEND_TIMEOUT_SECONDS,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise MailError(f"{self.describe()}: {error}") from error

    async def forget(self, address: str, limit: int) -> int:
        return 0  # handed to the SMTP server: beyond this server's reach


class FileMailer:
    """Writes each mail to ``directory`` as ``<time>-<id>.eml``, whole or not at all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return f".eml files in {self.directory}"

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, bytes(message))

    def _write(self, data: bytes) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
            partial = self.directory / f".{name}.partial"
            partial.write_bytes(data)
            os.replace(partial, self.directory / name)
        except OSError as error:
            raise MailError(f"{self.describe()}: {error}") from error

    async def forget(self, address: str, limit: int) -> int:
        return await asyncio.to_thread(self._forget, address.strip().lower(), limit)

    def _forget(self, address: str, limit: int) -> int:
        """Delete the files of mail whose recipients include ``address`` (any letter case)."""
        if not self.directory.is_dir():
            return 0
        parser = BytesHeaderParser(policy=default)
        gone = 0
        for path in sorted(self.directory.glob("*.eml")):
            if gone >= limit:
                break
            try:
                with path.open("rb") as file:
                    headers = parser.parse(file)
            except OSError:
                continue  # deleted meanwhile
            recipients = getaddresses(
                [str(value) for field in ("To", "Cc") for value in headers.get_all(field, [])]
            )
            if any(found.strip().lower() == address for _name, found in recipients):
                path.unlink(missing_ok=True)
                gone += 1
        return gone


def mailer_for(smtp_url: str | None, directory: Path) -> Mailer:
    """SMTP when ``smtp_url`` is set, else ``.eml`` files in ``directory``."""
    return SmtpMailer(smtp_url) if smtp_url else FileMailer(directory)
