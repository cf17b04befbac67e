"""The report's charts, drawn by matplotlib as inline SVG: text stays text, nothing is loaded from
anywhere, and every axis has ticks, gridlines and a stated baseline."""
from __future__ import annotations

import datetime as dt
import io
from html import escape

from matplotlib import rc_context
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

STYLE = {"svg.fonttype": "none", "font.size": 9, "font.family": "sans-serif", "axes.grid": True,
         "grid.color": "#dddddd", "axes.spines.top": False, "axes.spines.right": False,
         "axes.axisbelow": True, "svg.hashsalt": "profile-etl",
         "text.parse_math": False}   # names and titles are text: a `$` in one is not TeX
SIZE = (5.6, 2.5)
LINE = "#4e79a7"
PARTIAL_HATCH = "////"


def figure_html(title: str, fig: Figure, note: str = "") -> str:
    """A titled figure holding the chart's SVG (and a note on its axes)."""
    buffer = io.StringIO()
    with rc_context(STYLE):
        # no making time in the SVG: the page says what data it shows, and one warehouse gives one page
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):].replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)
    caption = escape(title) + (f' <small>{escape(note)}</small>' if note else "")
    return f'<figure class="chart"><figcaption>{caption}</figcaption>{svg}</figure>'


def new_axes() -> tuple[Figure, object]:
    with rc_context(STYLE):
        fig = Figure(figsize=SIZE)
        return fig, fig.add_subplot()


def over_time(title: str, times: list[dt.datetime], values: list[float | None], label: str) -> str:
    """A metric at each capture, on a time axis, from zero."""
    with rc_context(STYLE):
        fig, ax = new_axes()
        ax.plot(times, values, marker="o", color=LINE)
        ax.set_ylim(bottom=0, top=max([v for v in values if v is not None] + [1]) * 1.1)
        if times and max(times) - min(times) < dt.timedelta(days=14):   # one capture, or a few days apart
            ax.set_xlim(min(times) - dt.timedelta(days=7), max(times) + dt.timedelta(days=7))
        locator = AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_ylabel(label)
    return figure_html(title, fig, "y axis from 0; one point per capture")


def stacked_years(title: str, years: list[int], series: dict[str, list[int]], colors: dict[str, str],
                  partial_year: int | None, as_of: dt.date | None) -> str:
    """Counts per year stacked by series (a colour each); the year still going on is hatched."""
    with rc_context(STYLE):
        fig, ax = new_axes()
        bottom = [0] * len(years)
        for name, counts in series.items():
            bars = ax.bar(years, counts, bottom=bottom, color=colors[name], label=name, width=0.8)
            for year, bar in zip(years, bars):
                if year == partial_year:
                    bar.set_hatch(PARTIAL_HATCH)
                    bar.set_edgecolor("white")
            bottom = [b + c for b, c in zip(bottom, counts)]
        ax.set_xticks(years, [f"{y}*" if y == partial_year else str(y) for y in years])
        ax.set_ylim(bottom=0, top=max(bottom + [1]) * 1.1)
        ax.set_ylabel("papers")
        ax.yaxis.get_major_locator().set_params(integer=True)
        if series:   # a profile whose snapshots list no entries has none: no legend, not matplotlib's warning
            ax.legend(ncols=min(len(series), 6), fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0))
    note = "y axis from 0"
    if partial_year in years and as_of is not None:
        note += f"; * {partial_year} up to the capture of {as_of:%Y-%m-%d} (hatched)"
    return figure_html(title, fig, note)


LABEL_CHARACTERS = 60   # a name from a dump may be any length; drawing a long one takes minutes


def short_label(text: str) -> str:
    return text if len(text) <= LABEL_CHARACTERS else text[:LABEL_CHARACTERS - 1] + "…"


def ranked_bars(title: str, labels: list[str], values: list[int], unit: str, empty: str = "none") -> str:
    """Horizontal bars, largest first; without any, the `empty` text says why."""
    with rc_context(STYLE):
        fig, ax = new_axes()
        ax.barh(range(len(values)), values[::-1], color=LINE)   # by position: two labels may read alike once cut
        ax.set_yticks(range(len(values)), [short_label(label) for label in labels[::-1]])
        if not values:
            ax.set_yticks([])
            ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, wrap=True)
        ax.set_xlim(left=0, right=max(values + [1]) * 1.1)
        ax.set_xlabel(unit)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return figure_html(title, fig, "x axis from 0")
