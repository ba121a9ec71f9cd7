"""Persistence: models, connections, migrations and repository functions (callers commit)."""
