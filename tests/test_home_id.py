"""A home's id (store/home_id.py) and the names it gives the home on a Prefect server."""
from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

from flows.artifact import artifact_key
from flows.prefect_env import home_digest, run_tags
from flows.schedule import deployment_name
from store.home_id import ID_FILE, home_id


def names(home) -> tuple[str, str, list[str]]:
    return deployment_name(home), artifact_key(home), run_tags(home)


def test_two_homes_at_one_path_get_names_of_their_own_and_keep_them(tmp_path):
    """Containers on two machines each mounting their home at `/data`: one deployment for both made each
    serve run the other's scheduled runs (and end its live ones as left behind by a killed serve)."""
    home = tmp_path / "data"
    (home / "inbox").mkdir(parents=True)   # as the README makes a home to serve
    first = names(home)
    assert (home / "state" / ID_FILE).is_file()
    home.rename(tmp_path / "machine-a")
    (home / "inbox").mkdir(parents=True)   # the other machine's home, at the same path
    second = names(home)
    assert all(a != b for a, b in zip(first, second)), (first, second)
    home.rename(tmp_path / "machine-b")
    (tmp_path / "machine-a").rename(home)
    assert names(home) == first   # the first home, back at its path: its deployment and artifacts


def test_a_copy_of_a_home_elsewhere_is_named_apart_from_it(tmp_path):
    import shutil
    home = tmp_path / "data"
    home.mkdir()
    first = names(home)
    shutil.copytree(home, tmp_path / "copy")
    assert home_id(tmp_path / "copy") == home_id(home)   # its id came along
    assert deployment_name(tmp_path / "copy").rsplit("-", 1)[1] != first[0].rsplit("-", 1)[1]


def test_a_home_made_before_ids_keeps_the_names_of_its_path(tmp_path):
    """Its serve's deployment and its artifacts are named from its path alone: a new name would make a
    second deployment, the first one still scheduling runs that nobody serves."""
    home = tmp_path / "data"
    (home / "state").mkdir(parents=True)
    (home / "state" / "files.parquet").write_bytes(b"")   # what an earlier version's run left
    assert home_id(home) is None and not (home / "state" / ID_FILE).exists()
    assert home_digest(home) == hashlib.sha256(str(home).encode()).hexdigest()[:8]


def test_commands_starting_together_on_a_new_home_agree_on_its_id(tmp_path):
    home = tmp_path / "data"
    home.mkdir()
    start = threading.Barrier(8)

    def first_look(_):
        start.wait()
        return home_id(home)
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(first_look, range(8)))
    assert len(ids) == 1 and None not in ids
    assert [p.name for p in (home / "state").iterdir()] == [ID_FILE]   # no temporary file left
