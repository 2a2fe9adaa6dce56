"""The media cache's crawler refusal (deploy/varnish/ai_crawlers.vcl) is the API's own list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import main
from server.crawlers import TCHAR, ai_crawler, known_crawlers
from server.varnish import CRAWLER_VCL, crawler_pattern, crawler_vcl

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_vcl_is_generated_from_the_crawler_list() -> None:
    committed = (REPO / CRAWLER_VCL).read_text(encoding="utf-8")
    assert committed == crawler_vcl(known_crawlers()), (
        f"{CRAWLER_VCL} is stale: run `gesso varnish-vcl`"
    )


def test_the_check_command_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "ai_crawlers.vcl"
    stale.write_text("sub gesso_ai_crawler {}\n")
    runner = CliRunner()
    checked = runner.invoke(main, ["varnish-vcl", "--check", "-o", str(stale)])
    assert checked.exit_code == 1
    written = runner.invoke(main, ["varnish-vcl", "-o", str(stale)])
    assert written.exit_code == 0
    assert runner.invoke(main, ["varnish-vcl", "--check", "-o", str(stale)]).exit_code == 0


def test_the_token_class_is_rfc_9110_tchar() -> None:
    token_class = re.compile(crawler_pattern(known_crawlers())[len("(?i)(?<!") :].split(")")[0])
    assert {chr(c) for c in range(256) if token_class.fullmatch(chr(c))} == set(TCHAR)


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)",
        "gptbot",
        "CCBot/2.0 (https://commoncrawl.org/faq/)",
        "CCBotanics-App/1.0",
        "x-CCBot",
        "Mozilla/5.0 (compatible; Sidetrade indexer bot)",
        "Mozilla/5.0 (compatible; Sidetrade\tINDEXER   bot)",
        "Sidetrade indexer botnet",
        "Mozilla/5.0 (compatible; Kangaroo Bot/1.0)",
        "ClaudeBot/1.0; +claudebot@anthropic.com",
        "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0",
        "meta-externalagent/1.1",
        "Bytespider;",
        "",
    ],
)
def test_the_edge_and_the_api_agree_on_who_is_a_crawler(user_agent: str) -> None:
    # Varnish's PCRE reads this pattern as Python's re does (no construct differs)
    edge = re.search(crawler_pattern(known_crawlers()), user_agent) is not None
    assert edge == (ai_crawler(user_agent) is not None)
