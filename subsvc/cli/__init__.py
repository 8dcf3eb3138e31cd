"""`flask …` commands: one group (or command) per noun, all registered here by name.

Explicit imports, no discovery: a module that fails to import fails start-up
loudly instead of making its commands vanish.
"""
from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    from subsvc.cli import doctor, inbox, keys, seed, stripe, users

    for command in (seed.group, users.group, keys.group, inbox.group, stripe.group,
                    doctor.doctor_command):
        app.cli.add_command(command)
