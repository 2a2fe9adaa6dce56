"""Costs the "do not train" machinery adds: signing and checking a media URL, one rate-limit hit
(in memory and in Redis), and C2PA-signing a JPEG derivative.

Run from the repository root (needs Redis at 127.0.0.1:6379 and the ``c2pa`` extra)::

    .venv/bin/python -m bench.signals

It prints only; the numbers depend on the machine's load, which it prints too.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import time

from PIL import Image

from imaging.provenance import SigningCredentials, sign_jpeg
from resolvers.surrogates import ImageRef
from server.c2pa_ca import make_development_ca
from server.signing import MediaSigner
from storage.models import TrainingPolicy
from storage.ratelimit import MemoryRateLimitStore, RateLimitStore, RedisRateLimitStore
from tests.images import photo

URL_ROUNDS = 50_000
IMAGE = ImageRef(1234567890123456789, 1234567890123456788, None, TrainingPolicy.DISALLOWED)
LIMIT_HITS = 3_000
C2PA_ROUNDS = 5


def urls() -> None:
    signer = MediaSigner(b"k" * 32)
    key = "ab/cd/" + "0" * 64 + ".webp"
    started = time.perf_counter()
    for _ in range(URL_ROUNDS):
        url = signer.url(key, IMAGE)
    signed = time.perf_counter()
    query = dict(part.split("=", 1) for part in url.partition("?")[2].split("&"))
    for _ in range(URL_ROUNDS):
        signer.verify(key, query)
    verified = time.perf_counter()
    print(
        f"media URL: sign {(signed - started) / URL_ROUNDS * 1e6:.1f} us, "
        f"verify {(verified - signed) / URL_ROUNDS * 1e6:.1f} us"
    )


async def limits() -> None:
    stores: dict[str, RateLimitStore] = {
        "memory": MemoryRateLimitStore(),
        "redis": RedisRateLimitStore("redis://127.0.0.1:6379/0"),
    }
    for name, store in stores.items():
        keys = [f"bench:{os.getpid()}:{name}:{i}" for i in range(50)]
        latencies = []
        for n in range(LIMIT_HITS):
            started = time.perf_counter()
            await store.hit(keys[n % len(keys)], limit=600, window=300)
            latencies.append(time.perf_counter() - started)
        latencies.sort()
        print(
            f"rate-limit hit, {name}: median {statistics.median(latencies) * 1e6:.0f} us, "
            f"p99 {latencies[int(len(latencies) * 0.99)] * 1e6:.0f} us "
            f"({LIMIT_HITS} sequential hits over {len(keys)} keys)"
        )
        for key in keys:
            await store.reset(key)
        await store.close()


def c2pa() -> None:
    ca, _, leaf, key = make_development_ca()
    credentials = SigningCredentials(leaf + ca, key)
    for width, height in ((2048, 1536), (1024, 768), (400, 300)):
        out = io.BytesIO()
        with Image.open(io.BytesIO(photo(width, height))) as image:
            image.save(out, "JPEG", quality=85)
        data = out.getvalue()
        times, signed = [], b""
        for _ in range(C2PA_ROUNDS):
            started = time.perf_counter()
            signed = sign_jpeg(data, credentials, title="bench", author="bench")
            times.append(time.perf_counter() - started)
        print(
            f"C2PA sign {width}x{height} JPEG ({len(data) // 1024} KiB): median "
            f"{statistics.median(times) * 1000:.1f} ms, +{len(signed) - len(data)} bytes"
        )


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    urls()
    asyncio.run(limits())
    c2pa()


if __name__ == "__main__":
    main()
