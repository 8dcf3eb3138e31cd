FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000 WORKERS=2
COPY pyproject.toml README.md wsgi.py .flaskenv ./
COPY subsvc ./subsvc
COPY migrations ./migrations
RUN pip install --no-cache-dir -e '.[postgres]'
RUN useradd --create-home subsvc && mkdir -p /app/instance && chown subsvc /app/instance
USER subsvc
EXPOSE 8000
# Migrations are idempotent and run under an Alembic lock-free upgrade; with
# several containers, run `flask db upgrade` once as a release step instead.
CMD flask db upgrade && flask seed tiers && \
    exec gunicorn --workers "$WORKERS" --bind "0.0.0.0:$PORT" --access-logfile - --no-control-socket wsgi:app
