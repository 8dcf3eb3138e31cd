"""Where the migrations are, which revisions are their heads, and the lazy `flask db` group.

Flask-Migrate and alembic (with mako) cost each process about 11 MiB, and a gunicorn worker
never migrates: it only compares the database's revision with the heads (/readyz). So the
heads are read from the revision files' own `revision` / `down_revision` assignments, and
`flask db` imports Flask-Migrate only when a `db` command is looked up.
tests/test_migrations.py checks the heads against alembic's.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app

EXTENSION = "subsvc.migrations"


def init_app(app: Flask) -> None:
    root_migrations = Path(app.root_path).parent / "migrations"
    directory = root_migrations if root_migrations.is_dir() else Path("migrations")
    app.extensions[EXTENSION] = str(directory.resolve())
    app.cli.add_command(MigrationCommands("db", help="Database migrations (Flask-Migrate)."))


def migrations_dir() -> str:
    return str(current_app.extensions[EXTENSION])


@cache
def head_revisions(directory: str) -> frozenset[str]:
    """The revisions no other revision names as its down_revision."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(Path(directory, "versions").glob("*.py")):
        names = _assignments(path)
        if isinstance(names.get("revision"), str):
            revisions.add(names["revision"])
            down = names.get("down_revision")
            parents.update(down if isinstance(down, tuple | list) else [down] if down else [])
    return frozenset(revisions - parents)


def _assignments(path: Path) -> dict[str, Any]:
    """The module's top-level `name = <literal>` (or `name: type = <literal>`) values."""
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return values


class MigrationCommands(click.Group):
    """`flask db …`: Flask-Migrate's group, imported and bound to the app when first used.

    It takes the real group's options (`--directory`, `-x`) and callback as it parses, and
    hands each subcommand over from it.
    """

    def _group(self) -> click.Group:
        from flask_migrate import Migrate
        from flask_migrate.cli import db as flask_migrate_group

        from subsvc.extensions import db

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if "migrate" not in app.extensions:
            Migrate(app, db, directory=migrations_dir(), render_as_batch=True,
                    compare_type=True)
        group: click.Group = flask_migrate_group
        self.params, self.callback = group.params, group.callback
        return group

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        self._group()
        return super().get_params(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._group().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._group().get_command(ctx, cmd_name)
