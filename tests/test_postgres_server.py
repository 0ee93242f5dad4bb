"""The throwaway PostgreSQL server from tests/support/postgres.py: reachable, isolated, recent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.support.postgres import PostgresServer


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    """An engine on this test's fresh database."""
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


def test_url_connects_through_sqlalchemy(engine: sa.Engine, postgres_url: str):
    with engine.connect() as conn:
        database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
        user = conn.execute(sa.text("SELECT current_user")).scalar_one()
    assert database == sa.make_url(postgres_url).database
    assert user == "doorstep"


def test_each_new_database_is_empty_and_isolated(postgres_server: PostgresServer):
    first = sa.create_engine(postgres_server.new_database("isolation"))
    second = sa.create_engine(postgres_server.new_database("isolation"))
    try:
        assert first.url.database != second.url.database
        assert sa.inspect(first).get_table_names() == []
        with first.begin() as conn:
            conn.execute(sa.text("CREATE TABLE only_here (id integer PRIMARY KEY)"))
        assert sa.inspect(first).has_table("only_here")
        assert not sa.inspect(second).has_table("only_here")
    finally:
        first.dispose()
        second.dispose()
        postgres_server.drop_database(first.url.database)
        postgres_server.drop_database(second.url.database)


def test_server_is_postgresql_13_or_newer(engine: sa.Engine):
    # DROP DATABASE ... WITH (FORCE), which drop_database() uses, arrived in 13.
    with engine.connect() as conn:
        assert int(conn.execute(sa.text("SHOW server_version_num")).scalar_one()) >= 130000
