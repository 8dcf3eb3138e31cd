FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000 WORKERS=2
COPY pyproject.toml README.md wsgi.py .flaskenv ./
COPY subsvc ./subsvc
COPY migrations ./migrations
RUN pip install --no-cache-dir -e '.[postgres]'
RUN useradd --create-home subsvc && mkdir -p /app/instance && chown subsvc /app/instance
USER subsvc
# The default SQLite database lives here: mount a volume to keep it.
VOLUME /app/instance
EXPOSE 8000
# Each start applies migrations and adds missing built-in tiers (both are
# idempotent). With several containers on one Postgres, run those two commands
# once per release instead and start the containers with just gunicorn.
CMD flask db upgrade && flask seed tiers && \
    exec gunicorn --workers "$WORKERS" --bind "0.0.0.0:$PORT" --access-logfile - --no-control-socket wsgi:app
