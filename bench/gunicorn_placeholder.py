"""Stand-in for the repository's gunicorn.conf.py while it does not exist yet (bench only).

The benchmark always uses the repository's own gunicorn.conf.py when there is one; this
reads the same variables: BIND, WORKERS, THREADS.
"""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WORKERS", "2"))
threads = int(os.environ.get("THREADS", "1"))
