"""load_settings: defaults, parsing, empty-as-unset, and failing fast naming the variable."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from subsvc import create_app
from subsvc.config import ConfigError, load_settings
from subsvc.devsecrets import ensure_dev_secrets
from subsvc.extensions import db


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings({})
    assert settings == {
        "DATABASE_URL": None, "STRIPE_WEBHOOK_SECRET": [], "STRIPE_WEBHOOK_TOLERANCE": 300,
        "INTERNAL_WEBHOOK_SECRET": None, "INTERNAL_WEBHOOK_URL": None, "STRIPE_SECRET_KEY": None,
        "STATUS_ADMIN_TOKEN": None, "PAST_DUE_KEEPS_TIER": True, "LOG_FORMAT": "text",
        "WELCOME_REVEAL_HOURS": 24,
        "LOG_LEVEL": "INFO", "STRIPE_LIVEMODE": None,
        "STRIPE_API_BASE": None,
    }


@pytest.mark.parametrize(("name", "raw", "parsed"), [
    ("STRIPE_WEBHOOK_SECRET", "whsec_a, whsec_b,", ["whsec_a", "whsec_b"]),
    ("STRIPE_WEBHOOK_TOLERANCE", " 60 ", 60),
    ("PAST_DUE_KEEPS_TIER", "false", False),
    ("PAST_DUE_KEEPS_TIER", "YES", True),
    ("LOG_FORMAT", "JSON", "json"),
    ("WELCOME_REVEAL_HOURS", " 1 ", 1),
    ("WELCOME_REVEAL_HOURS", "168", 168),
    ("DATABASE_URL", "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("STRIPE_LIVEMODE", "true", True),
    ("STRIPE_LIVEMODE", " False ", False),
    ("LOG_LEVEL", "debug", "DEBUG"),
    ("INTERNAL_WEBHOOK_URL", " https://core:8443/x ", "https://core:8443/x"),
    ("INTERNAL_WEBHOOK_URL", "http://127.0.0.1:8000/x", "http://127.0.0.1:8000/x"),
    ("STRIPE_API_BASE", " http://localhost:12111/ ", "http://localhost:12111"),
])
def test_values_are_parsed(name: str, raw: str, parsed: object) -> None:
    assert load_settings({name: raw})[name] == parsed


@pytest.mark.parametrize("name", ["STRIPE_WEBHOOK_SECRET", "INTERNAL_WEBHOOK_SECRET",
                                  "STATUS_ADMIN_TOKEN", "PAST_DUE_KEEPS_TIER", "LOG_FORMAT",
                                  "STRIPE_LIVEMODE", "LOG_LEVEL", "INTERNAL_WEBHOOK_URL"])
def test_an_empty_string_counts_as_unset(name: str) -> None:
    assert load_settings({name: "  "})[name] == load_settings({})[name]


@pytest.mark.parametrize(("name", "raw"), [
    ("STRIPE_WEBHOOK_TOLERANCE", "soon"), ("STRIPE_WEBHOOK_TOLERANCE", "-5"),
    ("STRIPE_WEBHOOK_TOLERANCE", "0"),
    ("PAST_DUE_KEEPS_TIER", "maybe"), ("LOG_FORMAT", "xml"),
    ("WELCOME_REVEAL_HOURS", "0"), ("WELCOME_REVEAL_HOURS", "1.5"), ("WELCOME_REVEAL_HOURS", "-1"),
    ("WELCOME_REVEAL_HOURS", "day"), ("WELCOME_REVEAL_HOURS", "\u00b2"),
    ("STRIPE_LIVEMODE", "live"), ("LOG_LEVEL", "loud"),
    ("INTERNAL_WEBHOOK_URL", "file:///etc/passwd"), ("INTERNAL_WEBHOOK_URL", "ftp://core/x"),
    ("INTERNAL_WEBHOOK_URL", "core:8000/subscriptions/internal/stripe-webhook"),
    ("INTERNAL_WEBHOOK_URL", "http:///no-host"),
    ("STRIPE_API_BASE", "localhost:12111"),
])
def test_a_malformed_value_fails_naming_the_variable_not_the_value(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name) as info:
        load_settings({name: raw})
    assert raw not in str(info.value)


def test_sqlite_in_the_instance_folder_by_default(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": None})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == \
        f"sqlite:///{Path(app.instance_path) / 'subsvc.db'}"


def test_dev_secrets_fill_only_what_is_missing(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STRIPE_WEBHOOK_SECRET", "INTERNAL_WEBHOOK_SECRET", "STATUS_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    env.write_text("STATUS_ADMIN_TOKEN=kept-as-it-is-0123456789\n")
    written = ensure_dev_secrets(env)
    assert set(written) == {"STRIPE_WEBHOOK_SECRET", "INTERNAL_WEBHOOK_SECRET"}
    assert written["STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
    assert len(written["INTERNAL_WEBHOOK_SECRET"]) >= 32
    assert ensure_dev_secrets(env) == {}
    assert "kept-as-it-is-0123456789" in env.read_text()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'wal.db'}"})
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar_one() == 30_000
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        db.session.rollback()
        db.engine.dispose()


def test_a_malformed_setting_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PAST_DUE_KEEPS_TIER": "maybe", "FLASK_APP": "subsvc",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = subprocess.run([sys.executable, "-m", "flask", "doctor"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "subsvc: invalid setting PAST_DUE_KEEPS_TIER: expected true or false" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://core.internal/x"])
def test_a_non_http_forwarding_url_stops_start_up(tmp_path: Path, url: str) -> None:
    # The edge would send the internal secret there, and urllib opens file: and ftp: too.
    env = {**os.environ, "INTERNAL_WEBHOOK_URL": url, "FLASK_APP": "subsvc",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = subprocess.run([sys.executable, "-m", "flask", "doctor"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert ("subsvc: invalid setting INTERNAL_WEBHOOK_URL: expected an http:// or https:// URL"
            in result.stderr)
    assert url not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
