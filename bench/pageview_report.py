"""The page-view benchmark's figures, targets and report."""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.feed import git_revision, machine_info
from bench.pageview_load import PageViewResult
from bench.pageview_seed import MediaSummary
from bench.seed_graph import SeedSummary

# /media before the cache, per image request: one process, 2 cores, 16 clients, a 78 KB medium
# WebP (docs/benchmarks.md, "Page view")
BEFORE_MS_PER_IMAGE = 1.67
IMAGES_TARGET_SHARE = 0.05
P99_TARGET_MS = 100.0
HIT_RATIO_TARGET = 0.95


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    label: str


SCENARIOS = (
    Scenario("cache", "cache: API + Varnish"),
    Scenario("floor", "floor: floor feed + nginx"),
    Scenario("nocache", "no cache: API serves the images"),
    Scenario("document", "document only: API"),
)


def summary(results: dict[str, PageViewResult]) -> dict[str, Any]:
    """The figures of a run (what ``--json`` prints)."""
    out: dict[str, Any] = {}
    cache, floor = results.get("cache"), results.get("floor")
    nocache, document = results.get("nocache"), results.get("document")
    scenarios: dict[str, Any] = {}
    for key, r in results.items():
        views = r.page_views or 1
        scenarios[key] = {
            "page_views": r.page_views,
            "page_views_per_s": round(r.page_views / r.elapsed_s, 1) if r.elapsed_s else 0.0,
            "images_per_page_view": round(r.images / views, 2),
            "kb_per_page_view": round((r.image_bytes + r.document_bytes) / views / 1024, 1),
            "p50_ms": round(r.p(0.50), 1),
            "p99_ms": round(r.p(0.99), 1),
            "document_p99_ms": round(r.p(0.99, document=True), 1),
            "hit_ratio": round(r.hit_ratio, 4),
            "errors": r.errors,
            "cpu_ms_per_page_view": {
                name: round(r.per_page_view_ms(name), 3) for name in sorted(r.cpu_s)
            },
            "other_cpus": round(r.other_cpu_s / r.elapsed_s, 2) if r.elapsed_s else 0.0,
        }
    out["scenarios"] = scenarios
    if cache is not None:
        out["page_views"] = cache.page_views
        out["hit_ratio"] = round(cache.hit_ratio, 4)
        out["p99_ms"] = round(cache.p(0.99), 1)
        out["images_per_page_view"] = scenarios["cache"]["images_per_page_view"]
        out["api_cpu_ms_per_page_view"] = round(cache.per_page_view_ms("api"), 3)
        out["varnish_cpu_ms_per_page_view"] = round(cache.per_page_view_ms("varnish"), 3)
        out["url_window_changes"] = cache.url_window_changes
    if floor is not None:
        out["floor_cpu_ms_per_page_view"] = round(
            floor.per_page_view_ms("floor") + floor.per_page_view_ms("nginx"), 3
        )
    if nocache is not None and document is not None and nocache.images:
        per_image = (nocache.per_page_view_ms("api") - document.per_page_view_ms("api")) / (
            nocache.images / nocache.page_views
        )
        out["api_cpu_ms_per_image_request"] = round(per_image, 3)
        if cache is not None and cache.page_views:
            misses = cache.misses / cache.page_views
            out["misses_per_page_view"] = round(misses, 3)
            out["api_image_cpu_ms_per_page_view"] = round(misses * per_image, 3)
    if cache is not None and "api_image_cpu_ms_per_page_view" in out:
        before = BEFORE_MS_PER_IMAGE * out["images_per_page_view"]
        out["api_image_cpu_ms_per_page_view_before"] = round(before, 2)
        out["api_image_cpu_share_of_before"] = round(
            out["api_image_cpu_ms_per_page_view"] / before, 4
        )
    out["targets"] = {name: ok for name, ok, _ in targets(out)}
    return out


def targets(out: dict[str, Any]) -> list[tuple[str, bool, str]]:
    found: list[tuple[str, bool, str]] = []
    if "hit_ratio" in out:
        found.append(
            (
                f"hit ratio at least {HIT_RATIO_TARGET} after warm-up",
                out["hit_ratio"] >= HIT_RATIO_TARGET,
                f"{out['hit_ratio']:.3f}",
            )
        )
    if "api_image_cpu_share_of_before" in out:
        found.append(
            (
                f"API CPU on images per page view at most {IMAGES_TARGET_SHARE:.0%} of before",
                out["api_image_cpu_share_of_before"] <= IMAGES_TARGET_SHARE,
                f"{out['api_image_cpu_ms_per_page_view']:.2f} ms of "
                f"{out['api_image_cpu_ms_per_page_view_before']:.1f} ms, "
                f"{out['api_image_cpu_share_of_before']:.1%}",
            )
        )
    if "p99_ms" in out:
        found.append(
            (
                f"page view p99 under {P99_TARGET_MS:.0f} ms",
                out["p99_ms"] < P99_TARGET_MS,
                f"p99 {out['p99_ms']:.1f} ms",
            )
        )
    return found


def report(
    args: argparse.Namespace,
    command: str,
    graph: SeedSummary,
    media: MediaSummary,
    viewers: int,
    pg_version: str,
    out: dict[str, Any],
) -> str:
    info = machine_info()
    lines = [
        f"### Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{command}`",
        f"- Code: {git_revision()}",
        f"- Machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['ram']} RAM, "
        f"Linux {info['kernel']}, Python {info['python']}; PostgreSQL {pg_version}, "
        f"{varnish_version()}, {nginx_version()}, all on this machine",
        f"- Data: {graph.users:,} users, {graph.posts:,} posts, {graph.follows:,} follows, "
        f"{graph.artworks:,} artworks; {media.avatars:,} avatars, {media.post_images:,} post "
        f"images and {media.artwork_images:,} artwork images, each one of {media.pictures} "
        "pictures put through the protection pipeline; "
        f"{viewers:,} viewers (everyone who follows someone), chosen with Zipf popularity "
        f"(exponent {args.zipf:g})",
        f"- Load: {args.concurrency} virtual browsers in a closed loop, each with one connection "
        f"for the document and up to {args.image_connections} for the images; "
        f"{args.duration:g} s measured per scenario in {args.rounds} rounds that take the "
        f"scenarios in turn ({args.warmup:g} s warm-up in the first round, 1 s after); "
        f"`first: {args.first}`; one API process, one floor process, one nginx worker",
    ]
    if out.get("refused_first"):
        lines.append(
            f"- The API refused the document at `first: {out['refused_first']}` (the page the"
            " reference client asks for) with QUERY_TOO_COSTLY: its cost limit counts every"
            f" list at its bound; `first: {args.first}` is the largest page it accepts."
        )
    lines += [
        "",
        "| scenario | page views | page views/s | images/page view | KB/page view | p50 ms "
        "| p99 ms | document p99 ms | hit ratio | errors | API | Varnish | floor | nginx "
        "| PostgreSQL | load generator | other processes, CPUs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        s = out["scenarios"].get(scenario.key)
        if s is None:
            continue
        cpu = s["cpu_ms_per_page_view"]

        def ms(name: str, cpu: dict[str, float] = cpu) -> str:
            return f"{cpu[name]:.2f}" if name in cpu else "-"

        hit = f"{s['hit_ratio']:.3f}" if scenario.key == "cache" else "-"
        lines.append(
            f"| {scenario.label} | {s['page_views']:,} | {s['page_views_per_s']:,.1f} "
            f"| {s['images_per_page_view']:.1f} | {s['kb_per_page_view']:,.0f} "
            f"| {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['document_p99_ms']:.1f} | {hit} "
            f"| {s['errors']} | {ms('api')} | {ms('varnish')} | {ms('floor')} | {ms('nginx')} "
            f"| {ms('postgres')} | {ms('loadgen')} | {s['other_cpus']:.2f} |"
        )
    lines += [
        "",
        "CPU columns: milliseconds of CPU per page view of each process (with its children),"
        " from `/proc` over the measured windows; the last column is what every other process"
        " on the machine used meanwhile, in CPUs.",
        "",
    ]
    if "api_cpu_ms_per_image_request" in out:
        lines.append(
            f"- The API's CPU per image request it answers (no cache minus document only, per "
            f"image): {out['api_cpu_ms_per_image_request']:.2f} ms; in the cache scenario it "
            f"answered {out['misses_per_page_view']:.2f} misses per page view, "
            f"{out['api_image_cpu_ms_per_page_view']:.2f} ms of CPU per page view on images."
        )
    lines += ["", "| target | result | |", "|---|---|---|"]
    for name, passed, evidence in targets(out):
        lines.append(f"| {name} | {'pass' if passed else '**fail**'} | {evidence} |")
    return "\n".join(lines)


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "unknown"
    return (done.stdout + done.stderr).strip().splitlines()[0]


def varnish_version() -> str:
    text = _version(["varnishd", "-V"])
    return text.split("(", 1)[1].split(" revision")[0] if "(" in text else text


def nginx_version() -> str:
    return _version(["nginx", "-v"]).replace("nginx version: ", "")
