from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import SettingsError, read_settings


def test_embedded_default(tmp_path: Path) -> None:
    settings = read_settings({}, env_file=tmp_path / "missing.env")
    assert settings.env == "development"
    assert settings.database_url == "sqlite://data/gesso.sqlite3"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.forwarded_allow_ips == ()  # no proxy's X-Forwarded-For is believed
    assert settings.notifications_keep_days == 90
    assert settings.smtp_url is None  # mail goes to .eml files in the data dir


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GESSO_PORT=9000\nDATABASE_URL=postgres://a@b/c\n")
    settings = read_settings({"GESSO_PORT": "9100"}, env_file=env_file)
    assert settings.port == 9100
    assert settings.database_url == "postgres://a@b/c"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GESSO_PORT": "eighty"}, "GESSO_PORT must be an integer"),
        ({"GESSO_PORT": "0"}, "GESSO_PORT must be in 1..65535"),
        (
            {"GESSO_NOTIFICATIONS_KEEP_DAYS": "0"},
            "GESSO_NOTIFICATIONS_KEEP_DAYS must be in 1..3650",
        ),
        ({"SMTP_URL": "mailpit:1025"}, "SMTP_URL must be smtp://"),
        ({"SMTP_URL": "smtp://mailpit:port"}, "SMTP_URL must be smtp://"),
        ({"GESSO_MAIL_FROM": "Gesso"}, "GESSO_MAIL_FROM must be an address"),
        ({"GESSO_ENV": "staging"}, "GESSO_ENV must be one of"),
        ({"GESSO_MIGRATE_ON_START": "perhaps"}, "GESSO_MIGRATE_ON_START must be true or false"),
        ({"GESSO_PUBLIC_URL": "art.example"}, "GESSO_PUBLIC_URL must be an absolute http"),
        (
            {"GESSO_MEDIA_URL_TTL_SECONDS": "10"},
            "GESSO_MEDIA_URL_TTL_SECONDS must be in 60..604800",
        ),
        ({"GESSO_RIGHTS_CONTACT": "ré@x"}, "GESSO_RIGHTS_CONTACT must be printable ASCII"),
        ({"FORWARDED_ALLOW_IPS": "caddy"}, r"FORWARDED_ALLOW_IPS must be \* or IP addresses"),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.1/8"}, "10.0.0.1/8 has host bits set"),
        ({"FORWARDED_ALLOW_IPS": "*,10.0.0.1"}, r"\* trusts every address, so it stands alone"),
    ],
)
def test_bad_values_name_the_variable(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        read_settings(environ, env_file=tmp_path / "none")


def test_production_logs_json_and_development_text(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    assert read_settings({}, env_file=missing).log_format == "text"
    production = {"GESSO_ENV": "production", "GESSO_PUBLIC_URL": "https://art.example"}
    assert read_settings(production, env_file=missing).log_format == "json"
    assert read_settings({"GESSO_LOG_FORMAT": "JSON"}, env_file=missing).log_format == "json"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GESSO_LOG_FORMAT": "xml"}, "GESSO_LOG_FORMAT must be one of json, text"),
        ({"GESSO_READ_YOUR_WRITES_SECONDS": "0"}, "GESSO_READ_YOUR_WRITES_SECONDS must be in"),
        (
            {"DATABASE_REPLICA_URL": "postgres://r@replica/gesso"},
            "DATABASE_REPLICA_URL needs PostgreSQL for it and for DATABASE_URL",
        ),
        (
            {"DATABASE_URL": "postgres://p@primary/gesso", "DATABASE_REPLICA_URL": "sqlite://x"},
            "DATABASE_REPLICA_URL needs PostgreSQL",
        ),
    ],
)
def test_bad_observability_and_replica_values_name_the_variable(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        read_settings(environ, env_file=tmp_path / "none")


def test_a_replica_next_to_a_postgres_primary(tmp_path: Path) -> None:
    settings = read_settings(
        {
            "DATABASE_URL": "postgres://p@primary/gesso",
            "DATABASE_REPLICA_URL": "postgresql://r@replica/gesso",
        },
        env_file=tmp_path / "none",
    )
    assert settings.database_replica_url == "postgresql://r@replica/gesso"
    assert settings.read_your_writes_seconds == 5


def test_the_apq_cache_bounds(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    defaults = read_settings({}, env_file=missing)
    assert (defaults.apq_max_entries, defaults.apq_max_bytes, defaults.apq_max_query_bytes) == (
        10_000,
        32 * 1024 * 1024,
        64 * 1024,
    )
    # the earlier name of the entry bound is still read; the new one wins
    assert read_settings({"GESSO_APQ_CACHE_SIZE": "50"}, env_file=missing).apq_max_entries == 50
    both = {"GESSO_APQ_CACHE_SIZE": "50", "GESSO_APQ_MAX_ENTRIES": "70"}
    assert read_settings(both, env_file=missing).apq_max_entries == 70
    with pytest.raises(SettingsError, match=r"GESSO_APQ_MAX_QUERY_BYTES \(65536\) must not exceed"):
        read_settings({"GESSO_APQ_MAX_BYTES": "4096"}, env_file=missing)
    with pytest.raises(SettingsError, match=r"GESSO_APQ_MAX_ENTRIES must be in 1\.\.1000000"):
        read_settings({"GESSO_APQ_MAX_ENTRIES": "0"}, env_file=missing)
