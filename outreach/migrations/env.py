"""Alembic environment: runs migrations on the engine of the current app's Database."""

from __future__ import annotations

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from contacts.base import Base
from outreach.extensions import get_db, import_models

config = context.config
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

import_models()
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=get_db().url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = get_db().engine
    conf_args = current_app.extensions["migrate"].configure_args
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite alters most tables by rebuilding them (copy, drop, rename: Alembic's batch
            # mode). With foreign keys enforced, dropping the old table deletes every row that
            # references it by cascade, or fails on a RESTRICT: a migration of `campaigns` would
            # take all deliveries and their events with it. So they are off while migrations run
            # (the pragma only works outside a transaction), and checked when they are done.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata, **conf_args)
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"the migration left {len(broken)} row(s) pointing at rows that do "
                            f"not exist, e.g. {broken[0]}"
                        )
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
