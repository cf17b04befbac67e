"""Where the inbox and the lake live: a local folder (a `Path`) or an fsspec URL such as
`s3://bucket/lake` (a `Url`). Everything that touches fsspec is here, so the other modules only
ask "local or URL?" in their few I/O primitives.

fsspec is imported only when a URL is used. Credentials and endpoints are the filesystem's own
configuration (for S3, botocore's: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...); nothing is added here.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path
from stat import S_ISREG
from typing import IO, Union

SCHEME = r"^[A-Za-z][A-Za-z0-9+.-]*://"   # a URL's scheme: s3://, s3a://, gs://
_SCHEME = re.compile(SCHEME)
# Reads of remote files go in blocks of this size: a size limit is then never overshot by more than
# a block (s3fs reads ahead 50 MB by default).
READ_BLOCK_BYTES = 1 << 20
# What to install for a protocol, for the error message when its fsspec implementation is missing.
EXTRAS = {"s3": "s3fs: pip install 'profile-etl[s3]'", "s3a": "s3fs: pip install 'profile-etl[s3]'"}


class Url(str):
    """A URL that joins and names like a Path (`lake / "papers/x.parquet"`, `.name`, `.with_name`),
    so code that builds file names under a folder works for both. It is never made a Path:
    pathlib collapses the `//` of `s3://`."""

    def __truediv__(self, part: str) -> "Url":
        return Url(f"{self.rstrip('/')}/{part}")

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]

    def with_name(self, name: str) -> "Url":
        return Url(f"{self.rstrip('/').rsplit('/', 1)[0]}/{name}")

    def __repr__(self) -> str:
        return f"Url({str.__repr__(self)})"


Location = Union[Path, Url]


def is_url(value: object) -> bool:
    return isinstance(value, str) and bool(_SCHEME.match(value))


def location(value: str | Path | None) -> Location | None:
    """A setting as a location: a URL stays a (Url) string, anything else is a local Path."""
    if value is None or isinstance(value, (Path, Url)):
        return value
    return Url(value.rstrip("/")) if is_url(value) else Path(value)


def filesystem(url: str):
    """The fsspec filesystem that serves url (fsspec keeps one instance per protocol and options)."""
    import fsspec
    protocol = url.split("://", 1)[0].lower()
    try:
        # No listings cache: files arrive from other writers between (and during) runs, and a
        # long-lived process (watch, serve) must see them.
        return fsspec.filesystem(protocol, use_listings_cache=False)
    except (ImportError, ValueError) as exc:
        from store.errors import UserError
        need = EXTRAS.get(protocol, f"an fsspec implementation of {protocol}")
        raise UserError(f"{url}: {protocol}:// locations need {need} ({exc})") from None


def open_read(loc: Location) -> IO[bytes]:
    """A binary handle; remote reads go block by block, never far past what was asked for. A local
    path must be a regular file: a FIFO, socket or device (or a link to one) is refused without
    waiting on it (opened non-blocking, checked, then read as usual)."""
    if is_url(loc):
        return filesystem(loc).open(loc, "rb", block_size=READ_BLOCK_BYTES, cache_type="readahead")
    fd = os.open(loc, os.O_RDONLY | os.O_NONBLOCK)
    if not S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{loc} is not a regular file (a FIFO, socket or device): not read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def exists(loc: Location) -> bool:
    return filesystem(loc).exists(loc) if is_url(loc) else loc.exists()


def lexists(loc: Location) -> bool:
    """exists, where a local link counts though what it names doesn't (a dangling link is there)."""
    return exists(loc) or (not is_url(loc) and loc.is_symlink())


def is_file(loc: Location) -> bool:
    return filesystem(loc).isfile(loc) if is_url(loc) else loc.is_file()


def is_dir(loc: Location) -> bool:
    """For a URL: its bucket exists. Object stores have no empty folders, so an inbox prefix
    with nothing under it yet is a valid (empty) inbox."""
    if not is_url(loc):
        return loc.is_dir()
    scheme, rest = loc.split("://", 1)
    try:  # not exists(): it says False for an unreachable endpoint too, hiding the cause
        filesystem(loc).info(f"{scheme}://{rest.split('/', 1)[0]}")
    except FileNotFoundError:
        return False
    return True


def reachable(loc: Location) -> bool:
    """Is loc a folder (or a bucket's prefix)? An endpoint that can't be reached is a UserError."""
    from store.errors import UserError
    try:
        return is_dir(loc)
    except UserError:
        raise
    except Exception as exc:  # e.g. no credentials, or no endpoint listening
        raise UserError(f"can't reach {loc}: {type(exc).__name__}: {exc}; check the AWS_* variables "
                        "(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)") from None


def stat(loc: Location) -> tuple[int, int]:
    """(size in bytes, modification time in ns)."""
    if not is_url(loc):
        st = loc.stat()
        return st.st_size, file_mtime_ns(st)
    info = filesystem(loc).info(loc)
    return info["size"], mtime_ns(info)


def check_as_listed(handle: IO[bytes], listed: tuple[int, int] | None) -> None:
    """An object opened for reading must be the one listed (size, mtime_ns): a store replaces objects
    whole, and its reads of a handle fetch the version opened (s3fs: If-Match on the ETag)."""
    details = getattr(handle, "details", None)
    if listed is not None and details is not None and (details["size"], mtime_ns(details)) != tuple(listed):
        raise OSError("replaced since the run listed it (the next run reads it again)")


def size(loc: Location) -> int:
    return filesystem(loc).size(loc) if is_url(loc) else loc.stat().st_size


# The times a 64-bit count of nanoseconds holds (1677 to 2262): a file stamped outside them (`touch -d
# 2300-01-01`; ext4 keeps times to 2446) is taken at the nearest, a time no capture can have, so its
# dump is quarantined for it instead of failing every run (the file index keeps mtime_ns as Int64).
NS_RANGE = (-(2**63), 2**63 - 1)


def file_mtime_ns(st: os.stat_result) -> int:
    """A local file's modification time in ns, within NS_RANGE."""
    return min(max(st.st_mtime_ns, NS_RANGE[0]), NS_RANGE[1])


def mtime_ns(info: dict) -> int:
    """The modification time of an fsspec info dict, whole seconds (S3 keeps LastModified to the
    second, and a listing and a HEAD must give the same value for the file index to match)."""
    value = next((info[k] for k in ("LastModified", "mtime", "last_modified", "updated", "created")
                  if info.get(k) is not None), None)
    if value is None:
        raise OSError(f"{info.get('name')}: the storage gives no modification time")
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    seconds = int(value.timestamp()) if isinstance(value, dt.datetime) else int(value)
    return seconds * 1_000_000_000


def list_files(url: Url) -> list[tuple[Url, int, int]]:
    """Every file under url, recursively, as (url, size, mtime_ns), in key order."""
    fs = filesystem(url)
    found = fs.find(url, detail=True, withdirs=False)
    return sorted((Url(fs.unstrip_protocol(name)), info["size"], mtime_ns(info)) for name, info in found.items())


def read_bytes(loc: Location) -> bytes:
    return filesystem(loc).cat_file(loc) if is_url(loc) else loc.read_bytes()


def write_bytes(url: Url, data: bytes) -> None:
    """One PUT on an object store: the object appears whole or not at all."""
    filesystem(url).pipe_file(url, data)


def makedirs(loc: Location) -> None:
    """Object stores have no folders to make: a key's prefixes exist once the key does."""
    if not is_url(loc):
        loc.mkdir(parents=True, exist_ok=True)


def remove_file(loc: Location) -> None:
    """A file, if it exists."""
    if is_url(loc):
        filesystem(loc).rm_file(loc)
    else:
        loc.unlink(missing_ok=True)


def remove_tree(loc: Location) -> None:
    """A folder and all it holds, if it exists."""
    if is_url(loc):
        fs = filesystem(loc)
        if fs.exists(loc):
            fs.rm(loc, recursive=True)
    else:
        shutil.rmtree(loc, ignore_errors=True)


def flush_to_disk(*folders: Location) -> None:
    """Everything written so far under the local folders reaches the disk, one `syncfs` per file
    system (`os.sync` where there is none): what a commit names must outlive a power loss.
    Object stores are durable once a write returns."""
    devices = set()
    for folder in folders:
        if is_url(folder) or not folder.exists() or (device := folder.stat().st_dev) in devices:
            continue
        devices.add(device)
        _syncfs(folder)


def _syncfs(folder: Path) -> None:
    import ctypes   # here: only a committing run needs it
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "syncfs"):
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if libc.syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"could not write the run's files to disk: {os.strerror(errno)}", str(folder))
    finally:
        os.close(fd)


def object_store_options(loc: Location) -> dict[str, str] | None:
    """delta-rs's options for a lake on object storage, from the standard AWS variables: credentials
    it reads itself; the endpoint as botocore (s3fs) picks it, plain http allowed only when the
    endpoint is an http:// one (a local S3 server), and the region. A lake has one writer at a
    time (the home's run lock), so S3 commits need no locking provider (docs/lake.md)."""
    if not is_url(loc):
        return None
    options = {"AWS_S3_ALLOW_UNSAFE_RENAME": os.environ.get("AWS_S3_ALLOW_UNSAFE_RENAME", "true")}
    return options | _endpoint_options(os.environ)


def _endpoint_options(env) -> dict[str, str]:
    options = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")   # botocore's precedence
    if endpoint:   # with one, delta-rs skips the credential chain (a profile of ~/.aws) unless forced
        options["AWS_ENDPOINT_URL"] = endpoint
        options["AWS_FORCE_CREDENTIAL_LOAD"] = env.get("AWS_FORCE_CREDENTIAL_LOAD", "true")
    if "AWS_ALLOW_HTTP" in env or (endpoint or "").lower().startswith("http://"):
        options["AWS_ALLOW_HTTP"] = env.get("AWS_ALLOW_HTTP", "true")
    if region := env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"):
        options["AWS_REGION"] = region
    return options
