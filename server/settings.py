"""Settings, read once from the environment (and a ``.env`` file in the working directory).

Environment variables win over ``.env``. Every setting has an embedded default, so a fresh checkout
runs with no configuration at all: SQLite in ``./data``, development mode.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values


class SettingsError(ValueError):
    """A setting has a value Gesso cannot use; the message names the variable."""


ENVIRONMENTS = ("development", "production", "test")


@dataclass(frozen=True, slots=True)
class Settings:
    env: str
    data_dir: Path
    database_url: str
    host: str
    port: int
    token_ttl_seconds: int
    worker_id: int
    migrate_on_start: bool
    redis_url: str | None
    redis_sharded: bool
    redis_cluster: bool
    allowed_origins: tuple[str, ...]
    max_subscriptions_per_connection: int
    subscriber_inbox: int
    ws_compression: bool
    secret_key: str | None
    object_store: str
    media_dir: Path
    s3_endpoint_url: str | None
    s3_bucket: str | None
    s3_region: str
    s3_access_key_id: str | None
    s3_secret_access_key: str | None
    s3_key_prefix: str
    s3_addressing_style: str
    s3_create_bucket: bool
    keep_originals: bool
    upload_max_bytes: int
    imaging_workers: int
    jobs: str
    jobs_prefix: str
    job_visibility_seconds: int
    job_max_attempts: int
    uploads_wait: bool
    cloak_intensity: str
    ai_images: str | None
    log_format: str
    metrics_token: str | None
    database_replica_url: str | None
    read_your_writes_seconds: int
    public_url: str | None
    media_url_ttl_seconds: int
    media_base_url: str | None
    media_purge_url: str | None
    block_ai_crawlers: bool
    tdm_policy_url: str | None
    rights_contact: str | None
    rate_limits_enabled: bool
    rate_limits: str
    c2pa_certificate: Path | None
    c2pa_key: Path | None
    c2pa_ca: Path | None
    operation_timeout_seconds: int = 30
    max_body_bytes: int = 1024 * 1024
    persisted_queries: str = "apq"
    persisted_queries_file: Path = Path("persisted-queries.json")
    apq_ttl_seconds: int = 7 * 24 * 3600
    apq_max_entries: int = 10_000
    apq_max_bytes: int = 32 * 1024 * 1024
    apq_max_query_bytes: int = 64 * 1024
    compiled_queries: bool = True
    compiled_queries_strict: bool = False
    forwarded_allow_ips: tuple[str, ...] = ()
    notifications_keep_days: int = 90
    # Rows an account deletion removes per transaction (resolvers.leaving).
    deletion_batch: int = 200
    smtp_url: str | None = None
    mail_from: str = "Gesso <no-reply@gesso.invalid>"

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def _int(values: dict[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be in {low}..{high}, got {value}")
    return value


def _bool(values: dict[str, str], name: str, default: bool) -> bool:
    raw = values.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _choice(values: dict[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = (values.get(name, "") or default).strip().lower()
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _ai_images(values: dict[str, str]) -> str | None:
    """GESSO_AI_IMAGES: "refuse" or "label" for every generated upload; unset, by kind (refuse
    in portfolios, label in posts)."""
    if not values.get("GESSO_AI_IMAGES", "").strip():
        return None
    return _choice(values, "GESSO_AI_IMAGES", "", ("refuse", "label"))


def read_settings(environ: dict[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Build settings from ``environ`` (default ``os.environ``) over the ``.env`` file."""
    values: dict[str, str] = {}
    dotenv = env_file if env_file is not None else Path(".env")
    if dotenv.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    env = values.get("GESSO_ENV", "development").strip().lower() or "development"
    if env not in ENVIRONMENTS:
        raise SettingsError(f"GESSO_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    data_dir = Path(values.get("GESSO_DATA_DIR", "") or "data").expanduser()
    database_url = values.get("DATABASE_URL", "") or f"sqlite://{data_dir / 'gesso.sqlite3'}"
    apq_max_bytes = _int(values, "GESSO_APQ_MAX_BYTES", 32 * 1024 * 1024, low=1024, high=1 << 36)
    return Settings(
        env=env,
        data_dir=data_dir,
        database_url=database_url,
        host=values.get("GESSO_HOST", "") or "127.0.0.1",
        port=_int(values, "GESSO_PORT", 8000, low=1, high=65535),
        token_ttl_seconds=_int(
            values, "GESSO_TOKEN_TTL_SECONDS", 30 * 24 * 3600, low=60, high=365 * 24 * 3600
        ),
        worker_id=_int(values, "GESSO_WORKER_ID", os.getpid() % 1024, low=0, high=1023),
        migrate_on_start=_bool(values, "GESSO_MIGRATE_ON_START", True),
        redis_url=values.get("REDIS_URL", "") or None,
        redis_sharded=_bool(values, "GESSO_REDIS_SHARDED", False),
        redis_cluster=_bool(values, "GESSO_REDIS_CLUSTER", False),
        allowed_origins=tuple(
            o.strip() for o in values.get("GESSO_ALLOWED_ORIGINS", "").split(",") if o.strip()
        ),
        max_subscriptions_per_connection=_int(
            values, "GESSO_MAX_SUBSCRIPTIONS_PER_CONNECTION", 10, low=1, high=1000
        ),
        subscriber_inbox=_int(values, "GESSO_SUBSCRIBER_INBOX", 256, low=8, high=100_000),
        ws_compression=_bool(values, "GESSO_WS_COMPRESSION", False),
        secret_key=values.get("GESSO_SECRET_KEY", "") or None,
        object_store=_choice(
            values,
            "GESSO_OBJECT_STORE",
            "s3" if values.get("S3_BUCKET") else "local",
            ("local", "s3"),
        ),
        media_dir=Path(values.get("GESSO_MEDIA_DIR", "") or data_dir / "media").expanduser(),
        s3_endpoint_url=values.get("S3_ENDPOINT_URL", "") or None,
        s3_bucket=values.get("S3_BUCKET", "") or None,
        s3_region=values.get("S3_REGION", "") or "us-east-1",
        s3_access_key_id=values.get("S3_ACCESS_KEY_ID", "") or None,
        s3_secret_access_key=values.get("S3_SECRET_ACCESS_KEY", "") or None,
        s3_key_prefix=values.get("S3_KEY_PREFIX", ""),
        s3_addressing_style=_choice(
            values, "S3_ADDRESSING_STYLE", "auto", ("auto", "path", "virtual")
        ),
        s3_create_bucket=_bool(values, "S3_CREATE_BUCKET", False),
        keep_originals=_bool(values, "GESSO_KEEP_ORIGINALS", False),
        upload_max_bytes=_int(
            values, "GESSO_UPLOAD_MAX_BYTES", 30 * 1024 * 1024, low=1024, high=200 * 1024 * 1024
        ),
        imaging_workers=_int(values, "GESSO_IMAGING_WORKERS", 1, low=1, high=64),
        jobs=_jobs(values),
        jobs_prefix=_jobs_prefix(values),
        job_visibility_seconds=_int(values, "GESSO_JOB_VISIBILITY_SECONDS", 60, low=1, high=3600),
        job_max_attempts=_int(values, "GESSO_JOB_MAX_ATTEMPTS", 5, low=1, high=100),
        uploads_wait=_bool(values, "GESSO_UPLOADS_WAIT", False),
        cloak_intensity=_choice(
            values, "GESSO_CLOAK_INTENSITY", "default", ("low", "default", "high")
        ),
        ai_images=_ai_images(values),
        log_format=_choice(
            values, "GESSO_LOG_FORMAT", "json" if env == "production" else "text", ("json", "text")
        ),
        metrics_token=values.get("GESSO_METRICS_TOKEN", "") or None,
        database_replica_url=_replica_url(values, database_url),
        read_your_writes_seconds=_int(
            values, "GESSO_READ_YOUR_WRITES_SECONDS", 5, low=1, high=3600
        ),
        public_url=_public_url(values, env),
        media_url_ttl_seconds=_int(
            values, "GESSO_MEDIA_URL_TTL_SECONDS", 3600, low=60, high=7 * 24 * 3600
        ),
        media_base_url=_url(values, "GESSO_MEDIA_BASE_URL"),
        media_purge_url=_url(values, "GESSO_MEDIA_PURGE_URL"),
        block_ai_crawlers=_bool(values, "GESSO_BLOCK_AI_CRAWLERS", True),
        tdm_policy_url=_url(values, "GESSO_TDM_POLICY_URL"),
        rights_contact=_text(values, "GESSO_RIGHTS_CONTACT"),
        rate_limits_enabled=_bool(values, "GESSO_RATE_LIMITS_ENABLED", True),
        rate_limits=_rate_limits(values, "GESSO_RATE_LIMITS"),
        c2pa_certificate=_path(values, "GESSO_C2PA_CERT"),
        c2pa_key=_path(values, "GESSO_C2PA_KEY"),
        c2pa_ca=_path(values, "GESSO_C2PA_CA"),
        operation_timeout_seconds=_int(
            values, "GESSO_OPERATION_TIMEOUT_SECONDS", 30, low=1, high=3600
        ),
        max_body_bytes=_int(
            values, "GESSO_MAX_BODY_BYTES", 1024 * 1024, low=1024, high=100 * 1024 * 1024
        ),
        persisted_queries=_choice(
            values, "GESSO_PERSISTED_QUERIES", "apq", ("off", "apq", "allowlist")
        ),
        persisted_queries_file=Path(
            values.get("GESSO_PERSISTED_QUERIES_FILE", "") or "persisted-queries.json"
        ).expanduser(),
        apq_ttl_seconds=_int(
            values, "GESSO_APQ_TTL_SECONDS", 7 * 24 * 3600, low=60, high=365 * 24 * 3600
        ),
        apq_max_entries=_apq_max_entries(values),
        apq_max_bytes=apq_max_bytes,
        apq_max_query_bytes=_apq_max_query_bytes(values, apq_max_bytes),
        compiled_queries=_bool(values, "GESSO_COMPILED_QUERIES", True),
        compiled_queries_strict=_bool(values, "GESSO_COMPILED_QUERIES_STRICT", env == "test"),
        forwarded_allow_ips=_proxies(values, "FORWARDED_ALLOW_IPS"),
        notifications_keep_days=_int(values, "GESSO_NOTIFICATIONS_KEEP_DAYS", 90, low=1, high=3650),
        deletion_batch=_int(values, "GESSO_DELETION_BATCH", 200, low=1, high=10_000),
        smtp_url=_smtp_url(values, "SMTP_URL"),
        mail_from=_mail_from(values, "GESSO_MAIL_FROM"),
    )


def _apq_max_entries(values: dict[str, str]) -> int:
    """``GESSO_APQ_MAX_ENTRIES``, or ``GESSO_APQ_CACHE_SIZE``, its earlier name."""
    name = "GESSO_APQ_MAX_ENTRIES"
    if not values.get(name) and values.get("GESSO_APQ_CACHE_SIZE"):
        name = "GESSO_APQ_CACHE_SIZE"
    return _int(values, name, 10_000, low=1, high=1_000_000)


def _apq_max_query_bytes(values: dict[str, str], total: int) -> int:
    name = "GESSO_APQ_MAX_QUERY_BYTES"
    value = _int(values, name, 64 * 1024, low=256, high=100 * 1024 * 1024)
    if value > total:
        raise SettingsError(f"{name} ({value}) must not exceed GESSO_APQ_MAX_BYTES ({total})")
    return value


def _replica_url(values: dict[str, str], database_url: str) -> str | None:
    replica = values.get("DATABASE_REPLICA_URL", "") or None
    if replica is None:
        return None
    postgres = ("postgres://", "postgresql://", "asyncpg://")
    if not (replica.startswith(postgres) and database_url.startswith(postgres)):
        raise SettingsError(
            "DATABASE_REPLICA_URL needs PostgreSQL for it and for DATABASE_URL "
            "(postgres://user:pass@host:5432/db)"
        )
    return replica


def _proxies(values: dict[str, str], name: str) -> tuple[str, ...]:
    """The proxies whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed: none unless
    configured, as any client that reaches the server directly could otherwise pick its address
    (and so its per-address rate limits)."""
    entries = tuple(e.strip() for e in values.get(name, "").split(",") if e.strip())
    if entries == ("*",):
        return entries
    if "*" in entries:
        raise SettingsError(f"{name}: * trusts every address, so it stands alone")
    for entry in entries:
        try:
            ipaddress.ip_network(entry)  # as uvicorn reads it: a network without host bits
        except ValueError as error:
            raise SettingsError(
                f"{name} must be * or IP addresses and networks separated by commas: {error}"
            ) from None
    return entries


def _smtp_url(values: dict[str, str], name: str) -> str | None:
    raw = values.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
        raise SettingsError(
            f"{name} must be smtp://[user:password@]host[:port] or smtps://..., got {raw!r}"
        )
    return raw


def _mail_from(values: dict[str, str], name: str) -> str:
    raw = values.get(name, "").strip() or "Gesso <no-reply@gesso.invalid>"
    _, address = parseaddr(raw)
    if "@" not in address or "\n" in raw or "\r" in raw:
        raise SettingsError(f"{name} must be an address, like Gesso <no-reply@art.example>")
    return raw


def _path(values: dict[str, str], name: str) -> Path | None:
    raw = values.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def _jobs(values: dict[str, str]) -> str:
    """Where protection jobs run: "embedded" (this process) or "redis" (gesso worker)."""
    chosen = _choice(values, "GESSO_JOBS", "auto", ("auto", "embedded", "redis"))
    redis_url = values.get("REDIS_URL", "")
    if chosen == "redis" and not redis_url:
        raise SettingsError("GESSO_JOBS=redis needs REDIS_URL")
    if chosen == "auto":
        return "redis" if redis_url else "embedded"
    return chosen


def _jobs_prefix(values: dict[str, str]) -> str:
    raw = values.get("GESSO_JOBS_PREFIX", "").strip() or "gesso:jobs"
    if not raw.isascii() or not raw.isprintable() or " " in raw or len(raw) > 100:
        raise SettingsError(
            f"GESSO_JOBS_PREFIX must be printable ASCII without spaces, got {raw!r}"
        )
    return raw


def _rate_limits(values: dict[str, str], name: str) -> str:
    from resolvers.ratelimit import parse_limits  # the limit names live with the limits

    raw = values.get(name, "").strip()
    try:
        parse_limits(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None
    return raw


def _url(values: dict[str, str], name: str) -> str | None:
    raw = values.get(name, "").strip()
    if raw == "":
        return None
    if not raw.startswith(("https://", "http://")) or not raw.isascii() or " " in raw:
        raise SettingsError(f"{name} must be an absolute http(s) URL, got {raw!r}")
    return raw.rstrip("/") if name in ("GESSO_PUBLIC_URL", "GESSO_MEDIA_BASE_URL") else raw


def _public_url(values: dict[str, str], env: str) -> str | None:
    public_url = _url(values, "GESSO_PUBLIC_URL")
    if public_url is None and env == "production":
        raise SettingsError(
            "GESSO_PUBLIC_URL is required in production: the origin clients reach the API at "
            "(e.g. https://art.example). The TDM files and media headers link to it, and a "
            "request's Host header cannot be trusted to say it"
        )
    return public_url


def _text(values: dict[str, str], name: str) -> str | None:
    raw = values.get(name, "").strip()
    if raw and (not raw.isascii() or not raw.isprintable()):
        raise SettingsError(f"{name} must be printable ASCII (it is sent in headers), got {raw!r}")
    return raw or None


@cache
def get_settings() -> Settings:
    """The process's settings, read on first use."""
    return read_settings()
