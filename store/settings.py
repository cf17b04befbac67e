"""All settings in one object: flags, then PROFILE_ETL_* environment variables, then defaults."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from core import identity
from store import storage
from store.errors import UserError

ENV_PREFIX = "PROFILE_ETL_"


@dataclass(frozen=True)
class Settings:
    home: Path = Path("data")
    inbox: Path | storage.Url | None = None    # a folder, or an fsspec URL such as s3://bucket/inbox
    lake: Path | storage.Url | None = None     # default: HOME/lake; may be a URL too
    batch_size: int = 500
    settle_seconds: float = 5.0
    max_dump_bytes: int = 64 * 1024 * 1024
    lock_wait_seconds: float = 0.0
    dask_address: str | None = None
    dask_no_workers_seconds: float = 120.0   # a run on a cluster without a running worker fails after this long
    maintain_files: int = 500   # a run compacts the lake when a table holds more surplus files (0: never)
    profile_key_pattern: str = identity.DEFAULT_KEY_PATTERN   # file-name stem -> profile key (identity.key_pattern)

    @classmethod
    def load(cls, **flags) -> "Settings":
        """Defaults, overridden by PROFILE_ETL_<NAME> variables, overridden by non-None flags."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper())
            if raw:   # set but empty counts as unset, as in most tools
                values[f.name] = _convert(f.name, raw)
        flagged = {k: v for k, v in flags.items() if v is not None}
        settings = cls(**(values | flagged))
        for name, (least, what) in LIMITS.items():
            value = getattr(settings, name)
            if not (value >= least and (math.isfinite(value) or name in UNBOUNDED)):
                source = "its flag" if name in flagged else f"{ENV_PREFIX}{name.upper()}"
                raise UserError(f"{name} is {value!r} (from {source}): it must be {what}")
        try:
            identity.key_pattern(settings.profile_key_pattern)
        except ValueError as exc:
            raise UserError(f"{ENV_PREFIX}PROFILE_KEY_PATTERN: {exc}") from None
        if storage.is_url(settings.home):
            raise UserError(f"home {settings.home} must be a local folder (it holds the warehouse, raw/ and "
                            "the run lock); put only the inbox and the lake on object storage (--inbox, --lake)")
        home = Path(os.path.expanduser(settings.home))   # `~` from an environment file, as a shell would
        if home.exists() and not home.is_dir():
            raise UserError(f"home {home} is a file, not a folder: pass --home DIR (or set {ENV_PREFIX}HOME)")
        lake = _absolute(storage.location(settings.lake or home / "lake"))
        if not storage.is_url(lake) and (escape := PERCENT_ESCAPE.search(str(lake))):
            raise UserError(f"the lake's folder {lake} holds {escape[0]}, which deltalake reads as an escaped "
                            f"character ({escape[0]} as {bytes.fromhex(escape[0][1:]).decode('latin-1')!r}), so its "
                            f"tables would go elsewhere: pass --lake (or set {ENV_PREFIX}LAKE) a folder without one")
        # absolute: the file index keys files by path, and a deployment's runs start in other folders
        loaded = replace(settings, home=_absolute(home),
                         inbox=_absolute(storage.location(settings.inbox or home / "inbox")), lake=lake)
        loaded.refuse_undecodable_names()
        loaded.refuse_files_for_folders()
        return loaded

    def refuse_undecodable_names(self) -> None:
        """A folder whose name isn't UTF-8 can't be a flow run's parameter (JSON) nor a Delta table's path."""
        for what, loc in {"home": self.home, "inbox": self.inbox, "lake": self.lake}.items():
            if (shown := identity.printable(str(loc))) != str(loc):
                raise UserError(f"the {what} {shown} has a name that isn't UTF-8 (the \\x bytes): rename the "
                                f"folder, or pass a link to it whose name is UTF-8")

    def refuse_files_for_folders(self) -> None:
        """A file where the home keeps a folder would fail runs with the OS's bare error, and doctor
        would take each copy for lost."""
        folders = {"raw/ (the dumps' copies)": self.raw, "state/ (the file index)": self.state,
                   "the lake": None if storage.is_url(self.lake) else Path(self.lake)}
        for what, path in folders.items():
            if path is not None and path.exists() and not path.is_dir():
                raise UserError(f"{path} is a file where the home keeps {what}: nothing was changed. Move the "
                                "file away (if it is one of yours, or a folder's backup, look into it first), "
                                "then run the command again")

    def refuse_gone_home(self, runner: str) -> None:
        """A deployment's or a watch's run refuses a home that is gone (moved, renamed, deleted): it would
        start an empty home at the old path, and the inbox's new dumps would go there, not to the moved home."""
        if self.home.is_dir():
            return
        where = {"deployment": "serve the home where it is now (`profile-etl --home NEW serve …`: a deployment of "
                               "its own), then stop this deployment's serve or worker (`prefect deployment delete` "
                               "removes it)",
                 "watch": "stop this watch (Ctrl-C) and watch the home where it is now (`profile-etl --home NEW watch …`)"}
        raise UserError(f"the home {identity.shown(str(self.home))} doesn't exist (moved, renamed or deleted?): nothing "
                        f"was done, as a {runner}'s run doesn't start a home anew where one was. To follow a moved home, "
                        f"{where[runner]}; to start a new home at this path, create its folder first")

    @property
    def home_folders(self) -> tuple[Path, ...]:
        """What an inbox holding the home must not read as dumps: the home, its own parts (when the
        inbox is the home) and a local lake."""
        return (self.home, self.raw, self.state) + (() if storage.is_url(self.lake) else (Path(self.lake),))

    @property
    def raw(self) -> Path:
        return self.home / "raw"

    @property
    def state(self) -> Path:
        return self.home / "state"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"


LIMITS = {"batch_size": (1, "a whole number, 1 or more"), "maintain_files": (0, "a whole number, 0 or more"), "max_dump_bytes": (1, "a whole number, 1 or more"),
          "settle_seconds": (0, "a number of seconds, 0 or more"),
          "lock_wait_seconds": (0, "a number of seconds, 0 or more"),
          "dask_no_workers_seconds": (0, "a number of seconds, 0 or more")}


PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
UNBOUNDED = {"lock_wait_seconds"}   # `--wait inf`: wait for the other run however long it takes


def _absolute(loc):
    """A local path made absolute as given (`~` expanded, links not followed); a URL as it is."""
    return loc if loc is None or storage.is_url(loc) else Path(os.path.abspath(os.path.expanduser(loc)))


def _convert(name: str, raw: str):
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        what = "a whole number" if kind == "int" else "a number"
        raise UserError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not {what}; unset it or give {what}") from None
    return storage.location(raw) if "Path" in kind else raw
