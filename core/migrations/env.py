"""Alembic environment: runs against the URL given by core.migrate (never a hard-coded one)."""

from alembic import context

import core.community.models, core.kb.models  # noqa: E401, F401 - KB and community tables  # isort: skip
import core.retention, core.tickets  # noqa: E401, F401 - retention runs and ticket tables  # isort: skip
from core import models  # noqa: F401 - registers the tables on Base.metadata
from core.db import Base, make_engine
from core.files import models as _files_models  # noqa: F401 - blobs, attachments

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Online migrations only: plugdesk always has a live database."""
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
