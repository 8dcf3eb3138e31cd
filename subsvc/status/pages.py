"""HTML pages of the status blueprint (placeholder until the pages land)."""
