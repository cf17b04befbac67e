"""A profile dict to its dump text, in the format of SPEC §2 (see the package's docstring)."""
from __future__ import annotations

import datetime as dt

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
CAPTURE_BASE = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
SNAPSHOT_DELAY = dt.timedelta(days=14)
CAPTURE_SPAN_HOURS = 4000   # 2026-06-01 + 4,000 h + 14 days: before 2026-12


def format_date(date: dt.date, show_year: bool = True) -> str:
    """`Mon D` or `Mon D, YYYY`."""
    text = f"{MONTHS[date.month - 1]} {date.day}"
    return f"{text}, {date.year}" if show_year else text


def format_authors(authors: list[str], tag: str | None = None) -> str:
    """At most three names joined by ', ', then ' et al.' when there are more; ' · tag' suffix."""
    text = ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")
    return f"{text} · {tag}" if tag else text


def _capture_year(profile: dict) -> int | None:
    captured = profile.get("captured_at")
    return captured.year if isinstance(captured, (dt.date, dt.datetime)) else None


def render_entry(entry: dict, capture_year: int | None = None) -> str:
    if "date_text" in entry:
        date_text = entry["date_text"]
    else:
        date = entry["date"]
        show_year = entry.get("show_year")
        if show_year is None:
            show_year = capture_year is None or date.year != capture_year
        date_text = format_date(date, show_year)
    head = f"{entry['category']}{date_text}{'Code' if entry.get('code_badge') else ''}"
    authors = entry["authors_text"] if "authors_text" in entry else format_authors(entry["authors"], entry.get("tag"))
    return f"{head}\n{entry['title']}\n\n{authors}\n\n{entry['abstract']}"


def render_dump(profile: dict) -> str:
    """The dump text of a profile: metric lines, blank, `N Papers`, blank, entries separated by a
    blank line. LF line endings, no trailing newline."""
    heading = profile.get("papers_heading", profile["papers_reported"])
    header = "\n".join([
        f"h-index{profile['h_index']}",
        f"{profile['papers_reported']}papers",
        f"{profile['citations']:,}citations",
        f"Novelty{profile['novelty_pct']}%",
        f"AI Score{profile['ai_score']}",
        "",
        f"{heading} Papers",
    ])
    year = _capture_year(profile)
    blocks = [header] + [render_entry(entry, year) for entry in profile["entries"]]
    return "\n\n".join(blocks)


def capture_time(profile_index: int, snapshot: bool = False) -> dt.datetime:
    """Capture time of a profile's dump: 2026-06-01T00:00Z plus `profile_index` hours (counted again
    from 0 every 4,000 profiles, so that no corpus reaches into the future), and 14 days later for
    its later snapshot."""
    hours = profile_index % CAPTURE_SPAN_HOURS
    return CAPTURE_BASE + dt.timedelta(hours=hours) + (SNAPSHOT_DELAY if snapshot else dt.timedelta())
