"""A private PostgreSQL server for the tests: a new cluster in a temporary folder, on a free
loopback port, stopped and deleted afterwards.

It needs Debian's PostgreSQL server binaries (``apt-get install postgresql``: ``initdb`` and
``pg_ctl`` in ``/usr/lib/postgresql/<version>/bin``, or on ``PATH``) and the ``psycopg``
driver (``pip install -e '.[search]'``). PostgreSQL refuses to run as root; as root the
server runs as the ``postgres`` user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: the one on ``PATH``, else Debian's newest."""
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).resolve().parent / "initdb").is_file():
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def missing() -> str | None:
    """Why no server can be started here, or ``None`` when one can."""
    if server_binaries() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's package "
                "('apt-get install postgresql'), as .ci/run does")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed: pip install -e '.[search]'"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a 'postgres' user to run the server as (Debian's package creates it)"
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of the call."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A PostgreSQL cluster of its own, trust authentication for the user ``postgres``.

    Use as a context manager: entering runs ``initdb`` and ``pg_ctl start`` (waiting until
    the server accepts connections); leaving stops it (``immediate``) and deletes the folder.

    Attributes:
        port: The TCP port on 127.0.0.1.
        folder: The temporary folder (data directory ``data``, server log ``server.log``).
    """

    def __init__(self) -> None:
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError(missing())
        self.user = "postgres" if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="trainlab-postgresql-"))
        self.port = free_port()

    def _run(self, *args: str) -> None:
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=self.folder, user=self.user,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}\n"
                               f"{log.read_text() if log.is_file() else ''}")

    def __enter__(self) -> PostgresServer:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {data} -c fsync=off "
                   f"-c full_page_writes=off -c synchronous_commit=off")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-o", options, "-w", "-t", "60",
                  "start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create the database ``name``; returns its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
