"""A connection to the results database (DESIGN.md 7e): a SQLite file or a PostgreSQL server, one API.

`connect` takes what a user types: a file path or `sqlite:///PATH` for SQLite, a
`postgresql://user:password@host:port/database` URL for PostgreSQL. Statements are written once with
`?` placeholders; `Database` gives each driver its own. Connection failures are one line, with the
password masked.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg

from ..errors import ServiceUnavailable, UsageError

SQLITE, POSTGRESQL = "sqlite", "postgresql"
DEFAULT_FILE = "billing.sqlite"  # beside the period folders
CONNECT_TIMEOUT_S = 10
APPLICATION = "telecom-load"  # what pg_stat_activity shows
BULK_CHUNK = 50_000
_PASSWORD = re.compile(r"(://[^:/@]+:)[^/]*@")  # up to the authority's last @


@dataclass
class Database:
    dialect: str
    connection: Any
    where: str  # the file, or the URL without its password

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == POSTGRESQL else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if params:
            self.connection.execute(self._sql(sql), tuple(params))
        else:  # no parameters: no placeholder parsing (a `%` in a statement stays as it is)
            self.connection.execute(sql)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """`rows` into `table` with one INSERT statement, executed for each row."""
        if rows:
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            self.connection.cursor().executemany(self._sql(insert), [tuple(r) for r in rows])

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Many rows, streamed: PostgreSQL's COPY, SQLite's `insert_many` in chunks."""
        if self.dialect == POSTGRESQL:
            with self.connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        rows = iter(rows)
        while chunk := list(islice(rows, BULK_CHUNK)):
            self.insert_many(table, columns, chunk)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(self._sql(sql), tuple(params)).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all (a killed process commits nothing)."""
        if self.dialect == POSTGRESQL:
            with self.connection.transaction():
                yield
            return
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


def masked(url: str) -> str:
    return _PASSWORD.sub(r"\1***@", url)


def default_file(invoices_dir: Path) -> Path:
    """The SQLite file used when no database is configured: beside the period folders."""
    return invoices_dir / DEFAULT_FILE


def connect(url: str) -> Database:
    """Open the database `url` names; one line (ServiceUnavailable or UsageError) when it cannot."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            connection = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True,
                                         application_name=APPLICATION)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or ["no answer"])[0]
            raise ServiceUnavailable(f"cannot connect to {masked(url)}: {masked(first)}") from None
        return Database(POSTGRESQL, connection, masked(url))
    if "://" in url and not url.startswith("sqlite:///"):
        raise UsageError(f"--db: expected a SQLite file (PATH or sqlite:///PATH) or a postgresql:// URL, got {url!r}")
    path = Path(url.removeprefix("sqlite:///")).expanduser()
    if not path.parent.is_dir():
        raise UsageError(f"--db: no folder {path.parent} for the SQLite file")
    try:
        lite = sqlite3.connect(path, isolation_level=None)
        lite.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise ServiceUnavailable(f"cannot open {path}: {exc}") from None
    return Database(SQLITE, lite, str(path))
