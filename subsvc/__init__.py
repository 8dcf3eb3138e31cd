"""subsvc: Stripe webhooks in, subscription state out. `create_app` is the factory."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from subsvc import migrations
from subsvc.config import ConfigError, environ_settings, load_settings
from subsvc.errors import register_error_handlers
from subsvc.extensions import create_sqlite_file, db, engine_options
from subsvc.logconfig import configure_logging, secret_values

MAX_BODY_BYTES = 1024 * 1024


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    # Tests pass their whole configuration and never read the process environment.
    try:
        settings = environ_settings() if test_config is None else {}
    except ConfigError as exc:
        # Fail fast with one line (gunicorn, flask CLI), not a traceback.
        raise SystemExit(f"subsvc: invalid setting {exc}") from None
    configure(app, settings, test_config or {})
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"], secret_values(app.config))
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    from subsvc.cli import register_commands

    register_commands(app)
    return app


def configure(app: Flask, settings: dict[str, Any], overrides: dict[str, Any]) -> None:
    app.config.from_mapping(load_settings({}))  # defaults for every setting
    app.config.update(settings)
    app.config.update(overrides)
    if not app.config.get("DATABASE_URL"):
        Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'subsvc.db'}"
    create_sqlite_file(app.config["DATABASE_URL"])
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["DATABASE_URL"]))
    # Flask's own default is None (no limit), so setdefault would not do.
    app.config["MAX_CONTENT_LENGTH"] = overrides.get("MAX_CONTENT_LENGTH") or MAX_BODY_BYTES


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrations.init_app(app)  # `flask db` (Flask-Migrate), loaded only when a db command runs


def register_blueprints(app: Flask) -> None:
    from subsvc import health, metrics
    from subsvc.status.views import bp as status_bp
    from subsvc.webhooks.views import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(status_bp)
    app.register_blueprint(health.bp)
    metrics.init_app(app)
