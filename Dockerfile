# subsvc in a container: gunicorn on 0.0.0.0:8000 as a non-root user, SQLite on the /data volume
# unless DATABASE_URL says otherwise. Proven by tests/test_container.py (podman, see README).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in a layer of their own (against a stub package), so that a code change
# does not download them again.
COPY pyproject.toml README.md ./
RUN mkdir subsvc && touch subsvc/__init__.py && pip install -e '.[postgres]'

COPY subsvc ./subsvc
COPY migrations ./migrations
COPY wsgi.py gunicorn.conf.py docker-entrypoint.sh ./
# Byte-code now: at run time /app is read-only to the server's user, and every start imports it.
RUN python -m compileall -q subsvc migrations wsgi.py

# A home of its own: gunicorn may keep a control socket in $HOME; /app stays read-only to it.
RUN useradd --create-home --uid 10001 --user-group subsvc \
    && mkdir /data && chown subsvc:subsvc /data

ENV FLASK_APP=subsvc \
    DATABASE_URL=sqlite:////data/subsvc.db \
    BIND=0.0.0.0:8000 \
    WORKERS=2 \
    SUBSVC_MIGRATE=1
# The SQLite database lives here: mount a volume to keep it.
VOLUME /data
USER subsvc
EXPOSE 8000

# No curl in the slim image: python's urllib, on the port BIND names. Any error exits 1 (unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; \
        port = os.environ.get('BIND', ':8000').rsplit(':')[-1]; \
        urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"

# Migrations and built-in tiers (SUBSVC_MIGRATE=0 skips them), then gunicorn as PID 1.
# `docker run IMAGE migrate` does only the first part: the one-off job of a multi-container release.
ENTRYPOINT ["sh", "/app/docker-entrypoint.sh"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
