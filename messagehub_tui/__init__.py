"""messagehub-tui: email and SMS campaigns from the terminal."""

import sys

__version__ = "0.1.0"

# Database drivers peewee imports, when it is first imported, if they are installed.
_DRIVERS = ("psycopg", "psycopg2", "psycopg2cffi", "pymysql", "MySQLdb")


def _import_peewee_without_drivers() -> None:
    """Import peewee before any of our modules can, with its drivers hidden.

    psycopg alone costs about 0.1 s of CPU, in the CLI and in every runner. A SQLite home needs
    no driver, and a PostgreSQL one imports psycopg when its database is made
    (engines._Psycopg3). A None in sys.modules makes `import` raise ImportError, which peewee
    takes as "not installed"; the names are visible again right after."""
    if "peewee" in sys.modules:
        return
    hidden = [name for name in _DRIVERS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import peewee  # noqa: F401
    finally:
        for name in hidden:
            del sys.modules[name]


_import_peewee_without_drivers()
