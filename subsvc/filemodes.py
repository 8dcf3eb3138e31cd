"""Files that hold secrets or user data (.env, the SQLite database) are created mode 0600.

`os.open`'s mode is filtered by the umask, which may leave a file more open or less than
intended; `fchmod` is not, so a new file ends up 0600 whatever the umask.
"""
from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def open_private(path: Path, flags: int) -> int:
    """`os.open(path, flags | O_CREAT)` and make the file 0600 (also one that existed)."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    except OSError:
        os.close(fd)
        raise
    return fd


def create_private(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists; an existing file keeps its mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
