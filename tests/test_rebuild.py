"""`rebuild --from-raw` (flows/rebuild.py): the lake made again from raw/ the way runs load it."""
from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from flows import integrity, rebuild
from flows.cli import main
from flows.pipeline import ingest
from store import dump_file, extract
from store.faults import FAIL_ENV, InjectedFault
from store.settings import Settings
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from tests.warehouse_state import lake_leftovers, lake_tables
from warehouse import lake, recovery


def same(tables: dict, expected: dict) -> bool:
    return tables.keys() == expected.keys() and all(tables[name].equals(expected[name]) for name in tables)


@pytest.fixture
def two_runs(prefect_harness, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    return home


@pytest.mark.parametrize("point", ["lake:committed:listings", "lake:committed:papers", "lake:committed:authors"])
def test_a_rebuild_in_place_that_dies_is_undone_and_a_second_one_matches(two_runs, point, monkeypatch):
    """A rebuild rewrites the tables in place (mutable ones emptied, then merged into): one that dies
    before its runs commit is undone by recovery, as a dead run is, and the next gives the tables
    the runs gave."""
    home = two_runs
    before = lake_tables(home)
    settings = Settings.load(home=home, batch_size=1)
    dumps, runs, _ = rebuild.remembered_tables(settings)
    copies, _ = extract.raw_copies(settings.raw, dict(zip(dumps["dump_id"], dumps["run_id"])))
    monkeypatch.setenv(FAIL_ENV, point)
    with pytest.raises(InjectedFault):
        rebuild.load_copies(settings, settings.lake, copies, runs)
    monkeypatch.delenv(FAIL_ENV)
    assert lake_leftovers(home)   # commits past the runs commit, and scratch
    assert recovery.target_versions(settings.lake) != lake.versions(settings.lake)
    recovery.recover(settings.lake)
    assert same(lake_tables(home), before)
    rebuild.load_copies(settings, settings.lake, copies, runs)
    assert lake_leftovers(home) == [] and same(lake_tables(home), before)


def test_a_rebuild_from_raw_writes_new_versions_that_readers_of_the_old_ones_can_still_read(two_runs):
    """SPEC §8: a reader that started before the rebuild still finds its files; the tables keep their
    ids, so a change-feed reader or time travel goes on from the versions it knew."""
    home = two_runs
    before = lake_tables(home)
    opened = {name: DeltaTable(str(home / "lake" / name)) for name in before}
    ids, versions = ({name: t.metadata().id for name, t in opened.items()},
                     {name: t.version() for name, t in opened.items()})
    (home / "lake.rebuild").mkdir()   # a killed rebuild's side lake, made from raw/: removed
    (home / "lake.rebuild" / "leftover").write_text("x")
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    after = {name: DeltaTable(str(home / "lake" / name)) for name in before}
    assert {name: t.metadata().id for name, t in after.items()} == ids
    assert all(after[name].version() > versions[name] for name in before)
    assert all(pl.from_arrow(opened[name].to_pyarrow_table()).height == before[name].height for name in before)
    assert same(lake_tables(home), before) and not list(home.glob("lake.*"))


def test_a_rebuild_in_place_flushes_the_lake_before_its_runs_commit(two_runs, monkeypatch):
    """After a power loss the runs commit, the rebuild's commit point, must not name files the disk never kept."""
    from store import storage
    events, flush, overwrite = [], storage.flush_to_disk, lake.overwrite
    monkeypatch.setattr(storage, "flush_to_disk", lambda *folders: events.append(("flush", folders)) or flush(*folders))
    monkeypatch.setattr(lake, "overwrite", lambda lake_dir, name, *rest: events.append(("commit", name))
                        or overwrite(lake_dir, name, *rest))
    assert main(["--home", str(two_runs), "rebuild", "--from-raw"]) == 0
    assert events[events.index(("commit", "runs")) - 1] == ("flush", (two_runs / "lake",))


def test_a_lake_with_a_table_gone_is_replaced_whole_by_a_rebuild_from_raw(two_runs):
    home = two_runs
    before = lake_tables(home)
    shutil.rmtree(home / "lake" / "rejects")
    assert not integrity.rewritable_in_place(Settings.load(home=home))
    (home / "lake.rebuild").mkdir()   # a dead rebuild's, which the next one replaces
    old_id = DeltaTable(str(home / "lake" / "papers")).metadata().id
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert DeltaTable(str(home / "lake" / "papers")).metadata().id != old_id   # a new lake
    assert same(lake_tables(home), before)
    [kept] = home.glob("lake.*")   # the lake it replaced, kept as it was
    assert kept.name.startswith("lake.replaced-") and DeltaTable(str(kept / "papers")).metadata().id == old_id


def test_a_rebuild_from_raw_refuses_to_replace_a_folder_that_holds_what_no_lake_holds(two_runs, capsys):
    """A --lake naming the wrong folder (the home here), the operator's file in a damaged lake, or a
    `lake.old` of theirs: each is refused before anything is written, and nothing is moved or lost."""
    home = two_runs
    shutil.rmtree(home / "lake" / "rejects")   # damaged: the lake is replaced whole
    (home / "lake" / "README.txt").write_text("mine")
    (home / "lake.old").mkdir()
    (home / "lake.old" / "backup.txt").write_text("mine too")
    listing = sorted(p.relative_to(home) for p in home.rglob("*") if p.parent.name != "state")
    for lake_args, says in (([], "(README.txt)"), (["--lake", str(home)], "(the home, raw/, the inbox)"),
                            (["--lake", str(home / "lake.old")], "(backup.txt)")):
        capsys.readouterr()
        assert main(["--home", str(home), "rebuild", "--from-raw", *lake_args]) == 2
        assert f"holds what is no lake's {says}" in capsys.readouterr().err
    (home / "lake" / "README.txt").unlink()
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 2
    assert "lake.old exists" in capsys.readouterr().err
    assert main(["--home", str(home), "doctor", "--repair"]) == 1   # its other repairs are reported
    out = capsys.readouterr().out
    assert "NOT REPAIRED: the lake: " in out and "lake.old exists" in out and "note     lake.old beside the lake" in out
    assert sorted(p.relative_to(home) for p in home.rglob("*") if p.parent.name != "state") == [
        p for p in listing if p.name != "README.txt"]


def test_a_lake_whose_table_lost_its_partitions_or_its_last_commit_is_replaced_whole(two_runs):
    """Rewritten in place, an unpartitioned papers table would refuse the rebuild's rows, and a log
    that lost its newest commits would give new rows version numbers the warehouse loaded others under."""
    home = two_runs
    settings = Settings.load(home=home)
    assert integrity.rewritable_in_place(settings)
    log = home / "lake" / "listings" / "_delta_log"
    newest = max(log.glob("*.json"))
    kept = newest.read_bytes()
    newest.unlink()
    assert not integrity.rewritable_in_place(settings)   # the warehouse loaded that version
    newest.write_bytes(kept)
    papers = lake.read_table(home / "lake", "papers")
    shutil.rmtree(home / "lake" / "papers")
    write_deltalake(str(home / "lake" / "papers"), papers)   # another engine made it anew, unpartitioned
    assert not integrity.rewritable_in_place(settings)


def test_a_copy_that_cant_be_read_again_stops_the_rebuild_before_anything_changes(two_runs, monkeypatch, capsys):
    home = two_runs
    versions = lake.versions(home / "lake")
    read = dump_file._read_limited

    def denied(path, *args):
        if "raw" in path.parts:
            raise PermissionError(13, "Permission denied")
        return read(path, *args)
    monkeypatch.setattr(dump_file, "_read_limited", denied)
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 2
    assert "2 raw/ copies couldn't be read again" in capsys.readouterr().err
    assert lake.versions(home / "lake") == versions and not (home / "lake.rebuild").exists()


def test_a_rebuild_from_raw_shows_its_progress_as_a_run_does(two_runs, capsys):
    assert main(["--home", str(two_runs), "rebuild", "--from-raw"]) == 0
    assert "read 2 of 2 dump files" in capsys.readouterr().err   # piped: lines, not a bar


@pytest.mark.parametrize("ahead", [dt.timedelta(hours=2), dt.timedelta(days=3)])
def test_a_rebuild_from_raw_judges_a_capture_time_from_the_files_time_as_the_run_did(prefect_harness, tmp_path,
                                                                                   sample_text, ahead):
    """Not as a sidecar's, which may be a day ahead: the quarantined dump stays so, word for word."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, dt.datetime.now(dt.timezone.utc) + ahead)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    before = lake.read_table(home / "lake", "dumps").select("status", "captured_at", "reason")
    assert before["status"].to_list() == ["quarantined"] and before["reason"][0].startswith("the file's modification time")
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    after = lake.read_table(home / "lake", "dumps").select("status", "captured_at", "reason")
    assert after.equals(before)
