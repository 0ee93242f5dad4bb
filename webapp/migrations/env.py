"""Alembic's environment: the app's engine, the models' metadata, one transaction per run."""

import logging
from logging.config import fileConfig

import click
from alembic import context
from flask import current_app

from webapp.database import migration_transaction
from webapp.extensions import db

config = context.config
# Doorstep's upgrade at start hands over its connection (and its transaction).
shared_connection = config.attributes.get("connection")
# `flask db ...` shows Alembic's progress on stderr; an upgrade run by the app itself (at start,
# or under another command such as `users`) keeps quiet, and an app's own logging is left alone.
if (
    shared_connection is None
    and click.get_current_context(silent=True) is not None
    and config.config_file_name
):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def skip_empty_autogenerate(migration_context, revision, directives):
    """Write no revision file when autogenerate finds no change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations(connection):
    """Configure the context on `connection` and run the migrations asked for."""
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", skip_empty_autogenerate)
    context.configure(connection=connection, target_metadata=db.metadata, **options)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=str(db.engine.url), target_metadata=db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif shared_connection is not None:
    run_migrations(shared_connection)
else:
    with db.engine.connect() as connection, migration_transaction(connection):
        run_migrations(connection)
