"""The commands a message tells the user to run, written as they are pasted into a shell: the home
named, and the lake when it isn't the home's own folder, each path quoted. No prefect."""
from __future__ import annotations

import shlex
from pathlib import Path

from store import storage


def command(lake: storage.Location, words: str, home: Path | None = None) -> str:
    """`profile-etl --home HOME WORDS [--lake LAKE]`. Without them the command would work on ./data
    (or PROFILE_ETL_HOME) and on HOME/lake: followed as printed, it would repair another home or lake
    while the damaged one refused again with the same advice. Without a home, the lake is named
    only when it is on object storage (a local one is then taken to be the home's own)."""
    own = not storage.is_url(lake) and (home is None or Path(lake) == Path(home) / "lake")
    return (f"`profile-etl{f' --home {shlex.quote(str(home))}' if home is not None else ''} {words}"
            f"{'' if own else f' --lake {shlex.quote(str(lake))}'}`")


def doctor_repair(settings) -> str:
    """`profile-etl ... doctor --repair`, with the inbox it was given: a repair looks for lost raw/ copies
    there, and without --inbox it would look in HOME/inbox."""
    own = not storage.is_url(settings.inbox) and Path(settings.inbox) == Path(settings.home) / "inbox"
    inbox = "" if own else f" --inbox {shlex.quote(str(settings.inbox))}"
    return command(settings.lake, f"doctor --repair{inbox}", settings.home)
