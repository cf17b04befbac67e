"""The run summary as Markdown, published as a Prefect artifact so runs explain themselves in the UI."""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from core import identity
from flows.prefect_env import home_label

ARTIFACT_KEY = "profile-etl-run-summary"   # + the home's label: artifact_key
# Markdown's link, emphasis, HTML and table syntax: a file name or a reason from a dump is shown as written,
# never made a link (`[x](javascript:...)`) or markup in Prefect's UI.
MARKDOWN_SYNTAX = re.compile(r"([\\`*_\[\]()<>|&!~])")


def artifact_key(home: Path) -> str:
    """The key of a home's run summaries: a key is global on a Prefect server, and its latest
    artifact must be this home's last run, not that of another home reporting there."""
    return f"{ARTIFACT_KEY}-{home_label(home)}"


def _table(header: list[str], rows: list[tuple]) -> list[str]:
    cells = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    return cells + [f"| {' | '.join(_cell(value) for value in row)} |" for row in rows]


def _cell(value) -> str:
    return MARKDOWN_SYNTAX.sub(r"\\\1", " ".join(str(value).splitlines()))


def summary_markdown(summary: dict, new_dumps: pl.DataFrame, home: Path) -> str:
    seconds = (summary["finished_at"] - summary["started_at"]).total_seconds()
    mb = summary["bytes_new"] / 1e6
    lines = [f"# Run {summary['run_id']}: {summary['status']}", "", f"Home: {_cell(home)}", ""]
    lines += _table(["dumps seen", "new", "loaded", "partial", "quarantined", "still being written", "MB new",
                     "seconds", "MB/s"],
                    [(summary["dumps_seen"], summary["dumps_new"], summary["dumps_loaded"], summary["dumps_partial"],
                      summary["dumps_quarantined"], summary["waiting"], f"{mb:.2f}", f"{seconds:.1f}",
                      f"{mb / max(seconds, 1e-9):.1f}")])
    lines += ["", "## Rows added per table", ""]
    lines += _table(["table", "rows"], sorted(summary["rows_added"].items()))
    problems = new_dumps.filter(pl.col("status") != "loaded") if "reason" in new_dumps.columns else new_dumps.clear()
    lines += ["", "## Quarantined and partial dumps", ""]
    lines += _table(["dump", "status", "reason"], problems.select("source_path", "status", "reason").rows()) \
        if problems.height else ["None."]
    return "\n".join(lines) + "\n"


def failure_markdown(run_id: str, home: Path, error: str, fate: str) -> str:
    """A failed run's summary: why, in a fence longer than any backtick run of the error (so nothing in it
    is markup and DuckDB's caret lines keep their place), and what became of its data (our own text)."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", error)), default=0))
    lines = [f"# Run {run_id}: failed", "", f"Home: {_cell(home)}", "", "## Why", "", fence,
             *map(identity.shown, error.strip().splitlines()), fence, "",
             "## What became of the data", "", fate[:1].upper() + fate[1:]]
    return "\n".join(lines) + "\n"
