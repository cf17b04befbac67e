"""Synthetic profile dumps in the format of SPEC §2, for examples, tests and load runs
(`examples/make_dumps.py` writes them to a folder).

Everything here is invented (titles, names, abstracts, links); nothing is copied from real pages.
Pure standard library, no side effects on import, deterministic for a given seed.

    render_dump(profile)                    -> the dump text of one profile dict
    make_corpus(n_profiles, seed, entries_per_profile)    -> [(file_name, text), ...]
    make_snapshots(n_profiles, seed, entries_per_profile, count) -> later snapshots of `count` profiles
    capture_time(profile_index, snapshot=False)           -> the UTC capture time the CLI gives a file

A profile dict holds the metrics `h_index`, `papers_reported`, `citations`, `novelty_pct`,
`ai_score` (optional `papers_heading`, default `papers_reported`), optional `captured_at`
(a date or datetime: entries dated in that year are printed without the year, as the site does) and
`entries`: dicts with `category`, `date` (datetime.date) or `date_text` (printed as is),
optional `show_year` (overrides the capture-year rule), `code_badge`, `title`, `authors` (the full
list; at most three are printed, then ` et al.`) or `authors_text` (printed as is), optional `tag`,
and `abstract`. Generated entries also carry `code_url` (the link named in the abstract, or None),
which the renderer does not print separately.
"""
from .corpus import SNAPSHOT_DEFAULT_COUNT, make_corpus, make_snapshots
from .render import capture_time, render_dump

__all__ = ["SNAPSHOT_DEFAULT_COUNT", "capture_time", "make_corpus", "make_snapshots", "render_dump"]
