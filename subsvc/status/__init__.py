"""The read-only status blueprint `status`: JSON API and HTML pages."""
