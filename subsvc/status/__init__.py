"""The read-only status blueprint `status` (views.py: its routes, JSON API and pages)."""
