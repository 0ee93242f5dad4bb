"""Test data: fast password hashing, the accounts, and databases other Doorsteps left behind."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Cheap enough for a test run, still Argon2id; production uses RFC 9106's parameters.
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
# The same for a Doorstep process (`doorstep serve`, the window): its environment's settings.
CHEAP_HASHING = {f"DOORSTEP_{name}": str(value) for name, value in FAST_ARGON2.items()}
PASSWORD = "correct horse"
# The accounts in the database Doorstep 0.1.0 made (fixtures/doorstep-0.1.0.sql).
V0_1_0_ACCOUNTS = [
    ("Mei", "mei@example.com", "correct horse"),
    ("陈美玲", "meiling@example.com", "长城 battery staple"),
    ("Zoë", "zoe@example.com", "zoë's password 1"),
]


def load_0_1_0_database(data_dir: Path) -> Path:
    """Put the database Doorstep 0.1.0 made into `data_dir` (as 0.1.0 left it: WAL mode)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "doorstep.db"
    connection = sqlite3.connect(path)
    try:
        connection.executescript((FIXTURES / "doorstep-0.1.0.sql").read_text(encoding="utf-8"))
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path


def load_newer_database(data_dir: Path, revision: str = "9999") -> Path:
    """Put a database that a newer Doorstep (at `revision`) wrote into `data_dir`."""
    path = load_0_1_0_database(data_dir)
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            connection.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    finally:
        connection.close()
    return path


def sha256(path: Path) -> str:
    """The file's digest, to prove it was not touched."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_rows(path: Path, query: str = "SELECT * FROM users ORDER BY id") -> list[tuple]:
    """Rows of a SQLite file, read without changing it."""
    connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()
