"""JSON for scripts: dates and times as ISO 8601 (`2026-01-02T03:04:05+00:00`), as JSON readers expect."""
from __future__ import annotations

import datetime as dt
import json


def iso_or_text(value) -> str:
    return value.isoformat() if isinstance(value, (dt.date, dt.time)) else str(value)


def dumps(data, **options) -> str:
    return json.dumps(data, default=iso_or_text, indent=1, **options)
