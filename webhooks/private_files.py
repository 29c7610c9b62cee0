"""Files of the instance that hold secrets are readable by their owner only (0600): the
session key, and a SQLite database with its ``-wal`` and ``-shm`` files, which hold the signing
secrets and the password and token hashes.

SQLite gives the ``-wal`` and ``-shm`` files it creates the permissions of their database
file, so making the database file 0600 before the first connection covers all three; files
left readable by an older version are narrowed on start.
"""

import os
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def sqlite_database_file(uri: str) -> Path | None:
    """The file of a SQLite database URI; None for another database or one in memory."""
    url = make_url(uri)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:") or url.query.get("uri"):
        return None  # SQLite URI filenames (shared memory, read-only opens) are left as they are
    return Path(database)


def keep_database_private(path: Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist, and narrow it and its companion
    files to 0600 if they do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.chmod(PRIVATE)


def write_private(path: Path, content: str) -> None:
    """Write a new file that is 0600 from the moment it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    with os.fdopen(descriptor, "w") as file:
        file.write(content)
