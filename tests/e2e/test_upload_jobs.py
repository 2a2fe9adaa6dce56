"""Protection as a job: an API process and ``gesso worker`` processes on Redis.

The upload answers at once with its image PROCESSING; the subscription reports the stages; a
worker killed with SIGKILL mid-job loses nothing: another worker runs the job again, once, and
afterwards the store holds exactly the published derivatives (no staged upload, no orphan).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
import redis

from storage.objects import LocalObjectStore
from tests.e2e.live import REPO, LiveServer, Subscriber
from tests.graphql import GraphQLClient
from tests.images import photo
from tests.services import MotoServer, stop_process

REDIS_DB = 13
SECRET = "jobs-test-secret-" + "x" * 40
CREATE = (
    "mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {"
    " artwork { id images { id } } errors { code } } }"
)
PROGRESS = 'subscription { uploadProgress(id: "job-1") { stage done code imageId } }'


class Worker:
    """``gesso worker`` in a subprocess."""

    def __init__(self, workdir: Path, env: dict[str, str], name: str) -> None:
        self.log_path = workdir / f"worker-{name}.log"
        full = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "REDIS_"))}
        full |= env | {"PYTHONPATH": str(REPO)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "worker"],
                cwd=workdir,
                env=full,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(params=["local", "s3"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Any]]:
    """Settings shared by the API and the workers, and a function listing the store's keys."""
    prefix = f"test-jobs-{uuid.uuid4().hex[:10]}"
    env = {
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "GESSO_JOBS": "redis",
        "GESSO_JOBS_PREFIX": prefix,
        "GESSO_JOB_VISIBILITY_SECONDS": "3",
        "GESSO_SECRET_KEY": SECRET,
        "GESSO_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite://{tmp_path / 'shared.sqlite3'}",
        "GESSO_UPLOADS_WAIT": "false",
    }
    if request.param == "s3":
        moto = MotoServer()
        moto.start()
        bucket = f"gesso-jobs-{uuid.uuid4().hex[:12]}"
        env |= {
            "GESSO_OBJECT_STORE": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": moto.endpoint_url,
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_CREATE_BUCKET": "true",
        }
        client = boto3.client(
            "s3",
            endpoint_url=moto.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

        def keys() -> list[str]:
            listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
            return sorted(str(item["Key"]) for item in listed)

        try:
            yield env, keys
        finally:
            moto.stop()
    else:
        media = tmp_path / "data" / "media"

        def keys() -> list[str]:
            root = LocalObjectStore(media)._objects
            return sorted(
                str(p.relative_to(root))
                for p in root.rglob("*")
                if p.is_file() and p.name[0] != "."
            )

        yield env, keys
    queue = redis.Redis.from_url(env["REDIS_URL"])
    for key in queue.scan_iter(f"{prefix}:*"):
        queue.delete(key)
    queue.close()


def _media_rows(database: Path) -> list[tuple[str, str | None, str]]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return connection.execute(
            "SELECT status, staging_key, variants FROM media_assets"
        ).fetchall()


async def _until(sub: Subscriber, stage: str, seen: list[dict[str, Any]]) -> None:
    while not seen or seen[-1]["stage"] != stage:
        seen.append((await sub.next_data(within=120))["uploadProgress"])
        assert seen[-1]["stage"] != "refused", seen


async def test_a_killed_worker_loses_nothing_and_doubles_nothing(
    tmp_path: Path, deployment: tuple[dict[str, str], Any]
) -> None:
    env, keys = deployment
    api = LiveServer(tmp_path, env).start()
    workers: list[Worker] = []
    try:
        async with GraphQLClient.for_url(api.url) as gql:
            await gql.sign_up("queued_artist")
            sub = await Subscriber.open(api.ws_url, gql.token_of("queued_artist"))
            await sub.acknowledged()
            await sub.subscribe(PROGRESS)
            await asyncio.sleep(0.3)
            workers.append(Worker(tmp_path, env, "first"))
            # when an artist uploads a photo
            started = time.perf_counter()
            created = await gql.upload(
                CREATE,
                {"i": {"title": "Queued", "images": [{"file": None, "uploadId": "job-1"}]}},
                {"i.images.0.file": ("p.jpg", photo(), "image/jpeg")},
                as_="queued_artist",
            )
            answered = time.perf_counter() - started
            # then it answers before any protection, with no image shown yet
            assert created.data["createArtwork"]["errors"] == []
            assert created.data["createArtwork"]["artwork"]["images"] == []
            assert answered < 5, answered  # a generous bound: the pipeline takes far longer
            staged = [k for k in keys() if k.startswith("private/staging/")]
            assert len(staged) == 1
            # and the first worker reaches the cloak, where it is killed outright
            seen: list[dict[str, Any]] = []
            await _until(sub, "cloak", seen)
            assert [s["stage"] for s in seen] == ["queued", "ingest", "cloak"]
            os.kill(workers[0].process.pid, signal.SIGKILL)
            workers[0].process.wait(10)
            # a second worker takes the job over once its lease has lapsed, and finishes it
            workers.append(Worker(tmp_path, env, "second"))
            after: list[dict[str, Any]] = []
            await _until(sub, "ready", after)
            stages = [s["stage"] for s in after]
            assert stages == ["ingest", "cloak", "watermark", "derivatives", "stored", "ready"]
            assert after[-1]["done"] is True
            assert (await sub.receive())["type"] == "complete"  # the subscription ends there
            await sub.close()
            # exactly one image, shown, and the store holds its six derivatives and nothing else
            artwork = await gql.execute(
                "query($id: ID!) { node(id: $id) { ... on Artwork { images {"
                " id variants { url } } } } }",
                {"id": created.data["createArtwork"]["artwork"]["id"]},
            )
            images = artwork.data["node"]["images"]
            assert [image["id"] for image in images] == [after[-1]["imageId"]]
            assert len(images[0]["variants"]) == 6
            rows = _media_rows(tmp_path / "shared.sqlite3")
            assert [(row[0], row[1]) for row in rows] == [("ready", None)]
            published = sorted({str(v["key"]) for v in json.loads(rows[0][2])})
            assert keys() == published  # no staged upload, no orphan of the killed run
            queue = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
            prefix = env["GESSO_JOBS_PREFIX"]
            counts = queue.hgetall(f"{prefix}:stats")
            assert counts.get("outcome:ready") == "1", counts
            assert queue.xlen(f"{prefix}:stream") == 0
            assert queue.xlen(f"{prefix}:dead") == 0
            queue.close()
            metrics = (await gql.http.get(f"{api.url}/metrics")).text
            assert 'gesso_jobs_total{outcome="ready"} 1.0' in metrics
            assert "gesso_jobs_in_flight 0.0" in metrics
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                stop_process(worker.process, grace=20)
        api.stop()
    for worker in workers[1:]:
        assert "Traceback" not in worker.log(), worker.log()
    assert "Traceback" not in api.log(), api.log()
