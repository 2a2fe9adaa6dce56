"""The "do not train" signals: site files and the headers of media responses.

Site files, generated from settings and the crawler list on each request (they are small):

- ``/robots.txt``: a group per known AI crawler, disallowing everything.
- ``/ai.txt``: the same refusal for dataset builders that read ai.txt (robots.txt syntax, with
  one ``Disallow`` line per image file type as the ai.txt convention has it).
- ``/.well-known/tdmrep.json``: the W3C TDM Reservation Protocol file: rights reserved on the
  whole origin, with the URL of the policy.
- ``/tdm-policy.json``: that policy (ODRL, TDMRep profile): mining needs the rightsholder's
  consent, and says whom to ask.

Media responses carry the per-image form of the same refusal (``media_signal_headers``), driven by
the artwork's or the artist's policy; an image whose policy is ALLOWED carries none of it.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from server.crawlers import known_crawlers, robots_tokens
from server.origin import origin_of
from server.settings import Settings
from storage.models import TrainingPolicy

ROBOTS_TAG = "noai, noimageai"
TDM_POLICY_PATH = "/tdm-policy.json"
TDMREP_PROFILE = "http://www.w3.org/ns/tdmrep"
IMAGE_PATTERNS = ("*.jpg", "*.jpeg", "*.png", "*.webp", "*.avif", "*.gif")
SITE_FILE_CACHE = "public, max-age=3600"


def tdm_policy_url(settings: Settings, base: str) -> str:
    return settings.tdm_policy_url or f"{base}{TDM_POLICY_PATH}"


def media_signal_headers(policy: TrainingPolicy, policy_url: str) -> dict[str, str]:
    """The headers saying "do not train" on a media response, or saying rights are not reserved
    (``tdm-reservation: 0``, the most specific declaration TDMRep knows) when it is ALLOWED."""
    if policy is TrainingPolicy.ALLOWED:
        return {"tdm-reservation": "0"}
    return {"X-Robots-Tag": ROBOTS_TAG, "tdm-reservation": "1", "tdm-policy": policy_url}


def robots_txt(crawlers: tuple[str, ...]) -> str:
    lines = [
        "# The artists on this site do not consent to AI training on their work.",
        "# Known AI crawlers may fetch nothing; see also /ai.txt and /.well-known/tdmrep.json.",
        "",
    ]
    lines += [f"User-agent: {token}" for token in crawlers]
    lines += ["Disallow: /", "", "User-agent: *", "Disallow: /graphql", "Disallow: /media/", ""]
    return "\n".join(lines)


def ai_txt(contact: str | None) -> str:
    lines = ["# Text and data mining, AI training: not permitted on any file of this site."]
    if contact:
        lines.append(f"# Licensing requests: {contact}")
    lines += ["", "User-Agent: *", "Disallow: /"]
    lines += [f"Disallow: {pattern}" for pattern in IMAGE_PATTERNS]
    return "\n".join(lines) + "\n"


def tdmrep_json(policy_url: str) -> list[dict[str, object]]:
    """The TDMRep well-known file: an array of rules, each with ``location`` and
    ``tdm-reservation`` (required) and ``tdm-policy`` (optional, only where rights are reserved)."""
    return [{"location": "/", "tdm-reservation": 1, "tdm-policy": policy_url}]


def tdm_policy(policy_url: str, base: str, contact: str | None) -> dict[str, object]:
    """The TDM policy (ODRL, TDMRep profile): mining the site's works needs the consent of their
    rightsholder, obtained through ``contact``."""
    assigner: dict[str, object] = {"uid": base, "vcard:fn": "the artists of " + base}
    if contact:
        key = "vcard:hasEmail" if "@" in contact and ":" not in contact else "vcard:hasURL"
        assigner[key] = contact
    return {
        "@context": [
            "http://www.w3.org/ns/odrl.jsonld",
            {"vcard": "http://www.w3.org/2006/vcard/ns#", "tdm": "http://www.w3.org/ns/tdmrep#"},
        ],
        "@type": "Offer",
        "profile": TDMREP_PROFILE,
        "uid": policy_url,
        "assigner": assigner,
        "permission": [
            {
                "target": f"{base}/",
                "action": "tdm:mine",
                "duty": [{"action": "obtainConsent"}],
            }
        ],
    }


def signal_routes(settings: Settings) -> list[Route]:
    origin = origin_of(settings)

    async def robots(request: Request) -> Response:
        return PlainTextResponse(
            robots_txt(robots_tokens(known_crawlers())), headers={"Cache-Control": SITE_FILE_CACHE}
        )

    async def ai(request: Request) -> Response:
        return PlainTextResponse(
            ai_txt(settings.rights_contact), headers={"Cache-Control": SITE_FILE_CACHE}
        )

    async def tdmrep(request: Request) -> Response:
        base = origin(request)
        return JSONResponse(
            tdmrep_json(tdm_policy_url(settings, base)), headers={"Cache-Control": SITE_FILE_CACHE}
        )

    async def policy(request: Request) -> Response:
        base = origin(request)
        body = tdm_policy(tdm_policy_url(settings, base), base, settings.rights_contact)
        return Response(
            orjson.dumps(body),
            media_type="application/ld+json",
            headers={"Cache-Control": SITE_FILE_CACHE},
        )

    return [
        Route("/robots.txt", robots, methods=["GET", "HEAD"]),
        Route("/ai.txt", ai, methods=["GET", "HEAD"]),
        Route("/.well-known/tdmrep.json", tdmrep, methods=["GET", "HEAD"]),
        Route(TDM_POLICY_PATH, policy, methods=["GET", "HEAD"]),
    ]
