from __future__ import annotations

from importlib import resources

import pytest

from server.crawlers import Crawler, ai_crawler, known_crawlers, parse_crawlers


def test_the_list_names_its_source_and_the_major_crawlers() -> None:
    text = resources.files("server").joinpath("ai_crawlers.txt").read_text()
    assert "Source: " in text
    assert "github.com/ai-robots-txt/ai.robots.txt" in text
    names = [crawler.name for crawler in known_crawlers()]
    for name in ("GPTBot", "ClaudeBot", "CCBot", "Google-Extended", "Bytespider", "PerplexityBot"):
        assert name in names
    assert len(names) == len({name.lower() for name in names}) >= 30


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)", "GPTBot"),
        ("CCBot/2.0 (https://commoncrawl.org/faq/)", "CCBot"),
        ("Mozilla/5.0 (compatible; claudebot/1.0; +claudebot@anthropic.com)", "ClaudeBot"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", None),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", None),
        ("", None),
        (None, None),
    ],
)
def test_a_user_agent_is_matched_case_insensitively(
    agent: str | None, expected: str | None
) -> None:
    assert ai_crawler(agent) == expected


def test_the_list_format_is_checked() -> None:
    assert parse_crawlers("# comment\n\nGPTBot  # inline\nGPTBot\nCCBot\n") == (
        Crawler("GPTBot", "GPTBot"),
        Crawler("CCBot", "CCBot"),
    )
    with pytest.raises(ValueError, match="line 2: not a User-Agent token: 'User-agent: X'"):
        parse_crawlers("GPTBot\nUser-agent: X\n")
