"""Alembic environment: runs against the URL given by core.migrate (never a hard-coded one)."""

from alembic import context

from core.db import Base, make_engine
from core.model_registry import import_all_models, include_object

import_all_models()

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Online migrations only: plugdesk always has a live database."""
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
