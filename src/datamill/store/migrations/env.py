"""Alembic environment: migrations run on the connection datamill hands over."""

from alembic import context

from datamill.store.db import metadata


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


# Alembic sets up `context` before it runs this file; anything else importing it (pytest's
# --doctest-modules) finds no `context.config` and must not run migrations.
if hasattr(context, "config"):
    run_migrations()
