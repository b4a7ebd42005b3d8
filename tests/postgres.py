"""A real PostgreSQL server for the tests, started like the embedded broker: Debian's `postgresql`
package (`.ci/run` installs it), a data folder and a port of the test session's own.

`initdb` refuses to run as root, so as root the server runs as the `postgres` user. Host connections
need a password (scram-sha-256), so a wrong one is refused as it would be in production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from telecom_billing.infra.broker import free_port

USER, PASSWORD, DATABASE = "telecom", "s3cret-for-tests", "billing"


@dataclass(frozen=True)
class Server:
    port: int

    def url(self, password: str = PASSWORD, database: str = DATABASE) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """An empty database of a test's own; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(database=name)


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian puts each major version apart)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def running_server() -> Iterator[Server]:
    """initdb, pg_ctl start, a database; stopped and removed at the end."""
    binaries = server_binaries()
    assert binaries is not None, "PostgreSQL is not installed: apt-get install postgresql (.ci/run does)"
    home = Path(tempfile.mkdtemp(prefix="telecom-postgres-"))  # not under pytest's 0700 folders
    password_file, data, port = home / "password", home / "data", free_port()
    password_file.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(password_file, "postgres")
    run = lambda *args: subprocess.run(_as_server_user([str(binaries / args[0]), *args[1:]]),  # noqa: E731
                                       check=True, capture_output=True, text=True, cwd=home)
    try:
        run("initdb", "-D", str(data), "-U", USER, f"--pwfile={password_file}", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C")
        run("pg_ctl", "-D", str(data), "-l", str(home / "server.log"), "-w", "-t", "60", "start",
            "-o", f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off")
        run("createdb", "-h", str(home), "-p", str(port), "-U", USER, DATABASE)
        yield Server(port)
    finally:
        subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)
