"""Alembic migrations of the service's database, run by the service itself at start-up.

`upgrade(conn)` brings a database to the newest revision inside the caller's transaction (the store
holds its schema lock around it); a database made by the `create_all` of versions before
migrations existed is adopted: its missing tables and indexes are created as that code did, then it
is stamped with the initial revision and upgraded from there. See README in this folder for how to
add a revision.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

HERE = Path(__file__).resolve().parent
INITIAL_REVISION = "0001_initial"
# Tables every database made before migrations has (created by `metadata.create_all`).
LEGACY_MARKER_TABLE = "issued_cards"


class NewerSchemaError(RuntimeError):
    """The database is at a revision this code does not know (a newer service migrated it)."""


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic configuration without an ini file; `connection` is handed to env.py."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection) -> str:
    """Migrate the database of `connection` to head; returns the revision it is at now.

    Raises NewerSchemaError when the database is at a revision unknown to this code."""
    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    current = current_revision(connection)
    if current is not None and current not in {s.revision for s in script.walk_revisions()}:
        raise NewerSchemaError(f"database schema revision {current!r} is unknown to this service")
    if current is None and inspect(connection).has_table(LEGACY_MARKER_TABLE):
        _adopt(connection)
        command.stamp(config, INITIAL_REVISION)
    command.upgrade(config, "head")
    return current_revision(connection) or ""


def _adopt(connection: Connection) -> None:
    """Bring a database made by `create_all` before migrations up to the initial revision: the
    tables and indexes that code version did not have yet (card_repeats, a later index) are made
    the way it would have made them. Tables that exist are never altered."""
    from .initial_schema import initial_metadata

    metadata = initial_metadata()
    metadata.create_all(connection)
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(connection, checkfirst=True)
