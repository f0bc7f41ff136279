"""Target databases for the SQL connector tests: SQLite files (always), and databases on the session's
throwaway PostgreSQL and MariaDB servers (``postgres_server``/``mariadb_server``, marked slow)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa


@dataclass
class Db:
    """One database the test may use: connector keys and a SQLAlchemy engine for checks."""

    kind: str
    url: str
    password: str | None = None

    def config(self) -> dict[str, str]:
        out = {"connection.url": self.url}
        if self.password:
            out["connection.password"] = self.password
        return out

    def engine(self) -> sa.Engine:
        u = sa.make_url(self.url)
        if self.password:
            u = u.set(password=self.password)
        return sa.create_engine(u, poolclass=sa.pool.NullPool)

    def execute(self, *statements: str, params: Any = None) -> None:
        engine = self.engine()
        with engine.begin() as conn:
            for s in statements:
                conn.execute(sa.text(s), params) if params is not None else conn.execute(sa.text(s))
        engine.dispose()

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        engine = self.engine()
        with engine.connect() as conn:
            out = [tuple(r) for r in conn.execute(sa.text(query))]
        engine.dispose()
        return out


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Db:
    return Db("sqlite", f"sqlite:///{tmp_path / 'db.sqlite'}")


@pytest.fixture
def pg_db(postgres_server: Any) -> Iterator[Db]:
    pg = postgres_server
    with pg.database("sql") as name:
        yield Db("postgresql", f"postgresql+psycopg://{pg.user}@{pg.host}:{pg.port}/{name}", pg.password)


@pytest.fixture
def maria_db(mariadb_server: Any) -> Iterator[Db]:
    my = mariadb_server
    with my.database("sql") as name:
        yield Db("mariadb", f"mysql+pymysql://{my.user}@{my.host}:{my.port}/{name}", my.password)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.slow),
        pytest.param("mariadb", marks=pytest.mark.slow),
    ]
)
def target(request: pytest.FixtureRequest) -> Db:
    name = {"sqlite": "sqlite_db", "postgresql": "pg_db", "mariadb": "maria_db"}[request.param]
    db: Db = request.getfixturevalue(name)
    return db
