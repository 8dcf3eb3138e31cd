"""`make bench`: subsvc under gunicorn and wrk, as a ratio of a minimal durable receiver."""
