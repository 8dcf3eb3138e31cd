"""PLACEHOLDER gunicorn settings, only so the container branch can be built and tested.

Another branch writes the real gunicorn.conf.py; on merge, take that one instead of this.
What the Dockerfile relies on: BIND (default 127.0.0.1:${PORT:-8000}), WORKERS, THREADS.
"""
from __future__ import annotations

import os

bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT') or 8000}"
workers = int(os.environ.get("WORKERS") or 2)
threads = int(os.environ.get("THREADS") or 1)
accesslog = "-"
# gunicorn 27 opens a control socket in $HOME by default; a container needs none.
control_socket_disable = True
