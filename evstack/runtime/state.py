"""A module's durable memory: typed values by key in one SQLite file in its state folder.

What a module must still know after its process is killed, or the charger loses power, goes
here: a running transaction, a meter register. SQLite in WAL mode keeps every committed write
whole through a crash of the process. Through a power cut it keeps what was committed with
`durable=True` (the commit waits for fsync); a frequent, cheap write such as a meter reading
may pass `durable=False` and ride on the next durable commit's fsync.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import msgspec

__all__ = ["ModuleState", "absorb_databases", "open_database", "transaction"]

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode


def open_database(path: Path, *, durable: bool = True) -> sqlite3.Connection:
    """An SQLite file for what must survive: WAL, and with `durable` fsync at every commit.

    Its folder is created if missing: a fresh charger has none yet, and that is no reason to
    lose the first records. Transactions are opened explicitly (`transaction`), so none is
    ever left implicit.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken at once (no lock upgrade half way), rolled back on error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def absorb_databases(db: sqlite3.Connection, files: Iterable[Path]) -> list[Path]:
    """Move every table (with its indexes and triggers) of the older SQLite `files` into `db`,
    then delete those files; returns the files that were there.

    For stores that once had a file each and now share one: their rows must not be lost on
    the way. Call it before any store creates its tables in `db`. One transaction copies
    them all, so a crash before its commit leaves the files whole and `db` as it was; after
    it, a table `db` already has can only be one copied before, whose file's deletion did
    not survive: that file is deleted again, not copied twice.
    """
    present = [path for path in files if path.exists()]
    aliases = [f"absorbed{n}" for n in range(len(present))]
    for alias, path in zip(aliases, present, strict=True):
        db.execute(f"ATTACH DATABASE ? AS {alias}", (str(path),))  # not inside a transaction
    try:
        with transaction(db):
            for alias in aliases:
                _copy_tables(db, alias)
    finally:
        for alias in aliases:
            db.execute(f"DETACH DATABASE {alias}")
    for path in present:
        for suffix in ("-wal", "-shm", ""):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    return present


def _copy_tables(db: sqlite3.Connection, alias: str) -> None:
    have = {name for (name,) in db.execute("SELECT name FROM main.sqlite_master")}
    schema = db.execute(
        f"SELECT type, name, tbl_name, sql FROM {alias}.sqlite_master"
        " WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    copied: set[str] = set()
    for kind, name, _, sql in schema:
        if kind == "table" and name not in have:
            db.execute(sql)  # the original CREATE, unqualified: it makes the table in main
            db.execute(f'INSERT INTO main."{name}" SELECT * FROM {alias}."{name}"')
            copied.add(name)
    for kind, name, table, sql in schema:
        if kind in ("index", "trigger") and table in copied and name not in have:
            db.execute(sql)


class ModuleState:
    """Key-value pairs in `<folder>/<name>.db`; values are anything msgspec can encode."""

    def __init__(self, folder: Path, name: str = "state") -> None:
        self.path = folder / f"{name}.db"
        # Each write is its own transaction, committed before put() returns.
        self._db = open_database(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB)")
        self._durable: bool | None = True
        self._shared = False

    def close(self) -> None:
        self._db.close()

    def share(self) -> sqlite3.Connection:
        """The connection itself, for stores that keep their own tables in this file.

        Each SQLite connection costs about 150 KiB (its lookaside buffers and WAL index map),
        which counts where many stations run in one process. From the first call on, a
        non-durable write here puts `synchronous` back to FULL after itself, so the other
        stores' commits on the connection stay durable.
        """
        self._shared = True
        return self._db

    def get(self, key: str, type: type[T]) -> T | None:
        """The value stored under `key`, decoded as `type`; None if there is none.

        A value that no longer decodes (written by an older version) counts as absent: a
        module must never fail to start over what it remembered.
        """
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return msgspec.json.decode(row[0], type=type)
        except msgspec.DecodeError:
            return None

    def items(self, prefix: str, type: type[T]) -> Iterator[tuple[str, T]]:
        """Every (key, value) whose key starts with `prefix`, in key order."""
        query, bounds = "SELECT key, value FROM state WHERE key >= ?", [prefix]
        end = _after_prefix(prefix)
        if end is not None:
            query += " AND key < ?"
            bounds.append(end)
        rows = self._db.execute(query + " ORDER BY key", bounds).fetchall()
        for key, raw in rows:
            try:
                yield key, msgspec.json.decode(raw, type=type)
            except msgspec.DecodeError:
                continue

    def put(self, key: str, value: Any, *, durable: bool = True) -> None:
        self._sync(durable)
        self._db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, _encode(value)),
        )
        self._after_write()

    def delete(self, key: str, *, durable: bool = True) -> None:
        self._sync(durable)
        self._db.execute("DELETE FROM state WHERE key = ?", (key,))
        self._after_write()

    def _sync(self, durable: bool) -> None:
        if durable is not self._durable:
            # FULL: fsync the WAL at commit; NORMAL: only at checkpoints (crash-safe, not
            # power-cut-safe for the newest commits).
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._durable = durable

    def _after_write(self) -> None:
        if self._shared:
            self._sync(True)


def _after_prefix(prefix: str) -> str | None:
    """The least key after every key that starts with `prefix`; None if there is none.

    Keys compare as UTF-8 bytes, which is code point order, so `prefix + "\\uffff"` is no
    bound: keys beyond the Basic Multilingual Plane, and "\\uffff" itself, sort after it.
    """
    stem = prefix.rstrip(chr(sys.maxunicode))
    if not stem:
        return None
    successor = ord(stem[-1]) + 1
    if 0xD800 <= successor <= 0xDFFF:
        successor = 0xE000  # surrogates are not characters; UTF-8 cannot hold them
    return stem[:-1] + chr(successor)
