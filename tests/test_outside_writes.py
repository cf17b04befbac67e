"""Another engine's habits on the lake (docs/lake.md): a compaction committed while a run merges makes
the run's commit fail, and the run tries it again; a vacuum past the retention after a run was killed
between its commits leaves that run's commits impossible to undo: every command says so and names the
repair, and `rebuild --from-raw` makes the home whole again, keeping the old lake aside. A commit that
changes rows (delete, update, restore, a write) is refused before anything is written, doctor names it,
and `rebuild --from-raw` repairs it; maintenance by another engine is no such change."""
from __future__ import annotations

import shutil

import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from flows.cli import main
from flows.pipeline import ingest
from schemas.tables import TABLES
from store.errors import UserError
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from tests.warehouse_state import lake_leftovers, lake_tables, same_tables, warehouse_tables
from warehouse import lake, recovery

REPAIR = "rebuild --from-raw"


@pytest.fixture
def vacuumed_after_a_killed_run(two_profile_home, tmp_path):
    """A copy of the two-run home, then a run killed after its commits to papers and dumps (each an
    overwrite, which replaces their files), then another engine's vacuum with no retention."""
    home = tmp_path / "home"
    shutil.copytree(two_profile_home, home, symlinks=True)
    before = warehouse_tables(home)
    lake_dir = home / "lake"
    killed = recovery.recover(lake_dir)
    for name in ("papers", "dumps"):
        lake.overwrite(lake_dir, name, lake.read_table(lake_dir, name).head(1), killed, "killed-run")
    for name in TABLES:
        DeltaTable(str(lake_dir / name)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    return home, before


def test_a_run_refuses_to_undo_a_killed_run_whose_earlier_files_were_vacuumed_and_changes_nothing(
        vacuumed_after_a_killed_run, tmp_path):
    home, _ = vacuumed_after_a_killed_run
    versions = lake.versions(home / "lake")
    (tmp_path / "inbox").mkdir()
    with pytest.raises(UserError) as refused:
        ingest(home=home, inbox=tmp_path / "inbox", settle_seconds=0)
    assert "papers (version" in str(refused.value) and "dumps (version" in str(refused.value)
    assert "can't be undone. Nothing was changed" in str(refused.value) and REPAIR in str(refused.value)
    assert lake.versions(home / "lake") == versions   # no table restored half-way


def test_doctor_and_rebuild_name_the_repair_and_a_rebuild_from_raw_makes_the_home_whole(
        vacuumed_after_a_killed_run, capsys):
    home, before = vacuumed_after_a_killed_run
    assert main(["--home", str(home), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "can't be undone" in out and f"repair: `profile-etl --home {home} {REPAIR}`" in out, out
    assert main(["--home", str(home), "rebuild"]) != 0   # the warehouse alone: it would load vacuumed versions
    assert "can't be undone" in capsys.readouterr().err
    assert main(["--home", str(home), *REPAIR.split()]) == 0
    assert "the lake it replaced is kept at" in capsys.readouterr().err
    assert [p.name for p in home.glob("lake.replaced-*")] and not lake_leftovers(home)
    assert same_tables(warehouse_tables(home), before)


def test_a_compaction_another_engine_commits_while_a_run_merges_fails_that_commit_and_the_run_tries_again(
        run_ingest, tmp_path, sample_text, monkeypatch):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    run_ingest(home, inbox)
    compacted, merge = [], lake._merge

    def compacted_first(table, name, *args):   # between the run's read of the table and its commit
        if name == "papers" and not compacted:
            compacted.append(DeltaTable(str(home / "lake" / "papers")).optimize.z_order(["paper_id"]))
        return merge(table, name, *args)
    monkeypatch.setattr(lake, "_merge", compacted_first)
    write_dump(inbox, f"001_{SAMPLE_NAME[4:]}", later_snapshot(sample_text), LATER)
    assert run_ingest(home, inbox)["dumps_new"] == 1 and compacted
    operations = [c["operation"] for c in DeltaTable(str(home / "lake" / "papers")).history(2)]
    assert operations == ["MERGE", "OPTIMIZE"], operations
    assert same_tables(warehouse_tables(home), lake_tables(home)) and not lake_leftovers(home)


def update_papers(lake_dir) -> str:
    DeltaTable(str(lake_dir / "papers")).update(predicate="true", updates={"title": "'retitled'"})
    return "papers"


def delete_dumps(lake_dir) -> str:
    DeltaTable(str(lake_dir / "dumps")).delete("status = 'loaded'")
    return "dumps"


def restore_authors(lake_dir) -> str:
    DeltaTable(str(lake_dir / "authors")).restore(1)
    return "authors"


def append_to_profiles(lake_dir) -> str:
    table = DeltaTable(str(lake_dir / "profiles"))
    write_deltalake(table, table.to_pyarrow_table(), mode="append")
    return "profiles"


def delete_a_run(lake_dir) -> str:
    first = lake.read_table(lake_dir, "runs").sort("started_at")["run_id"][0]
    DeltaTable(str(lake_dir / "runs")).delete(f"run_id = '{first}'")
    return "runs"


@pytest.fixture
def copied_home(two_profile_home, tmp_path):
    """A copy of the two-run home and of its inbox, with the warehouse as published."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    shutil.copytree(two_profile_home, home, symlinks=True)
    shutil.copytree(two_profile_home.parent / "inbox", inbox)
    return home, inbox, warehouse_tables(home)


@pytest.mark.parametrize("change", [update_papers, delete_dumps, restore_authors, append_to_profiles, delete_a_run])
def test_a_run_refuses_rows_another_engine_changed_naming_the_commit_and_writes_nothing(copied_home, run_ingest, change):
    """An update was loaded into the warehouse as it was; a delete or a restore made the run commit and
    then fail the data tests, a plain `rebuild` failing the same way."""
    home, inbox, before = copied_home
    name = change(home / "lake")
    changed = DeltaTable(str(home / "lake" / name)).history(1)[0]
    versions = lake.versions(home / "lake")
    with pytest.raises(UserError) as refused:
        run_ingest(home, inbox)
    said = str(refused.value)
    assert f"{name} version {changed['version']}: {changed['operation']}" in said, said
    assert "made by another engine" in said and "Nothing was written" in said and REPAIR in said
    assert lake.versions(home / "lake") == versions and same_tables(warehouse_tables(home), before)


def test_doctor_names_another_engines_delete_maintain_and_rebuild_refuse_it_and_a_rebuild_from_raw_repairs(
        copied_home, run_ingest, capsys):
    home, inbox, before = copied_home
    delete_dumps(home / "lake")
    version = DeltaTable(str(home / "lake" / "dumps")).version()
    assert main(["--home", str(home), "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"dumps version {version}: DELETE" in out and f"repair: `profile-etl --home {home} {REPAIR}`" in out, out
    for command in (["rebuild"], ["maintain"]):
        versions = lake.versions(home / "lake")
        assert main(["--home", str(home), *command]) == 2
        assert f"dumps version {version}: DELETE" in capsys.readouterr().err
        assert lake.versions(home / "lake") == versions and same_tables(warehouse_tables(home), before)
    assert main(["--home", str(home), *REPAIR.split()]) == 0
    assert same_tables(warehouse_tables(home), before) and same_tables(lake_tables(home), before)
    assert main(["--home", str(home), "doctor"]) == 0
    assert run_ingest(home, inbox)["dumps_new"] == 0


def test_maintenance_by_another_engine_and_an_untagged_killed_run_of_an_older_version_are_no_outside_change(
        copied_home, run_ingest):
    """Commits a run goes on past: compaction, z-order, settings and vacuum by another engine, and a
    killed run's commit made before profile-etl noted its commits (its app transaction only)."""
    home, inbox, _ = copied_home
    lake_dir = home / "lake"
    killed = recovery.recover(lake_dir)
    table = DeltaTable(str(lake_dir / "dumps"))
    write_deltalake(table, table.to_pyarrow_table().slice(0, 1), mode="append",
                    commit_properties=CommitProperties(app_transactions=[Transaction(lake.APP_ID, killed)]))
    for name in TABLES:
        table = DeltaTable(str(lake_dir / name))
        table.optimize.compact()
        table.alter.set_table_properties({"delta.logRetentionDuration": "interval 31 days"})
        table.vacuum(dry_run=False)
    DeltaTable(str(lake_dir / "papers")).optimize.z_order(["paper_id"])
    assert run_ingest(home, inbox)["dumps_new"] == 0
    assert same_tables(warehouse_tables(home), lake_tables(home)) and not lake_leftovers(home)
