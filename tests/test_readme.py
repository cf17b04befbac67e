"""The README's commands run as written: each ```sh block, line by line, then each ```python block,
in a folder laid out like a fresh clone after set-up (the repo's .venv, Makefile and examples).
`make test` is skipped (it is what runs this test), and so is a block the README marks
`<!-- not run by tests/test_readme.py: why -->`."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# The tests that run the README's commands in a clone are e2e; the check that it shows some is fast.

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"(<!-- not run by tests/test_readme\.py[^>]*-->\n)?```(sh|python)\n(.*?)```", re.S)
BIN = REPO / ".venv" / "bin"


def blocks(kind: str) -> list[str]:
    return [body for skip, lang, body in BLOCK.findall(README) if lang == kind and not skip]


def commands() -> list[str]:
    """The command lines, without their trailing comments."""
    lines = [re.sub(r"\s+# .*$", "", line.strip()) for body in blocks("sh") for line in body.splitlines()]
    return [line for line in lines if line and not line.startswith("#") and line != "make test"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A folder like the repo after set-up: the same .venv, Makefile and examples, and a pyproject.toml
    and constraints.txt older than the .venv, so that make finds the set-up done (the test runs inside
    that .venv)."""
    folder = tmp_path_factory.mktemp("clone")
    for name in (".venv", "Makefile", "examples"):
        (folder / name).symlink_to(REPO / name)
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copyfile(REPO / name, folder / name)
        os.utime(folder / name, (0, 0))
    return folder


def test_the_readme_shows_commands_to_run():
    assert "make example" in commands() and len(commands()) >= 8 and blocks("python")


@pytest.mark.e2e
def test_every_shell_command_of_the_readme_runs_as_written(clone):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PROFILE_ETL_"))}
    env |= {"PREFECT_HOME": str(clone / ".prefect"), "DO_NOT_TRACK": "1"}
    for command in commands():
        done = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert (clone / "report.html").stat().st_size > 0 and (clone / "exported" / "papers.parquet").exists()


@pytest.mark.e2e
def test_every_python_block_of_the_readme_runs_as_written(clone):
    if not (clone / "data" / "warehouse.duckdb").exists():   # run alone: the shell commands make it
        test_every_shell_command_of_the_readme_runs_as_written(clone)
    for body in blocks("python"):
        done = subprocess.run([str(BIN / "python"), "-c", body], cwd=clone, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{body}\n{done.stderr}"
