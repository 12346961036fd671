"""Alembic environment: runs against the URL given by core.migrate (never a hard-coded one)."""

from alembic import context

from core.db import Base, make_engine
from core.model_registry import import_all_models, include_object

import_all_models()

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Online migrations only: plugdesk always has a live database."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("core.migrate sets sqlalchemy.url; run migrations through `plugdesk db upgrade`")
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Table rebuilds (batch mode, 0009) drop and re-create tables; with foreign keys on, the DROP would
            # run ON DELETE actions on the rows of other tables. SQLite's documented procedure: switch them off
            # outside the transaction (a no-op inside one), check with PRAGMA foreign_key_check at the end.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
