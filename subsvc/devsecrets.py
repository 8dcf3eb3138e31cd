"""`python -m subsvc.devsecrets`: used by `make run` to write development secrets to .env.

Only secrets that are set neither in the environment nor in .env are
generated; they are printed once so the developer can sign test events.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from dotenv import dotenv_values

from subsvc.filemodes import open_private

GENERATED: dict[str, Callable[[], str]] = {
    "STRIPE_WEBHOOK_SECRET": lambda: "whsec_dev_" + secrets.token_hex(24),
    "INTERNAL_WEBHOOK_SECRET": lambda: secrets.token_urlsafe(32),
    "STATUS_ADMIN_TOKEN": lambda: secrets.token_urlsafe(24),
}


def ensure_dev_secrets(path: Path) -> dict[str, str]:
    existing = dotenv_values(path) if path.exists() else {}
    missing = {name: make() for name, make in GENERATED.items()
               if not (os.environ.get(name, "").strip() or (existing.get(name) or "").strip())}
    if missing:
        # 0600 also when the file existed: it is about to hold secrets.
        with os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "a") as env_file:
            env_file.write("\n# Development secrets written by `make run`\n")
            env_file.writelines(f"{name}={value}\n" for name, value in missing.items())
    return missing


def main() -> None:
    written = ensure_dev_secrets(Path(".env"))
    if written:
        print("Wrote development secrets to .env (use them to sign test events):")
        for name, value in written.items():
            print(f"  {name}={value}")


if __name__ == "__main__":
    main()
