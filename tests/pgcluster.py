"""A private PostgreSQL cluster for the test session: initdb in a temporary folder, a free port,
trust on loopback (password roles on request), fsync off. Nothing of the machine's own PostgreSQL
service is used or needed; only the server binaries (Debian package postgresql)."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.peers import free_port, require

SUPERUSER = "messagehub"
# Settings for a throwaway cluster: durability off (a crashed test cluster is simply thrown away),
# enough connections for several runner processes per test and the multi-host tests.
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


def bin_dir() -> Path | None:
    """Where initdb, pg_ctl and postgres are: PATH first, then Debian's versioned folders."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                     key=lambda path: int(Path(path).parent.name)
                     if Path(path).parent.name.isdigit() else 0)
    for folder in reversed(folders):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    return None


def _driver_found() -> bool:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return True


def _server_user() -> pwd.struct_passwd | None:
    """initdb and postgres refuse to run as root: as root, run them as an unprivileged user
    (Debian's `postgres` when the package made it, else `nobody`); otherwise as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and neither user postgres nor nobody exists")


@dataclass
class PgCluster:
    """One running cluster. `url(db)` is what `[database] url` takes; `admin()` a superuser
    connection (autocommit) to the maintenance database."""

    port: int
    folder: Path
    listen: tuple[str, ...]
    client_networks: tuple[str, ...]
    binaries: Path
    user: pwd.struct_passwd | None
    password_roles: list[str] = field(default_factory=list)
    templates: set[str] = field(default_factory=set)  # made by make_template, for the session
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def host(self) -> str:
        return self.listen[0]

    def url(self, database: str = "postgres", user: str = SUPERUSER,
            host: str | None = None) -> str:
        return f"postgresql://{user}@{host or self.host}:{self.port}/{database}"

    def admin(self, database: str = "postgres"):
        import psycopg
        return psycopg.connect(host=self.host, port=self.port, user=SUPERUSER,
                               dbname=database, autocommit=True, connect_timeout=10)

    def sql(self, statement: str, params: Sequence = (), database: str = "postgres") -> list:
        """Run one statement as the superuser; the rows it returns (empty when none)."""
        with self.admin(database) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    # Databases ---------------------------------------------------------------------------

    def create_database(self, template: str | None = None, name: str | None = None) -> str:
        """A new database (a copy of `template` when given); returns its name. Copying a small
        template is far faster than building a schema, so tests take copies of a ready one."""
        name = name or f"t{os.getpid()}_{next(self._names)}"
        source = f" TEMPLATE {_ident(template)}" if template else ""
        self.sql(f"CREATE DATABASE {_ident(name)}{source}")
        return name

    def drop_database(self, name: str) -> None:
        # FORCE ends sessions a test left open (a runner it killed, a pool it did not close).
        self.sql(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")

    def make_template(self, name: str, setup: Callable[[str], None]) -> str:
        """Create database `name`, run `setup(url)` on it (e.g. create the schema), then mark it
        a template. `setup` must close its connections: CREATE DATABASE … TEMPLATE refuses a
        source with sessions."""
        self.create_database(name=name)
        setup(self.url(name))
        self.sql("UPDATE pg_database SET datistemplate = true WHERE datname = %s", (name,))
        return name

    # Roles and access --------------------------------------------------------------------

    def add_password_role(self, role: str, password: str) -> None:
        """A login role that must give its password (scram) over TCP, as a real server would
        ask; it owns nothing but may create tables in databases it is granted."""
        if not self.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
            # Utility statements take no bound parameters: quote the password as a literal.
            quoted = "'" + password.replace("'", "''") + "'"
            self.sql(f"CREATE ROLE {_ident(role)} LOGIN PASSWORD {quoted}")
        if role not in self.password_roles:
            self.password_roles.append(role)
        self._write_hba()
        self._ctl("reload")

    def _write_hba(self) -> None:
        lines = ["local all all trust"]
        networks = ["127.0.0.1/32", "::1/128", *self.client_networks]
        for network in networks:
            for role in self.password_roles:
                lines.append(f"host all {role} {network} scram-sha-256")
            lines.append(f"host all all {network} trust")
        (self.data / "pg_hba.conf").write_text("\n".join(lines) + "\n")

    # Process -----------------------------------------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        return subprocess.run([str(self.binaries / args[0]), *args[1:]], check=check,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"},
                              cwd=self.folder, **kwargs)

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run("pg_ctl", "-D", str(self.data), *args, check=check)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "--encoding=UTF8", "--no-sync")
        self._write_hba()
        socket_dir = self.folder / "socket"
        socket_dir.mkdir()
        self._own(socket_dir)
        settings = {**SETTINGS, "port": str(self.port),
                    "listen_addresses": f"'{','.join(self.listen)}'",
                    "unix_socket_directories": f"'{socket_dir}'"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        started = self._ctl("start", "-w", "-t", "60", "-l", str(self.folder / "server.log"),
                            check=False)
        if started.returncode != 0:
            log = (self.folder / "server.log")
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()} "
                               f"{log.read_text()[-2000:] if log.exists() else ''}")
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import psycopg
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sql("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        # immediate: nothing in a test cluster needs a clean shutdown, and it is quickest.
        self._ctl("stop", "-m", "immediate", "-w", "-t", "60", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _own(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)


def _ident(name: str) -> str:
    """A quoted SQL identifier (test names are plain, but quote anyway)."""
    return '"' + name.replace('"', '""') + '"'


def _remove_orphans() -> None:
    """Stop and delete the clusters of test runs that were killed before they could (a SIGKILL,
    a timeout): each folder names the process that made it, and only those whose process is
    gone are touched."""
    for folder in Path(tempfile.gettempdir()).glob("mh-pg-*"):
        try:
            owner = int((folder / "owner.pid").read_text())
            os.kill(owner, 0)
            continue  # its test run is still going
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # being made right now, or not ours
        pid_file = folder / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)  # immediate shutdown
        shutil.rmtree(folder, ignore_errors=True)


def available() -> bool:
    return bin_dir() is not None and _driver_found()


def require_postgres() -> None:
    """Skip (dev machine) or fail (CI) without the server binaries or the psycopg driver."""
    require(bin_dir() is not None, "PostgreSQL server binaries (Debian package postgresql)")
    require(_driver_found(), "psycopg 3 (pip install -e '.[postgres]')")


@contextlib.contextmanager
def running_cluster(listen: Sequence[str] = ("127.0.0.1",),
                    client_networks: Sequence[str] = ()) -> Iterator[PgCluster]:
    """Start a private cluster listening on `listen` (first address: the one URLs name) and
    trusting clients from loopback and `client_networks` (CIDRs, e.g. network namespaces');
    stop and delete it afterwards."""
    require_postgres()
    binaries = bin_dir()
    assert binaries is not None
    user = _server_user()
    _remove_orphans()
    last_error: Exception | None = None
    for _attempt in range(3):  # a free port can be taken between probe and start: try another
        folder = Path(tempfile.mkdtemp(prefix="mh-pg-"))
        (folder / "owner.pid").write_text(str(os.getpid()))
        cluster = PgCluster(port=free_port(), folder=folder, listen=tuple(listen),
                            client_networks=tuple(client_networks), binaries=binaries,
                            user=user)
        cluster._own(folder)
        try:
            cluster.start()
        except RuntimeError as error:
            last_error = error
            cluster.stop()
            continue
        try:
            yield cluster
        finally:
            cluster.stop()
        return
    raise RuntimeError(f"could not start a PostgreSQL test cluster: {last_error}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One cluster for the whole test session (started on first use)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> Iterator[str]:
    """The URL of a new, empty database for one test; dropped afterwards."""
    name = pg_cluster.create_database()
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)
