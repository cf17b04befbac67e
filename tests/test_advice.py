"""The commands messages tell the user to run, followed as printed: pasted into a shell, from any
folder, they work on the home and the lake that were damaged (a home with a space in its path, a
lake outside it)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import duckdb

from flows.cli import main
from store.advice import command, doctor_repair
from store.settings import Settings
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot


def test_a_command_names_the_home_and_a_lake_other_than_its_own_each_quoted():
    home = Path("/srv/my home")
    assert shlex.split(command(home / "lake", "rebuild --from-raw", home).strip("`")) == [
        "profile-etl", "--home", "/srv/my home", "rebuild", "--from-raw"]
    assert shlex.split(command(Path("/lakes/lake 'one'"), "doctor", home).strip("`")) == [
        "profile-etl", "--home", "/srv/my home", "doctor", "--lake", "/lakes/lake 'one'"]


def test_doctors_repair_names_an_inbox_other_than_the_homes_own(tmp_path):
    """A repair looks for lost raw/ copies in the inbox: without --inbox, in HOME/inbox."""
    home = tmp_path / "my home"
    assert shlex.split(doctor_repair(Settings.load(home=home)).strip("`"))[3:] == ["doctor", "--repair"]
    elsewhere = Settings.load(home=home, inbox=tmp_path / "dumps 1")
    assert shlex.split(doctor_repair(elsewhere).strip("`"))[3:] == ["doctor", "--repair", "--inbox",
                                                                     str(tmp_path / "dumps 1")]


def pasted(message: str, words: str) -> list[str]:
    """The arguments of the first `profile-etl …` command in message that does `words`, as a shell splits it."""
    found = [shlex.split(text) for text in re.findall(r"`(profile-etl [^`]*)`", message)]
    [argv] = [argv for argv in found if " ".join(argv).find(f" {words}") >= 0][:1]
    assert argv[0] == "profile-etl"
    return argv[1:]


def test_the_repair_a_damaged_lake_outside_the_home_prints_repairs_it(prefect_harness, tmp_path, sample_text, capsys,
                                                                     monkeypatch):
    """Printed without --home and --lake, the repair rebuilt ./data (or HOME/lake) from raw/, and the
    run refused again with the same advice."""
    home, lake, inbox = tmp_path / "my home", tmp_path / "lakes" / "lake one", tmp_path / "inbox"
    run = ["--home", str(home), "run", "--inbox", str(inbox), "--lake", str(lake), "--settle-seconds", "0"]
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    assert main(run) == 0
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    sorted((lake / "dumps" / "_delta_log").glob("*.json"))[-1].write_text("{}\n")
    capsys.readouterr()
    assert main(run) == 2
    advice = pasted(capsys.readouterr().err, "rebuild --from-raw")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")   # a shell in another folder: ./data is no home of this one
    assert main(advice) == 0
    assert not (home / "lake").exists() and not (tmp_path / "elsewhere" / "data").exists()
    assert main(run) == 0
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM dumps").fetchone()[0] == 2
