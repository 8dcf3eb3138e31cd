"""`flask …` commands: one AppGroup per noun, all registered here."""
from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    from subsvc.cli import keys, seed, users

    for group in (seed.group, users.group, keys.group):
        app.cli.add_command(group)
    for module_name in ("events", "stripe", "doctor"):
        _register_optional(app, module_name)


def _register_optional(app: Flask, module_name: str) -> None:
    import importlib

    try:
        module = importlib.import_module(f"subsvc.cli.{module_name}")
    except ModuleNotFoundError:
        return
    app.cli.add_command(module.group)
