"""One dump file read within its limits: its bytes (gunzipped for .gz) and dump_id, or why it was
refused unread and the id it gets then; and its sidecar. File I/O only (no prefect, no duckdb).
"""
from __future__ import annotations

import errno
import gzip
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from core import identity
from store import raw_store, storage

CHUNK_BYTES = 1 << 20
SIDECAR_MAX_BYTES = 1 << 20


class Unreadable(Exception):
    """A file that couldn't be read this time (removed, moved away, no permission, an I/O error):
    it is neither loaded nor quarantined nor indexed, so a later run tries it again."""


@dataclass
class DumpBytes:
    """A dump file as read: its identity, and its bytes, or why they were refused unread."""
    dump_id: str
    byte_size: int
    raw: bytes | None = None
    refused: str | None = None
    stored_suffix: str = ".txt"            # name suffix of its raw/ copy
    unsalted_id: str | None = None         # a .gz refused unread: the id it had before the salt


def read_dump(path: storage.Location, max_bytes: int, listed: tuple[int, int] | None = None) -> DumpBytes:
    """The dump's raw bytes (gunzipped for .gz), streamed: never more than max_bytes + a chunk in memory.
    listed: its (size, mtime_ns) in the run's listing, which an object read from a store must still have."""
    gz = path.name.endswith(".gz")
    try:
        raw = _read_limited(path, max_bytes, gz, listed)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:   # the bytes are damaged: that won't pass
        if str(exc).startswith("Not a gzipped file"):
            return _refused(path, f"named .gz, but not gzip-compressed ({exc}): if it is a dump as text, rename it "
                                  "to end in .txt (`mv` keeps its time), and the next run loads it", listed)
        return _refused(path, f"can't decompress the file: {exc} (cut short or damaged: put the whole file in the "
                              "inbox, and the next run loads it)", listed)
    except OSError as exc:
        raise Unreadable(f"{identity.printable(str(path))}: {exc.strerror or exc}") from None
    if raw is None:
        what = f"decompresses to more than {max_bytes} bytes (reading stopped there: a gzip bomb?)" if gz \
            else f"is larger than the size limit of {max_bytes} bytes"
        return _refused(path, f"the dump {what}. To load it, raise PROFILE_ETL_MAX_DUMP_BYTES and reprocess it", listed)
    return DumpBytes(identity.dump_id(raw), len(raw), raw)


def _read_limited(path: storage.Location, max_bytes: int, gz: bool, listed: tuple[int, int] | None) -> bytes | None:
    """The bytes, or None as soon as there are more than max_bytes of them."""
    if not gz and storage.size(path) > max_bytes:
        return None
    chunks, total = [], 0
    with storage.open_read(path) as stored, (gzip.open(stored, "rb") if gz else stored) as handle:
        storage.check_as_listed(stored, listed)
        while chunk := handle.read(CHUNK_BYTES):
            total += len(chunk)
            if total > max_bytes:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def _refused(path: storage.Location, reason: str, listed: tuple[int, int] | None = None) -> DumpBytes:
    """A dump refused before decoding. Its dump_id is the SHA-256 of the bytes as stored, streamed in
    constant memory: for a .gz that is the compressed file, salted (identity.REFUSED_GZ_SALT; an
    exception to SPEC §3, which hashes the decompressed bytes, because those are refused unread),
    and its raw/ copy is that file as it is."""
    try:
        (plain, salted), size = _hashes(path, listed)
    except OSError as exc:
        raise Unreadable(f"{identity.printable(str(path))}: {exc.strerror or exc}") from None
    stored = ".txt.gz" if path.name.endswith(".gz") else ".txt"
    did = identity.refused_id(identity.dump_stem(Path(path.name)), plain, salted)
    return DumpBytes(did, size, refused=reason, stored_suffix=stored, unsalted_id=plain if did != plain else None)


def as_before_the_salt(read: DumpBytes, known: set[str], raw_dir: Path | None) -> DumpBytes:
    """A .gz refused before refused ids were salted keeps the id it was given then, which its dumps
    row or its raw/ copy holds: salted, it would be quarantined a second time under a new id."""
    if read.unsalted_id is None or not (read.unsalted_id in known or (
            raw_dir is not None and raw_store.raw_copy_path(raw_dir, read.unsalted_id) is not None)):
        return read
    return replace(read, dump_id=read.unsalted_id, unsalted_id=None)


def stored_ids(path: storage.Location) -> set[str]:
    """The ids a file refused unread has had: the SHA-256 of its bytes as stored, and for a .gz
    that hash salted (the plain one named a .gz refused before the salt)."""
    return {did for did in _hashes(path)[0] if did is not None}


def _hashes(path: storage.Location, listed: tuple[int, int] | None = None) -> tuple[tuple[str, str | None], int]:
    with storage.open_read(path) as handle:
        storage.check_as_listed(handle, listed)
        hashes = identity.stored_hashes(iter(lambda: handle.read(CHUNK_BYTES), b""), path.name.endswith(".gz"))
        return hashes, handle.tell()


def read_sidecar(path: storage.Location) -> identity.Sidecar:
    side = identity.sidecar_path(path)
    try:
        present = storage.lexists(side)   # a dangling link is a sidecar that can't be read, not an absent one
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:   # a dump whose name leaves no room for `.meta.json` has none
            return identity.Sidecar()
        raise identity.SidecarError(f"sidecar {side.name} can't be looked for: {exc.strerror or exc}; "
                                    f"{identity.SIDECAR_FIX}") from None
    if not present:
        return identity.Sidecar()
    try:
        with storage.open_read(side) as handle:
            raw = handle.read(SIDECAR_MAX_BYTES + 1)
    except OSError as exc:
        raise identity.SidecarError(f"sidecar {side.name} can't be read: {_dangling(side) or exc}; "
                                    f"{identity.SIDECAR_FIX}") from None
    if len(raw) > SIDECAR_MAX_BYTES:
        raise identity.SidecarError(f"sidecar {side.name} is larger than {SIDECAR_MAX_BYTES} bytes; {identity.SIDECAR_FIX}")
    return identity.parse_sidecar(raw, side.name)


def _dangling(side: storage.Location) -> str | None:
    """What a sidecar that is a link to nothing is, for its dump's reason."""
    if storage.is_url(side) or not side.is_symlink() or side.exists():
        return None
    return f"it is a link to {identity.printable(os.readlink(side))}, which doesn't exist"
