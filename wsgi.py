"""Gunicorn entry point: `gunicorn wsgi:app`."""
from subsvc import create_app

app = create_app()
