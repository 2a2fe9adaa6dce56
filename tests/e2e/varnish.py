"""A real ``varnishd`` with the repository's VCL, in front of a live API process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from bench.caches import NotInstalled, varnish_command
from tests.services import await_answer, free_port, stop_process


class Varnish:
    """``varnishd`` on two loopback ports: ``http`` (clients) and ``purge`` (the API's purges).

    The VCL is the repository's ``default.vcl`` and ``ai_crawlers.vcl``, with a ``backends.vcl``
    naming one API process instead of compose's two.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.purge_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "varnishd.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def purge_url(self) -> str:
        return f"http://127.0.0.1:{self.purge_port}/"

    def start(self, backend_port: int) -> Varnish:
        try:
            command = varnish_command(
                self.workdir, port=self.port, purge_port=self.purge_port, backend_port=backend_port
            )
        except NotInstalled as error:
            pytest.fail(str(error))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        await_answer(
            self.process,
            lambda: httpx.get(f"{self.url}/healthz", timeout=1),
            what="varnishd",
            seconds=30,
            log=self.log,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=10)
            self.process = None
