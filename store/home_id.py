"""A home's own id, kept in it (`state/home-id`): with its path, what tells a home's names on a Prefect
server from another's. The path alone gave two homes at one path on two machines (containers each
mounting `/data`) one deployment, so each serve ran the other's scheduled runs and ended its live ones."""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

ID_FILE = "home-id"
# What a run leaves in a home: a home holding any of them without an id was made before ids.
RUN_LEFT = ("state/files.parquet", "raw", "lake", "warehouse.duckdb")


def home_id(home: Path) -> str | None:
    """The home's id; a new home (nothing a run leaves in it yet) gets one now. A home made before ids
    has none, and keeps the names its path alone gives (its deployment's, which a new name would
    leave scheduling with nobody serving it)."""
    path = home / "state" / ID_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="utf-8", errors="replace").strip() or None
    if any(os.path.lexists(home / part) for part in RUN_LEFT):
        return None
    try:
        return _created(path)
    except OSError:   # an unwritable home: the command that writes it says so, with its own message
        return None


def _created(path: Path) -> str:
    """The id written whole and durable before it is linked in place: a serve and a run starting
    together on a new home agree on the first one linked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{ID_FILE}.{secrets.token_hex(8)}.tmp")
    try:
        with tmp.open("x", encoding="ascii") as out:
            out.write(secrets.token_hex(16) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)   # the link too: a deployment's name may hold the id by the next crash
    finally:
        os.close(folder)
    return path.read_text(encoding="utf-8", errors="replace").strip()
