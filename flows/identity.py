"""Identities of SPEC §3: dumps, profiles, capture times, papers, authors. Pure functions."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

SIDECAR_SUFFIX = ".meta.json"
SIDECAR_KEYS = {"profile_key", "captured_at", "owner_name", "source_url"}
_NON_ALNUM = re.compile(r"[\W_]+")
_LEADING_ORDINAL = re.compile(r"\d+_")
# ASCII letters and digits lower-cased, every other ASCII character a space (what `_NON_ALNUM`
# and casefold do to ASCII text)
_ASCII_FOLD = {code: chr(code).lower() if chr(code).isalnum() else " " for code in range(128)}


class SidecarError(ValueError):
    """The sidecar exists but can't be used; its dump is quarantined with this reason."""


@dataclass(frozen=True)
class Sidecar:
    profile_key: str | None = None
    captured_at: dt.datetime | None = None
    owner_name: str | None = None
    source_url: str | None = None


def dump_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def normalise_text(text: str) -> str:
    """NFKC, case-folded, runs of non-alphanumerics collapsed to one space, trimmed."""
    if text.isascii():   # the same result, about twice as fast: ASCII is its own NFKC form
        return " ".join(text.translate(_ASCII_FOLD).split())
    return _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def stable_id(text: str) -> str:
    return id_of_normalised(normalise_text(text))


def id_of_normalised(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def dump_stem(path: Path) -> str:
    name = path.name
    for suffix in (".txt.gz", ".gz", ".txt"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def printable(text: str) -> str:
    """Text that can be stored: bytes of a non-UTF-8 file name (surrogate escapes) become `\\xNN`."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def profile_key_from_name(path: Path) -> str:
    stem = printable(dump_stem(path))
    match = _LEADING_ORDINAL.match(stem)
    return stem[match.end():] if match and match.end() < len(stem) else stem


def sidecar_path(path: Path) -> Path:
    return path.with_name(dump_stem(path) + SIDECAR_SUFFIX)


def parse_timestamp(value: str) -> dt.datetime:
    """ISO 8601 to an aware UTC datetime; a naive time is taken as UTC."""
    stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc)


def parse_sidecar(raw: bytes, name: str) -> Sidecar:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"sidecar {name} is not valid JSON: {exc}; fix the sidecar, then reprocess the dump") from None
    if not isinstance(data, dict):
        raise SidecarError(f"sidecar {name} must hold a JSON object, not {type(data).__name__}")
    fields = {k: data.get(k) for k in SIDECAR_KEYS}
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise SidecarError(f"sidecar {name}: {key} must be a string")
        if value is not None and printable(value) != value:
            raise SidecarError(f"sidecar {name}: {key} is not valid Unicode text: {printable(value)!r}")
    if fields["captured_at"] is not None:
        try:
            fields["captured_at"] = parse_timestamp(fields["captured_at"])
        except (ValueError, OverflowError):
            raise SidecarError(
                f"sidecar {name}: captured_at {data['captured_at']!r} is not an ISO 8601 time "
                "such as 2026-06-01T12:00:00Z; fix the sidecar, then reprocess the dump") from None
    return Sidecar(**fields)
