"""Identities of SPEC §3: dumps, profiles, capture times, papers, authors. Pure functions."""
from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

SIDECAR_SUFFIX = ".meta.json"
SIDECAR_KEYS = {"profile_key", "captured_at", "owner_name", "source_url"}
_NON_ALNUM = re.compile(r"[\W_]+")
# A profile's key is its dump's file-name stem without a leading `<digits>_` (unless that leaves nothing).
DEFAULT_KEY_PATTERN = r"(?:\d+_)?(?P<key>.+)"
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
    ignored: tuple[str, ...] = ()   # the sidecar's other keys, which nothing reads (validate names them)


def dump_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# A .gz refused unread is known by the hash of its stored bytes after this prefix: unsalted, a
# plain text misnamed .gz would take the id of the same text named .txt, and keep it from loading.
REFUSED_GZ_SALT = b"profile-etl: a .gz refused unread\n"


def stored_hashes(chunks, gz: bool) -> tuple[str, str | None]:
    """The SHA-256 of a file's bytes as stored, and for a .gz its salted one (REFUSED_GZ_SALT)."""
    plain, salted = hashlib.sha256(), hashlib.sha256(REFUSED_GZ_SALT) if gz else None
    for chunk in chunks:
        plain.update(chunk)
        if salted is not None:
            salted.update(chunk)
    return plain.hexdigest(), salted.hexdigest() if salted is not None else None


def refused_id(stem: str, plain: str, salted: str | None) -> str:
    """A refused dump's id: the salted hash for a .gz, except for a raw/ copy already named by its
    plain hash (stored before the salt), which keeps that id."""
    return salted if salted is not None and stem != plain else plain


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


# C0 and C1 controls, DEL, and the bidirectional overrides: a name or a dump's text that holds them
# would drive the terminal (clear it, set its title, write the clipboard) or reorder what it shows.
_CONTROLS = {code: f"\\x{code:02x}" for code in [*range(32), 0x7F, *range(0x80, 0xA0)]} | {
    code: f"\\u{code:04x}" for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def shown(text: str) -> str:
    """Text from a dump, a file name or a sidecar as a message or a table shows it: printable, with
    its control characters written as escapes."""
    return printable(text).translate(_CONTROLS)


def key_pattern(text: str = DEFAULT_KEY_PATTERN) -> re.Pattern:
    """A file-name rule for profile keys: a regular expression with a group named `key`, matched
    against the whole stem (the name without .txt or .txt.gz); `.` matches any character, a newline
    too (names may hold one). ValueError says what is wrong."""
    try:
        pattern = re.compile(text, re.DOTALL)
    except re.error as exc:
        raise ValueError(f"`{text}` is not a regular expression: {exc}") from None
    if "key" not in pattern.groupindex:
        raise ValueError(f"`{text}` has no group named key: write the part that names the profile as (?P<key>...)")
    return pattern


DEFAULT_KEY = key_pattern()


def profile_key_from_name(path: Path | str, pattern: re.Pattern = DEFAULT_KEY) -> str | None:
    """The profile key the file's stem gives by the rule, or None if the stem doesn't match it."""
    stem = printable(dump_stem(Path(path) if isinstance(path, str) else path))
    match = pattern.fullmatch(stem)
    return match["key"] if match and match["key"] else None


def unnamed_reason(path: Path | str, pattern: re.Pattern) -> str:
    """Why a dump without a sidecar key has no profile key: its name doesn't match the rule."""
    stem = printable(dump_stem(Path(path) if isinstance(path, str) else path))
    return (f"the file name {stem!r} gives no profile key by the rule `{pattern.pattern}` "
            "(PROFILE_ETL_PROFILE_KEY_PATTERN: a regular expression whose group `key` names the profile, "
            "matched against the whole name without .txt): fix the rule or give profile_key in a sidecar, "
            "then run with --reprocess")


def sidecar_path(path: Path) -> Path:
    return path.with_name(dump_stem(path) + SIDECAR_SUFFIX)


def parse_timestamp(value: str) -> dt.datetime:
    """ISO 8601 to an aware UTC datetime; a naive time is taken as UTC."""
    stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc)


SIDECAR_FIX = "fix the sidecar, then reprocess the dump"


def parse_sidecar(raw: bytes, name: str) -> Sidecar:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:   # bad UTF-8 or JSON, a number too long, nesting too deep
        why = "is nested too deeply" if isinstance(exc, RecursionError) else f"is not valid JSON: {exc}"
        raise SidecarError(f"sidecar {name} {why}; {SIDECAR_FIX}") from None
    if not isinstance(data, dict):
        raise SidecarError(f"sidecar {name} must hold a JSON object, not {type(data).__name__}; {SIDECAR_FIX}")
    refuse_misspelled_keys(data, name)
    fields = {k: None if data.get(k) == "" else data.get(k) for k in SIDECAR_KEYS}   # "": not given
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise SidecarError(f"sidecar {name}: {key} must be a string, not {type(value).__name__}; {SIDECAR_FIX}")
        if value is not None and printable(value) != value:
            raise SidecarError(f"sidecar {name}: {key} is not valid Unicode text: {printable(value)!r}; {SIDECAR_FIX}")
    if fields["captured_at"] is not None:
        try:
            fields["captured_at"] = parse_timestamp(fields["captured_at"])
        except (ValueError, OverflowError):
            raise SidecarError(
                f"sidecar {name}: captured_at {data['captured_at']!r} is not an ISO 8601 time "
                f"such as 2026-06-01T12:00:00Z; {SIDECAR_FIX}") from None
    return Sidecar(**fields, ignored=tuple(sorted(str(k) for k in data if k not in SIDECAR_KEYS)))


def unread_keys_note(side: str, keys: tuple[str, ...], explained: bool = True) -> str:
    """What `validate` and a run's log say of a sidecar's keys that nothing reads."""
    named = [shown(key) + (f" ({meant}?)" if (meant := likely_meant(key)) else "") for key in keys]
    return f"{shown(side)}: keys not read: {', '.join(named)}" + (f" ({KEYS_READ})" if explained else "")


def likely_meant(key: str) -> str | None:
    """The sidecar key that `key` is probably a misspelling of (`capture_at`, `owner_nmae`), if any."""
    folded = {_folded(k): k for k in SIDECAR_KEYS}
    close = difflib.get_close_matches(_folded(key), list(folded), n=1, cutoff=0.85)
    return folded[close[0]] if close else None


KEYS_READ = f"a sidecar's keys are {', '.join(sorted(SIDECAR_KEYS))}; others are ignored"


def refuse_misspelled_keys(data: dict, name: str) -> None:
    """A key that is one of SIDECAR_KEYS but for case and separators (`capturedAt`) would silently
    leave its field to the fallback (the file's time, its name): refused, unless the key itself is
    there too (a scraper writing both spellings) or it holds nothing. Other keys are the scraper's
    own, and ignored."""
    for key, value in data.items():
        meant = next((k for k in SIDECAR_KEYS if _folded(k) == _folded(str(key))), None)
        if meant is not None and key != meant and meant not in data and value not in ("", None):
            raise SidecarError(f"sidecar {name}: key {key!r} is not read; the field is spelt {meant!r}; {SIDECAR_FIX}")


def _folded(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch.isalnum())
