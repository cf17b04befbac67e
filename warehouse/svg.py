"""Small inline SVG charts for the HTML report: no scripts, no network, readable as plain markup."""
from __future__ import annotations

from html import escape

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
WIDTH, HEIGHT, PAD = 560, 220, 40


def _frame(title: str, body: list[str], legend: list[tuple[str, str]]) -> str:
    keys = "".join(f'<span class="key"><i style="background:{c}"></i>{escape(n)}</span>' for n, c in legend)
    return (f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
            f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
            f'<div class="legend">{keys}</div></figure>')


def _axes(labels: list[str], top: float | None) -> list[str]:
    """Axes with x labels; y labels only when all series share the scale `top`."""
    parts = [f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 10}" y2="{HEIGHT - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>']
    if top is not None:
        parts += [f'<text x="{PAD - 4}" y="16" text-anchor="end" font-size="10">{top:g}</text>',
                  f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end" font-size="10">0</text>']
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0:
            parts.append(f'<text x="{_x(i, len(labels)):.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle" '
                         f'font-size="10">{escape(label)}</text>')
    return parts


def _x(i: int, n: int) -> float:
    return PAD + (WIDTH - PAD - 20) * ((i + 0.5) / max(n, 1))


def _y(value: float, top: float, bottom: float = 0.0) -> float:
    span = top - bottom
    return HEIGHT - PAD - (HEIGHT - PAD - 10) * ((value - bottom) / span if span else 0.5)


def line_chart(title: str, labels: list[str], values: list[float | None], name: str) -> str:
    """One series over the labels, its y axis spanning the series' own range so growth shows."""
    known = [v for v in values if v is not None] or [0]
    margin = (max(known) - min(known)) * 0.1 or max(abs(max(known)) * 0.1, 1)
    top, bottom = max(known) + margin, min(known) - margin
    points = [(_x(i, len(labels)), _y(v, top, bottom), v) for i, v in enumerate(values) if v is not None]
    body = _axes(labels, None) + [
        f'<text x="{PAD - 4}" y="{_y(max(known), top, bottom) + 4:.1f}" text-anchor="end" font-size="10">{max(known):g}</text>',
        f'<text x="{PAD - 4}" y="{_y(min(known), top, bottom) + 4:.1f}" text-anchor="end" font-size="10">{min(known):g}</text>',
        f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="2" '
        f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)}"/>']
    body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[0]}"><title>{escape(name)}: {v:g}</title></circle>'
             for x, y, v in points]
    return _frame(title, body, [(name, PALETTE[0])])


def stacked_bars(title: str, labels: list[str], stacks: dict[str, list[float]]) -> str:
    totals = [sum(col) for col in zip(*stacks.values())] or [0]
    top = max(totals + [1])
    width = (WIDTH - PAD - 20) / max(len(labels), 1) * 0.7
    body, legend, base = _axes(labels, top), [], [0.0] * len(labels)
    for k, (name, values) in enumerate(stacks.items()):
        color = PALETTE[k % len(PALETTE)]
        for i, v in enumerate(values):
            if v:
                y0, y1 = _y(base[i], top), _y(base[i] + v, top)
                body.append(f'<rect x="{_x(i, len(labels)) - width / 2:.1f}" y="{y1:.1f}" width="{width:.1f}" '
                            f'height="{y0 - y1:.1f}" fill="{color}"><title>{escape(labels[i])} {escape(name)}: '
                            f'{v:g}</title></rect>')
                base[i] += v
        legend.append((name, color))
    return _frame(title, body, legend)


def horizontal_bars(title: str, labels: list[str], values: list[float]) -> str:
    top = max(values + [1])
    row = (HEIGHT - 20) / max(len(labels), 1)
    body = []
    for i, (label, value) in enumerate(zip(labels, values)):
        y, w = 10 + i * row, (WIDTH - 200) * value / top
        body.append(f'<text x="180" y="{y + row * 0.65:.1f}" text-anchor="end" font-size="11">{escape(label)}</text>'
                    f'<rect x="186" y="{y + row * 0.15:.1f}" width="{w:.1f}" height="{row * 0.7:.1f}" '
                    f'fill="{PALETTE[0]}"><title>{escape(label)}: {value:g}</title></rect>'
                    f'<text x="{190 + w:.1f}" y="{y + row * 0.65:.1f}" font-size="11">{value:g}</text>')
    return _frame(title, body, [])
