"""Alembic environment. Chronos runs migrations in-process (see chronos.server.store.migrate);
the open connection arrives in ``config.attributes["connection"]``."""

from alembic import context

from chronos.server.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
