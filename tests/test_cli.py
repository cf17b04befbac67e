"""The command line as a user runs it: a real `profile-etl run` process and the read-side commands."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from tests import dumps
from warehouse import lake
from tests.conftest import SAMPLE_NAME, UTC, write_dump

# Tests that start a real `profile-etl` process (or use loaded_home, which does) are marked e2e one by one:
# the in-process ones (validate, settings, messages) belong in the fast tier.

FIRST = dt.datetime(2026, 6, 1, tzinfo=UTC)
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def loaded_home(tmp_path_factory, sample_text):
    """A home filled by one real `profile-etl run` process, with its stderr and Prefect home."""
    base = tmp_path_factory.mktemp("cli")
    write_dump(base / "inbox", SAMPLE_NAME, sample_text, FIRST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(base / "prefect"), "PROFILE_ETL_SETTLE_SECONDS": "0"}
    result = subprocess.run([str(BIN / "profile-etl"), "--home", str(base / "home"), "run",
                             "--inbox", str(base / "inbox"), "--json"],
                            env=env, capture_output=True, text=True, timeout=300)
    return base, env, result


@pytest.mark.e2e
def test_run_process_is_clean_and_visible_in_prefect(loaded_home):
    base, env, result = loaded_home
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Error" not in result.stderr, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dumps_new"] == 1 and summary["status"] == "completed"
    flow_seconds = (dt.datetime.fromisoformat(summary["finished_at"]) -
                    dt.datetime.fromisoformat(summary["started_at"])).total_seconds()
    assert summary["wall_seconds"] > flow_seconds   # what the user waited for: Prefect's start too
    quiet = env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "COLUMNS": "250",
                   "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}   # as docs/reference.md says
    listed = subprocess.run([str(BIN / "prefect"), "flow-run", "ls"], env=quiet, capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0 and "ERROR" not in listed.stderr, listed.stderr
    assert "profile-etl-ingest" in listed.stdout and "COMPLETED" in listed.stdout


@pytest.mark.e2e
def test_output_an_encoding_cant_write_is_refused_with_what_to_set_not_a_traceback(loaded_home):
    """An ASCII locale (LC_ALL=C without UTF-8 mode) and a title in Greek, as SPEC §2's abstracts have:
    output to a pipe is data, so it isn't altered (a terminal shows \\u03c3)."""
    base, env, _ = loaded_home
    ascii_env = env | {"PYTHONIOENCODING": "ascii"}
    shown = subprocess.run([str(BIN / "profile-etl"), "--home", str(base / "home"), "sql", "SELECT 'σ-algebra' AS t"],
                           env=ascii_env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 1 and "Traceback" not in shown.stderr, shown.stderr
    assert "the output holds '\\u03c3', which ascii can't write: set PYTHONIOENCODING=utf-8" in shown.stderr


@pytest.mark.e2e
def test_sql_answers_queries_in_each_format(loaded_home, capsys):
    home = str(loaded_home[0] / "home")
    assert main(["--home", home, "sql", "SELECT count(*) AS n FROM papers", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 50}]
    assert main(["--home", home, "sql", "SELECT h_index, citations FROM profile_snapshots", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "h_index,citations\n28,1945\n"
    assert main(["--home", home, "sql", "SELECT category FROM papers GROUP BY 1 ORDER BY 1"]) == 0
    assert capsys.readouterr().out.split() == ["category", "--------", "AI", "CL", "CV", "LG", "(4", "rows)"]


def test_sql_output_marks_cut_cells_counts_one_row_and_ends_csv_with_a_newline():
    from flows.queries import render
    table = render([("x" * 100, "two\nlines", None)], ["long", "text", "none"], "table").splitlines()
    assert [c.strip() for c in table[2].split(" | ")] == ["x" * 59 + "…", "two lines", ""] and table[-1] == "(1 row)"
    assert render([("a\n",)], ["v"], "csv") == 'v\n"a\n"\n'


def test_json_output_writes_dates_and_times_as_iso_8601():
    from flows.queries import render
    row = (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), dt.date(2026, 1, 2), dt.time(3, 4))
    assert json.loads(render([row], ["at", "day", "time"], "json")) == [
        {"at": "2026-01-02T03:04:05+00:00", "day": "2026-01-02", "time": "03:04:00"}]


@pytest.mark.e2e
def test_tables_and_describe_show_what_the_warehouse_holds(loaded_home, capsys):
    home = str(loaded_home[0] / "home")
    assert main(["--home", home, "tables"]) == 0
    listed = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()}
    assert listed["papers"] == ["table", "50"] and listed["profile_coauthors"][0] == "mart"
    assert not [name for name in listed if name.startswith(("_", "stg_"))]
    assert main(["--home", home, "describe", "papers"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("papers (table, 50 rows): One row per distinct paper")
    assert any(line.split()[:2] == ["paper_id", "VARCHAR"] and "normalised title" in line for line in out.splitlines())
    assert main(["--home", home, "describe", "nope"]) == 2
    assert "no table or mart named 'nope'" in capsys.readouterr().err


@pytest.mark.e2e
def test_check_prints_each_data_test_and_the_rows_that_break_one(loaded_home, tmp_path, capsys):
    home = tmp_path / "home"
    shutil.copytree(loaded_home[0] / "home", home, symlinks=True)
    assert main(["--home", str(home), "check"]) == 0
    assert capsys.readouterr().out.endswith("10 data tests: 10 passed, 0 failed\n")
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("UPDATE runs SET finished_at = NULL")
    assert main(["--home", str(home), "check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  runs_are_finished: No run is left unfinished." in out and "pass  entries_add_up:" in out
    assert "completed" in out.split("FAIL  runs_are_finished")[1] and out.endswith("9 passed, 1 failed\n")


@pytest.mark.e2e
def test_rebuild_takes_the_wait_its_lock_message_offers(loaded_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(loaded_home[0] / "home", home, symlinks=True)
    assert main(["--home", str(home), "rebuild", "--wait", "30"]) == 0


@pytest.mark.e2e
def test_sql_refuses_more_than_one_statement(loaded_home, capsys):
    assert main(["--home", str(loaded_home[0] / "home"), "sql", "SELECT 1; SELECT 2"]) == 2
    assert "runs one statement at a time" in capsys.readouterr().err


@pytest.mark.e2e
def test_sql_into_a_reader_that_leaves_early_exits_quietly(loaded_home):
    base, env, _ = loaded_home
    piped = subprocess.run(["bash", "-c", f"'{BIN / 'profile-etl'}' --home '{base / 'home'}' sql "
                                          "'SELECT * FROM range(200000)' | head -1; exit ${PIPESTATUS[0]}"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout.split() == ["range"] and piped.stderr == "", piped.stderr


@pytest.mark.e2e
def test_sql_refuses_writes_with_a_clear_message(loaded_home, capsys):
    home = str(loaded_home[0] / "home")
    assert main(["--home", home, "sql", "DELETE FROM papers"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["--home", home, "sql", "SELECT count(*) AS n FROM papers", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "n\n50\n"


LOG = "lake/runs/_delta_log/00000000000000000000.json"


@pytest.mark.e2e
@pytest.mark.parametrize("sql", [f"COPY (SELECT 1 AS x) TO '{{home}}/{LOG}' (FORMAT csv)",
                                 f"SELECT * FROM read_text('{{home}}/{LOG}')",
                                 "ATTACH '{home}/other.duckdb'", "SET enable_external_access = true"])
def test_sql_touches_no_file_but_the_warehouse(loaded_home, capsys, sql):
    home = loaded_home[0] / "home"
    log = (home / LOG).read_bytes()
    assert main(["--home", str(home), "sql", sql.format(home=home)]) == 2
    err = capsys.readouterr().err
    assert "reads the warehouse only" in err or "the configuration has been locked" in err
    assert (home / LOG).read_bytes() == log and not (home / "other.duckdb").exists()


@pytest.mark.e2e
@pytest.mark.parametrize("sql", ["", "  ;  ", "-- only a comment"])
def test_sql_without_a_statement_says_so(loaded_home, capsys, sql):
    assert main(["--home", str(loaded_home[0] / "home"), "sql", sql]) == 2
    assert "no statement" in capsys.readouterr().err


@pytest.mark.e2e
def test_sql_json_keeps_repeated_column_names_and_is_strict_json(loaded_home, capsys):
    query = ("SELECT 'a' AS s, 'b' AS s, 'c' AS s_2, 'nan'::DOUBLE AS x, ['inf'::DOUBLE, 1.5] AS y, "
             "{'v': 'nan'::DOUBLE} AS z")
    assert main(["--home", str(loaded_home[0] / "home"), "sql", query, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}")) == [
        {"s": "a", "s_2": "b", "s_2_2": "c", "x": None, "y": [None, 1.5], "z": {"v": None}}]


@pytest.mark.e2e
def test_sql_json_writes_decimals_as_numbers(loaded_home, capsys):
    query = "SELECT 0.5 AS half, 12.000 AS whole, CAST(-3.25 AS DECIMAL(38, 10)) AS wide, [0.5] AS listed"
    assert main(["--home", str(loaded_home[0] / "home"), "sql", query, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"half": 0.5, "whole": 12, "wide": -3.25, "listed": [0.5]}]


def test_sql_without_a_warehouse_says_what_to_do(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "sql", "SELECT 1"]) == 2
    assert "run `profile-etl run` first" in capsys.readouterr().err


@pytest.mark.e2e
def test_status_lists_runs_and_statuses(loaded_home, capsys):
    assert main(["--home", str(loaded_home[0] / "home"), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["dumps per status"] == [{"status": "loaded", "dumps": 1, "entries_loaded": 50, "entries_rejected": 0}]
    assert len(status["last runs"]) == 1


def test_validate_prints_line_numbered_problems(tmp_path, sample_text, capsys):
    header, blocks = dumps.split(sample_text)
    blocks[1][0] = "LGAug 23,, 2023Code"
    blocks[7] = blocks[7][:2]
    broken = write_dump(tmp_path, "broken.txt", dumps.join(header, blocks), FIRST)
    good = write_dump(tmp_path, "good.txt", sample_text, FIRST)
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(good), str(broken)]) == 1
    out = capsys.readouterr().out
    assert f"{broken}:16: entry head is garbled" in out
    assert f"{broken}:58: entry has no author line" in out
    assert f"{broken}: partial, 48 of 50 entries valid" in out


def test_validate_of_an_s3_url_says_it_reads_local_files(tmp_path, capsys):
    """The URL reached validate as `s3:/bucket/…` and was called no such file."""
    assert main(["--home", str(tmp_path), "validate", "s3://bucket/inbox/000_a.txt"]) == 2
    assert "validate reads local files, and s3://bucket/inbox/000_a.txt is a URL" in capsys.readouterr().err


def test_validate_skips_what_a_run_would_not_read_as_a_dump(tmp_path, sample_text, capsys):
    good = write_dump(tmp_path, "good.txt", sample_text, FIRST)
    sidecar = tmp_path / "good.meta.json"
    sidecar.write_text('{"owner_name": "Ann"}')
    assert main(["--home", str(tmp_path / "none"), "validate", str(good), str(sidecar)]) == 0
    out, err = capsys.readouterr()
    assert f"{sidecar}: skipped, not a dump" in out and f"{good}: loaded, 50 of 50 entries valid\n" in out
    assert "1 of 1 dump files valid; 1 skipped, not dumps" in err


def test_validate_names_the_sidecar_keys_nothing_reads(tmp_path, sample_text, capsys):
    good = write_dump(tmp_path, "good.txt", sample_text, FIRST)
    (tmp_path / "good.meta.json").write_text('{"owner_nmae": "Ann", "capture_time": "2026-01-01T00:00:00Z"}')
    assert main(["--home", str(tmp_path / "none"), "validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert (f"{tmp_path / 'good.meta.json'}: keys not read: capture_time, owner_nmae (owner_name?) (a sidecar's keys "
            "are captured_at, ") in out
    assert f"{good}: loaded, 50 of 50 entries valid" in out


@pytest.mark.e2e
def test_validate_says_when_the_home_holds_a_dump_already(loaded_home, tmp_path, capsys):
    base = loaded_home[0]
    [held] = (base / "inbox").iterdir()
    assert main(["--home", str(base / "home"), "validate", str(held)]) == 0
    assert f"{held}: loaded, 50 of 50 entries valid; the home holds this dump already, so a run skips it" in \
        capsys.readouterr().out


@pytest.mark.e2e
def test_validate_doesnt_count_a_dead_runs_dump_as_held(loaded_home, tmp_path, capsys):
    """A dump only a run that died before its commit point wrote is not held: the next run's
    recovery removes it, then reads the file."""
    base = loaded_home[0]
    [held] = (base / "inbox").iterdir()
    lake_dir = tmp_path / "home" / "lake"
    lake.ensure_tables(lake_dir)
    lake.append(lake_dir, "dumps", lake.read_table(base / "home" / "lake", "dumps"), 1, "test-run")   # and no runs row
    assert main(["--home", str(tmp_path / "home"), "validate", str(held)]) == 0
    assert f"{held}: loaded, 50 of 50 entries valid\n" in capsys.readouterr().out


def test_validate_on_a_folder_says_to_pass_its_files_and_counts_only_dump_files(tmp_path, sample_text, capsys):
    good = write_dump(tmp_path / "in", "good.txt", sample_text, FIRST)
    assert main(["validate", str(tmp_path), str(good), str(tmp_path / "gone.txt")]) == 1
    out, err = capsys.readouterr()
    assert f"{tmp_path}: a folder: pass its files" in out and f"{tmp_path / 'gone.txt'}: no such file" in out
    assert "1 of 1 dump files valid; 2 not files" in err


@pytest.mark.parametrize("env, flags, message", [
    ({"PROFILE_ETL_SETTLE_SECONDS": "-1"}, [], "settle_seconds is -1.0 (from PROFILE_ETL_SETTLE_SECONDS)"),
    ({"PROFILE_ETL_SETTLE_SECONDS": "nan"}, [], "settle_seconds is nan (from PROFILE_ETL_SETTLE_SECONDS)"),
    ({}, ["--batch-size", "0"], "batch_size is 0 (from its flag): it must be a whole number, 1 or more"),
    ({}, ["--wait=-inf"], "lock_wait_seconds is -inf (from its flag)"),
    ({"PROFILE_ETL_DASK_NO_WORKERS_SECONDS": "-5"}, [], "dask_no_workers_seconds is -5.0 (from PROFILE_ETL_DASK"),
    ({"PROFILE_ETL_BATCH_SIZE": "2.5"}, [], "PROFILE_ETL_BATCH_SIZE='2.5' is not a whole number"),
    ({"PROFILE_ETL_PROFILE_KEY_PATTERN": r"\d+_(.+)"}, [], r"PROFILE_ETL_PROFILE_KEY_PATTERN: `\d+_(.+)` has no group named key"),
])
def test_a_bad_setting_is_named_with_where_it_came_from(tmp_path, monkeypatch, capsys, env, flags, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["--home", str(tmp_path), "run", "--inbox", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err


def test_waiting_for_another_run_may_be_unbounded(tmp_path):
    from store.settings import Settings
    assert Settings.load(home=tmp_path, lock_wait_seconds=float("inf")).lock_wait_seconds == float("inf")


def test_a_tilde_in_a_setting_is_the_users_home_and_an_undecodable_folder_name_is_refused(tmp_path, monkeypatch, capsys):
    """An environment file or a systemd unit passes `~` as it is; a folder named in non-UTF-8 bytes
    can't be a flow run's parameter, and made a new home's lake look damaged."""
    from store.settings import Settings
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PROFILE_ETL_HOME", "~/etl")
    settings = Settings.load(inbox="~/dumps")
    assert (settings.home, settings.inbox, settings.lake) == (tmp_path / "etl", tmp_path / "dumps", tmp_path / "etl" / "lake")
    for flags in (["--home", str(tmp_path / "h\udce9")], ["--home", str(tmp_path / "h"), "--inbox", str(tmp_path / "in\udce9")]):
        assert main([*flags[:2], "run", *flags[2:]]) == 2
        said = capsys.readouterr().err
        assert "has a name that isn't UTF-8" in said and "\\xe9" in said and "damaged" not in said


def test_prefect_settings_a_run_cant_use_are_named_before_prefect_retries_for_minutes(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "afile" / "prefect"))
    (tmp_path / "inbox").mkdir()
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with temporary_settings(updates={PREFECT_API_URL: None}):   # whatever server other tests started
        assert main(["--home", str(tmp_path / "home"), "run", "--inbox", str(tmp_path / "inbox")]) == 2
    said = capsys.readouterr().err
    assert "keeps its database in PREFECT_HOME, which can't be written" in said and str(tmp_path / "afile") in said
    assert not (tmp_path / "home").exists()
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))   # writable; the database elsewhere is not
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{tmp_path}/afile/db/prefect.db")
    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert main(["--home", str(tmp_path / "home"), "run", "--inbox", str(tmp_path / "inbox")]) == 2
    said = capsys.readouterr().err
    assert "where PREFECT_SERVER_DATABASE_CONNECTION_URL says, which can't be written" in said
    assert str(tmp_path / "afile" / "db") in said and not (tmp_path / "home").exists()
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL")
    (tmp_path / "logging.yml").write_text("version: 1\nhandlers: [\n  a: b\n")   # Prefect's import failed on it, unnamed
    monkeypatch.setenv("PREFECT_LOGGING_SETTINGS_PATH", str(tmp_path / "logging.yml"))
    assert main(["--home", str(tmp_path / "home"), "run", "--inbox", str(tmp_path / "inbox")]) == 2
    said = capsys.readouterr().err
    assert "logging settings file (PREFECT_LOGGING_SETTINGS_PATH) isn't YAML" in said and "logging.yml" in said


def test_a_home_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    assert main(["--home", str(tmp_path / "afile"), "rebuild"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["--home", str(tmp_path / "afile"), "run", "--json"]) == 2
    refused = json.loads(capsys.readouterr().out)
    assert (refused["status"], refused["exit_code"]) == ("refused", 2) and "is a file" in refused["error"]


@pytest.mark.e2e
def test_rebuild_refuses_without_a_lake_and_keeps_the_warehouse(loaded_home, capsys, tmp_path):
    home = loaded_home[0] / "home"
    before = main(["--home", str(home), "sql", "SELECT count(*) FROM dumps", "--format", "csv"]), capsys.readouterr().out
    assert main(["--home", str(home), "rebuild", "--lake", str(tmp_path / "lakee")]) == 2
    assert "no lake at" in capsys.readouterr().err
    assert main(["--home", str(tmp_path / "nohome"), "rebuild", "--from-raw"]) == 2
    assert "no raw/ folder" in capsys.readouterr().err and not (tmp_path / "nohome").exists()
    after = main(["--home", str(home), "sql", "SELECT count(*) FROM dumps", "--format", "csv"]), capsys.readouterr().out
    assert before == after == (0, "count_star()\n1\n")


@pytest.mark.e2e
def test_rebuild_from_raw_names_the_copies_no_meta_file_names(loaded_home, capsys, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(loaded_home[0] / "home", home)
    import hashlib
    did = hashlib.sha256(b"h-index1\n").hexdigest()
    orphan = home / "raw" / did[:2] / f"{did}.txt"   # its run died before its batch's meta file
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"h-index1\n")
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert "left out 1 raw/ copies that no raw/meta/ file names" in capsys.readouterr().err
    assert main(["--home", str(home), "sql", "SELECT count(*) FROM dumps", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "count_star()\n1\n"


@pytest.mark.e2e
def test_rebuild_from_raw_refuses_to_lose_dumps_whose_meta_files_are_gone(loaded_home, capsys, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(loaded_home[0] / "home", home)
    shutil.rmtree(home / "raw" / "meta")
    lake_before = sorted(p.name for p in (home / "lake").rglob("*"))
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 2
    assert "names 1 raw/ copies the lake holds" in capsys.readouterr().err
    assert sorted(p.name for p in (home / "lake").rglob("*")) == lake_before


@pytest.mark.e2e
def test_rebuild_from_raw_flushes_the_new_lake_before_the_old_one_goes(loaded_home, tmp_path, monkeypatch):
    """After a power loss the lake must not be a new one the disk never kept, with the old one removed."""
    from flows import integrity
    from store import storage
    home, events = tmp_path / "home", []
    shutil.copytree(loaded_home[0] / "home", home)
    monkeypatch.setattr(integrity, "rewritable_in_place", lambda lake_dir: False)   # a lake it must replace
    flush = storage.flush_to_disk
    monkeypatch.setattr(storage, "flush_to_disk", lambda *folders: events.append(
        ("flush", folders, (home / "lake").exists())) or flush(*folders))
    moved = Path.rename
    monkeypatch.setattr(Path, "rename", lambda path, target: events.append(("rename", path.name)) or moved(path, target))
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    first_rename = events.index(("rename", "lake"))
    assert events[first_rename - 1:first_rename + 2] == [("flush", (home / "lake.rebuild",), True), ("rename", "lake"),
                                                         ("rename", "lake.rebuild")]


@pytest.mark.e2e
def test_rebuild_from_raw_of_a_home_that_never_loaded_a_dump_works(run_ingest, tmp_path):
    (tmp_path / "inbox").mkdir()
    run_ingest(tmp_path / "home", tmp_path / "inbox")
    assert not (tmp_path / "home" / "raw").exists()
    assert main(["--home", str(tmp_path / "home"), "rebuild", "--from-raw"]) == 0


def test_a_lake_in_the_format_before_delta_tables_is_named_with_the_way_out(tmp_path, capsys):
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "_manifest.json").write_text("{}")
    assert main(["--home", str(tmp_path), "rebuild"]) == 2
    assert (f"format of profile-etl before Delta Lake tables: run `profile-etl --home {tmp_path} rebuild --from-raw`"
            in capsys.readouterr().err)


def test_a_file_stamped_in_the_future_is_quarantined_unless_a_sidecar_gives_the_capture_time(tmp_path, sample_text,
                                                                                            capsys):
    ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    path = write_dump(tmp_path, "future.txt", sample_text, ahead)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "so it can't be the capture time" in out and f"{path}: quarantined" in out
    (tmp_path / "future.meta.json").write_text('{"captured_at": "2026-06-01T12:00:00Z"}')
    assert main(["validate", str(path)]) == 0


@pytest.mark.parametrize("env, heartbeats", [(None, False), ("60", True)])
def test_runs_send_heartbeats_only_when_asked(monkeypatch, env, heartbeats):
    """Prefect's flow heartbeat thread, joined at the flow's end, sleeps in whole seconds: off,
    unless PREFECT_FLOWS_HEARTBEAT_FREQUENCY asks for them (crash detection on a lasting server)."""
    from prefect.settings import get_current_settings

    from flows.prefect_env import without_heartbeats
    if env is None:
        monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)
    else:
        monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", env)
    with without_heartbeats():
        assert (get_current_settings().flows.heartbeat_frequency is not None) == heartbeats


@pytest.mark.e2e
def test_a_damaged_warehouse_file_gets_a_message_and_rebuild_repairs_it(loaded_home, tmp_path, capsys):
    home = tmp_path / "home"
    shutil.copytree(loaded_home[0] / "home", home, symlinks=True)
    current = home / os.readlink(home / "warehouse.duckdb")
    current.write_bytes(current.read_bytes()[: current.stat().st_size // 3])
    for command in (["status"], ["check"]):
        assert main(["--home", str(home), *command]) == 2
        err = capsys.readouterr().err
        assert "can't read the warehouse" in err and f"`profile-etl --home {home} rebuild`" in err
    assert main(["--home", str(home), "rebuild"]) == 0
    assert main(["--home", str(home), "status"]) == 0


@pytest.mark.e2e
@pytest.mark.parametrize("command, message", [
    (["export", "{file}"], "is a file: export writes a folder"),
    (["export", "/proc/no-such-folder"], "export: No such file or directory: /proc/no-such-folder"),
    (["report", "{folder}"], "is a folder: pass a file name"),
    (["report", "{folder}/missing/report.html"], "no folder"),
    (["export", "{folder}/blocked"], "`export`: IO Error: Cannot open file"),   # not "can't read the warehouse"
])
def test_export_and_report_to_a_bad_path_say_so(loaded_home, tmp_path, capsys, command, message):
    (tmp_path / "afile").write_text("x")
    for name in ("authors", "dumps", "listings", "paper_authors", "papers", "profile_snapshots", "profiles", "rejects",
                 "runs"):   # folders where export writes its files first
        (tmp_path / "blocked" / f".{name}.parquet.tmp").mkdir(parents=True)
    argv = [part.format(file=tmp_path / "afile", folder=tmp_path) for part in command]
    assert main(["--home", str(loaded_home[0] / "home"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_tables_and_describe_of_a_duckdb_file_profile_etl_did_not_make(tmp_path, capsys):
    tmp_path.joinpath("home").mkdir()
    duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb")).close()
    for command in (["tables"], ["describe", "papers"]):
        assert main(["--home", str(tmp_path / "home"), *command]) == 2
        assert "holds no tables: not a warehouse profile-etl made" in capsys.readouterr().err


def test_numbers_out_of_range_are_usage_errors(tmp_path, capsys):
    for argv in (["watch", "--poll-seconds", "-1"], ["watch", "--quiet-seconds", "nan"],
                 ["watch", "--poll-seconds", "abc"], ["serve", "--interval", "0"]):
        with pytest.raises(SystemExit) as exited:
            main(["--home", str(tmp_path), *argv])
        assert exited.value.code == 2 and "give a number of seconds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--home", str(tmp_path), "report", "r.html", "--limit", "-3"])
    assert "-3: give a whole number, 1 or more" in capsys.readouterr().err


def test_export_from_a_home_without_a_warehouse_makes_no_folder(tmp_path, capsys):
    assert main(["--home", str(tmp_path / "nowhere"), "export", str(tmp_path / "out")]) == 2
    assert "no warehouse at" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_an_io_error_from_delta_rs_prints_its_first_line_without_colours(tmp_path, monkeypatch, capsys):
    from flows import cli, read_commands

    def failing(settings, args):
        raise OSError("Generic error: \x1b[31mObject at location /x not found\x1b[0m\n\nBacktrace:\n   0: native frame")
    monkeypatch.setitem(read_commands.HANDLERS, "status", failing)
    assert cli.main(["--home", str(tmp_path), "status"]) == 2
    assert capsys.readouterr().err == "profile-etl: status: Generic error: Object at location /x not found\n"


def test_a_failure_to_connect_to_prefects_api_is_told_apart_from_other_failures(monkeypatch):
    import httpx

    from flows import run_failure
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    try:
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError as cause:
            raise RuntimeError("Failed to reach API") from cause
    except RuntimeError as exc:
        wrapped = exc
    assert run_failure.api_unreachable(wrapped) and not run_failure.api_unreachable(ValueError("bad dump"))
    assert "start the server (`profile-etl server`)" in run_failure.unreachable_hint(wrapped)
    assert run_failure.unreachable_hint(ValueError("bad dump")) == ""
    assert "http://127.0.0.1:9/api stopped answering" in run_failure.unrecorded_end(wrapped)
    from prefect.exceptions import ObjectNotFound   # a flow run the server lost (its database reset) mid-run
    assert ("http://127.0.0.1:9/api no longer has its flow run (the server's database was reset"
            in run_failure.unrecorded_end(ObjectNotFound(http_exc=None)))
    assert not run_failure.api_unreachable(httpx.ReadTimeout("slow"))   # a server that answers late is there
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4311/")   # the server's address, not its API's
    assert "(PREFECT_API_URL=http://127.0.0.1:4311/api?)" in run_failure.unreachable_hint(
        RuntimeError("Failed to reach API at http://127.0.0.1:4311/"))


def test_server_refuses_a_port_another_process_listens_on_before_announcing_itself(capsys):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["server", "--host", "127.0.0.1", "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"can't serve on 127.0.0.1:{port}" in err and "--port" in err


def test_a_failed_run_points_to_its_runs_row_only_when_it_wrote_one(tmp_path):
    from flows import run_failure
    from store.settings import Settings
    settings = Settings.load(home=tmp_path)
    unrecorded, recorded = RuntimeError("API gone"), RuntimeError("bad disk")
    recorded.run_id = "20261206T120000Z-abcdef12"
    assert "this one too" not in str(run_failure.run_failed(settings, unrecorded))
    failed = run_failure.run_failed(settings, recorded)
    assert "`profile-etl history` lists the runs, this one too" in str(failed) and failed.run_id == recorded.run_id


@pytest.mark.e2e
@pytest.mark.parametrize("folder", ["raw", "state", "lake"])
def test_a_file_where_the_home_keeps_a_folder_is_named_before_anything_runs(loaded_home, tmp_path, folder, capsys):
    home = tmp_path / "home"
    shutil.copytree(loaded_home[0] / "home", home, symlinks=True)
    shutil.rmtree(home / folder)
    (home / folder).write_text("not a folder")
    for command in (["run", "--inbox", str(loaded_home[0] / "inbox")], ["doctor"], ["rebuild", "--from-raw"]):
        assert main(["--home", str(home), *command]) == 2
        assert f"{home / folder} is a file where the home keeps" in capsys.readouterr().err
    assert (home / folder).read_text() == "not a folder"


@pytest.mark.e2e
def test_a_warehouse_another_process_holds_for_writing_is_said_so_not_called_damaged(loaded_home, tmp_path, capsys):
    base, _, _ = loaded_home
    home = tmp_path / "home"
    shutil.copytree(base / "home", home)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); sys.stdin.read()", str(home / "warehouse.duckdb")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n"
        assert main(["--home", str(home), "sql", "SELECT 1"]) == 2
    finally:
        holder.communicate("", timeout=60)
    err = capsys.readouterr().err
    assert "another process holds the warehouse" in err and f"PID {holder.pid}" in err and "damaged" not in err


def test_control_characters_from_names_and_dumps_reach_the_terminal_escaped(tmp_path, sample_text, capsys):
    """A file name, a sidecar key or a dump's text could clear the screen, set the terminal's title or
    write its clipboard (OSC 52); data formats (CSV, JSON) keep them as written."""
    from flows import queries
    good = write_dump(tmp_path, "010_a\x1b]0;OWNED\x07.txt", sample_text, FIRST)
    good.with_name("010_a\x1b]0;OWNED\x07.meta.json").write_text('{"evil\\u001b]52;c;QQ==\\u0007": 1}')
    assert main(["--home", str(tmp_path / "none"), "validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "keys not read: evil\\x1b]52;c;QQ==\\x07" in out and "010_a\\x1b]0;OWNED\\x07.txt: loaded" in out
    table = queries.render([("C\x1b[8m hidden\u202e",)], ["name"], "table")
    assert "C\\x1b[8m hidden\\u202e" in table and "\x1b" not in table
    assert "C\x1b[8m hidden\u202e" in queries.render([("C\x1b[8m hidden\u202e",)], ["name"], "csv")


def test_the_run_summary_artifact_shows_names_as_text_not_markdown():
    """A dump named `[Open](javascript:...)` was a link in Prefect's UI."""
    from flows.artifact import _table
    [_, _, row] = _table(["dump", "reason"], [("in/023_[Open](javascript:x).txt", "a|b <img src=x onerror=y> *x*")])
    assert row == r"| in/023\_\[Open\]\(javascript:x\).txt | a\|b \<img src=x onerror=y\> \*x\* |"


@pytest.mark.e2e
def test_a_prefect_profiles_api_url_is_the_server_runs_and_serve_use(tmp_path, sample_text):
    """`prefect config set PREFECT_API_URL=…` (Prefect's own way) puts it in a profile, not in the
    environment: `serve` must not ask for it, and a failure must name that server, not a temporary one."""
    write_dump(tmp_path / "home" / "inbox", SAMPLE_NAME, sample_text, FIRST)
    (tmp_path / "profiles.toml").write_text('active = "lab"\n[profiles.lab]\nPREFECT_API_URL = "http://127.0.0.1:9/api"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_PROFILES_PATH": str(tmp_path / "profiles.toml"),
            "PROFILE_ETL_SETTLE_SECONDS": "0"}
    home = ["--home", str(tmp_path / "home")]
    ran = subprocess.run([str(BIN / "profile-etl"), *home, "run"], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 1 and "http://127.0.0.1:9/api didn't answer" in ran.stderr, ran.stderr
    assert "temporary server" not in ran.stderr
    served = subprocess.run([str(BIN / "profile-etl"), *home, "serve", "--interval", "600"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert "schedules need a Prefect server" not in served.stderr, served.stderr
    assert served.returncode == 2 and "can't reach the Prefect API at http://127.0.0.1:9/api" in served.stderr, served.stderr


@pytest.mark.e2e
def test_a_deleted_current_folder_is_named_not_a_file_not_found(tmp_path):
    """A shell still in a folder that was deleted: Prefect's temporary server retried for 90 s and said
    only that it didn't start, and with a lasting server an import (pandera's) failed unnamed."""
    (tmp_path / "inbox").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    for command in (f"--home {tmp_path / 'home'} run --inbox {tmp_path / 'inbox'} --json", "sql 'SELECT 1'"):
        done = subprocess.run(["bash", "-c", f"mkdir {tmp_path}/gone && cd {tmp_path}/gone && rmdir ../gone && "
                               f"exec '{BIN / 'profile-etl'}' {command}"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2 and "the current folder no longer exists" in done.stderr, done.stderr
    assert json.loads(subprocess.run(["bash", "-c", f"mkdir {tmp_path}/gone && cd {tmp_path}/gone && rmdir ../gone && "
                                      f"exec '{BIN / 'profile-etl'}' run --json"], env=env, capture_output=True,
                                     text=True, timeout=120).stdout)["status"] == "refused"


@pytest.mark.e2e
def test_closed_standard_streams_are_no_failure(tmp_path, sample_text):
    """`profile-etl … >&-` ended in a traceback before doing anything, and `run … 2>&-` failed the run
    (its progress bar asked the closed stderr whether it is a terminal)."""
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PROFILE_ETL_SETTLE_SECONDS": "0"}
    home = f"--home '{tmp_path / 'home'}'"
    ran = subprocess.run(["bash", "-c", f"'{BIN / 'profile-etl'}' {home} run --inbox '{tmp_path / 'inbox'}' 2>&-"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0 and "1 loaded" in ran.stdout, ran.stdout
    for command in ("sql 'SELECT count(*) FROM dumps'", "tables", "status"):
        closed = subprocess.run(["bash", "-c", f"'{BIN / 'profile-etl'}' {home} {command} >&-"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert closed.returncode == 0 and closed.stderr == "", (command, closed.stderr)


@pytest.mark.e2e
def test_a_prefect_profile_of_the_users_own_still_runs_on_the_temporary_server(tmp_path, sample_text):
    """`prefect profile create lab && prefect profile use lab`: a profile without PREFECT_API_URL and
    without the `ephemeral` profile's PREFECT_SERVER_EPHEMERAL_ENABLED. Every run failed with Prefect's
    `No Prefect API URL provided`; README: without PREFECT_API_URL, `run` uses the temporary server."""
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    (tmp_path / "profiles.toml").write_text('active = "lab"\n[profiles.lab]\nPREFECT_LOGGING_LEVEL = "INFO"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_PROFILES_PATH": str(tmp_path / "profiles.toml"),
            "PROFILE_ETL_SETTLE_SECONDS": "0"}
    ran = subprocess.run([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "run", "--inbox",
                          str(tmp_path / "inbox")], env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0 and "1 loaded" in ran.stdout, ran.stderr


def test_a_sigterm_repeated_at_once_is_one_stop(monkeypatch):
    """timeout(1) signals the command, then its whole group: the second SIGTERM must not interrupt the
    unwinding the first began (Prefect's exit hooks, the scratch's removal); one after the window does."""
    import signal

    from flows import guard
    before = signal.getsignal(signal.SIGTERM)
    try:
        guard.terminate_as_interrupt()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)   # within the window: nothing raised
        monkeypatch.setattr(guard, "REPEAT_WINDOW_SECONDS", 0.0)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.e2e
@pytest.mark.parametrize("stderr", ["a full disk", "a reader that left"])
def test_messages_that_cant_be_written_are_lost_not_the_run(tmp_path, sample_text, stderr):
    """`run 2>>/var/log/etl.log` on a full disk, `run 2>&1 | logger` whose reader died, a disowned run whose
    terminal an ssh drop closed: the first progress line failed the run (exit 120, nothing said)."""
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PROFILE_ETL_SETTLE_SECONDS": "0"}
    read_end, write_end = os.pipe()
    os.close(read_end)
    sink = open("/dev/full", "w") if stderr == "a full disk" else os.fdopen(write_end, "w")
    with sink:
        ran = subprocess.run([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "run", "--inbox",
                              str(tmp_path / "inbox"), "--json"], env=env, stdout=subprocess.PIPE, stderr=sink,
                             text=True, timeout=300)
    assert ran.returncode == 0 and json.loads(ran.stdout)["dumps_loaded"] == 1, ran.stdout


@pytest.mark.e2e
def test_output_that_cant_be_written_is_said_with_exit_2_not_an_ignored_exception(tmp_path, sample_text):
    """`profile-etl run >/var/log/etl.out` on a full disk: the run completed, then Python's "Exception
    ignored" at the exit, and exit 120, which docs/reference.md doesn't know. (As cron runs it: output
    to a file is written when the command exits, unless PYTHONUNBUFFERED is set.)"""
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PYTHONUNBUFFERED"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PROFILE_ETL_SETTLE_SECONDS": "0"}
    with open("/dev/full", "w") as full:
        ran = subprocess.run([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "run", "--inbox",
                              str(tmp_path / "inbox")], env=env, stdout=full, stderr=subprocess.PIPE, text=True,
                             timeout=300)
    assert ran.returncode == 2 and "Exception ignored" not in ran.stderr, ran.stderr
    assert "profile-etl: can't write the output (No space left on device)" in ran.stderr
    assert main(["--home", str(tmp_path / "home"), "sql", "SELECT status FROM runs", "--format", "csv"]) == 0


def limited(which: int, soft: int, hard: int | None = None):
    """A child's limit as `ulimit` sets it (soft and hard alike), or only its soft limit under a given hard one."""
    import resource
    return lambda: resource.setrlimit(which, (soft, soft if hard is None else hard))


@pytest.mark.e2e
@pytest.mark.parametrize("which, value, message", [
    ("RLIMIT_NOFILE", 20, "the open-files limit (`ulimit -n`) is 20; a run needs at least 64"),
    ("RLIMIT_AS", 2 << 30, "the address-space limit (`ulimit -v`) is 2,048 MiB"),
])
def test_limits_too_low_for_a_run_are_refused_before_prefect_starts(tmp_path, sample_text, which, value, message):
    """20 open files hung the run in Prefect's event loop threads until killed; 2 GiB of address space
    aborted it in Rust's allocator (exit 134, `memory allocation of N bytes failed`)."""
    import resource
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"PREFECT_HOME": str(tmp_path / "p")}
    result = subprocess.run([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "run", "--inbox",
                             str(tmp_path / "inbox")], env=env, capture_output=True, text=True, timeout=300,
                            preexec_fn=limited(getattr(resource, which), value))
    assert (result.returncode, result.stderr.strip().splitlines()[-1][:len("profile-etl: ") + len(message)]) == (
        2, f"profile-etl: {message}")
    assert not (tmp_path / "home" / "lake").exists()


@pytest.mark.e2e
def test_an_open_files_soft_limit_below_the_hard_one_is_raised_for_the_run(tmp_path, sample_text):
    import resource
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp_path / "p"), "PROFILE_ETL_SETTLE_SECONDS": "0"}
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result = subprocess.run([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "run", "--inbox",
                             str(tmp_path / "inbox"), "--json"], env=env, capture_output=True, text=True, timeout=300,
                            preexec_fn=limited(resource.RLIMIT_NOFILE, 20, hard))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["dumps_loaded"] == 1


def test_a_failure_under_a_file_size_limit_names_the_limit(tmp_path):
    """`File too large` (EFBIG) alone, or Prefect's temporary server failing with an HTTP 500 once its
    database can't grow, didn't say that `ulimit -f` was the cause."""
    import errno
    import resource

    from flows.run_failure import run_failed
    from store.settings import Settings
    settings = Settings.load(home=tmp_path / "home")
    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 40, before[1]))   # a finite limit no test file reaches
    try:
        too_large = str(run_failed(settings, OSError(errno.EFBIG, "File too large")))
        other = str(run_failed(settings, RuntimeError("Server error '500 Internal Server Error'")))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before)
    limit = f"The file-size limit (`ulimit -f`) is {1 << 40:,} bytes"
    assert f"File too large). {limit}, which a file the run wrote reached: raise it." in too_large
    assert f"{limit}: a file that grows past it fails" in other
    if before[0] == resource.RLIM_INFINITY:
        assert "ulimit" not in str(run_failed(settings, OSError(errno.EFBIG, "File too large")))


def test_a_thread_that_cant_start_under_the_process_limit_names_the_limit(tmp_path):
    """`ulimit -u 40` failed a run with `RuntimeError: can't start new thread`, the limit unnamed."""
    import resource

    from flows.run_failure import run_failed
    from store.settings import Settings
    tasks = resource.getrlimit(resource.RLIMIT_NPROC)
    if tasks[0] == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NPROC, (1 << 30, tasks[1]))   # a finite limit far above use
    try:
        said = str(run_failed(Settings.load(home=tmp_path / "home"), RuntimeError("can't start new thread")))
        shown = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NPROC, tasks)
    assert f"The limit of processes and threads (`ulimit -u`, counted over all of the user's processes) is {shown:,}" in said
