"""Alembic migrations: the database schema, one sequential revision per change."""
