"""The private PostgreSQL test cluster itself: it starts, hands out empty databases, copies
templates, and asks password roles for their password."""

from __future__ import annotations

import pytest

from tests.pgcluster import PgCluster


def test_each_test_gets_its_own_empty_database(pg_cluster: PgCluster, pg_database: str):
    import psycopg
    with psycopg.connect(pg_database, autocommit=True) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)


def test_a_copy_of_a_template_holds_its_rows(pg_cluster: PgCluster):
    import psycopg

    def setup(url: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE item (id serial PRIMARY KEY, name text)")
            conn.execute("INSERT INTO item (name) VALUES ('one')")

    template = pg_cluster.make_template("tpl_cluster_test", setup)
    copy = pg_cluster.create_database(template=template)
    try:
        rows = pg_cluster.sql("SELECT name FROM item", database=copy)
        assert rows == [("one",)]
    finally:
        pg_cluster.drop_database(copy)
        pg_cluster.sql("UPDATE pg_database SET datistemplate = false WHERE datname = %s",
                       (template,))
        pg_cluster.drop_database(template)


def test_a_password_role_must_give_its_password(pg_cluster: PgCluster, monkeypatch):
    import psycopg
    pg_cluster.add_password_role("pw_tester", "s3cret'x")
    url = pg_cluster.url("postgres", user="pw_tester")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=10).close()
    monkeypatch.setenv("PGPASSWORD", "s3cret'x")
    with psycopg.connect(url, connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("pw_tester",)
