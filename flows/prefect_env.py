"""How the command line sets Prefect up: offline and quiet, with clean exits of its temporary
server, and no flow-run heartbeats unless asked."""
from __future__ import annotations

import hashlib
import os
import re
from contextlib import nullcontext
from pathlib import Path

from store.home_id import home_id

# Offline, quiet and clean exits for Prefect's temporary server; set before prefect is imported.
PREFECT_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # The temporary server's task-run recorder writes once, at its stop: a periodic flush cancelled
    # by that stop printed an `Error flushing N events` traceback (a killed run's task runs go unrecorded).
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "1000",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "60",  # whole seconds: the server int()s it
    # Every log still reaches the API (the UI, `prefect flow-run logs`); the terminal shows the run's
    # own progress and one line of result or failure, and Prefect's tracebacks only with --verbose.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    # Automations are a lasting server's business; the temporary server lives for one run, and
    # starts faster without the triggers service.
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    # The temporary server's first start on a machine migrates its database, and a busy machine
    # slows it further, past Prefect's 20 s default.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # Without PREFECT_API_URL a run uses the temporary server, which Prefect only allows in its own
    # `ephemeral` profile: a profile of the user's (`prefect profile create`) made every run fail.
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
}
# Prefect's older name of a setting: the user's value under it is theirs to keep.
OLDER_NAMES = {"PREFECT_SERVER_EPHEMERAL_ENABLED": "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"}


def use_prefect_env() -> None:
    """PREFECT_ENV, unless the environment says otherwise; before prefect is imported."""
    for key, value in PREFECT_ENV.items():
        if OLDER_NAMES.get(key, key) not in os.environ:
            os.environ.setdefault(key, value)


def home_digest(home: Path) -> str:
    """A hash of the home's path and id: what tells its names on a Prefect server (deployment, artifact
    key, runs' tag) from another home's, a copy of it elsewhere, or a home at its path on another machine."""
    key = str(home) if (own := home_id(home)) is None else f"{home}\0{own}"
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def home_label(home: Path) -> str:
    """A home's name on a Prefect server (artifact key, runs' tag): its folder's name and path hash."""
    name = re.sub(r"[^a-z0-9]+", "-", home.name.lower()).strip("-")[:40]
    return f"{name}-{home_digest(home)}" if name else home_digest(home)


def run_tags(home: Path) -> list[str]:
    """The tags of a home's flow runs, by which Prefect's UI filters one home's runs on a shared server."""
    return ["profile-etl", f"home:{home_label(home)}"]


def api_url() -> str | None:
    """The lasting Prefect server's API the command's runs report to, None for the temporary server:
    PREFECT_API_URL from the environment, or from where else Prefect reads it (the active profile of
    `prefect config set` or `prefect profile use`, a prefect.toml, a .env). After use_prefect_env."""
    if url := os.environ.get("PREFECT_API_URL"):
        return url
    from prefect.settings import get_current_settings
    return get_current_settings().api.url or None


def unwritable_prefect_home() -> str | None:
    """Why PREFECT_HOME, where the temporary server keeps its database, can't be written; None if it
    can (Prefect itself retries for minutes, then says only that its server didn't start)."""
    return unwritable(prefect_home())


def unwritable_database() -> str | None:
    """Why the folder of a SQLite PREFECT_SERVER_DATABASE_CONNECTION_URL can't be written; None if it
    can, or if the database is another kind or the default one (in PREFECT_HOME)."""
    url = os.environ.get("PREFECT_SERVER_DATABASE_CONNECTION_URL") or os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL")
    if not url or not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0].replace("${PREFECT_HOME}", str(prefect_home()))
    return None if path in ("", ":memory:") else unwritable(Path(os.path.expanduser(path)).parent)


def broken_logging_settings() -> str | None:
    """Why the logging settings file PREFECT_LOGGING_SETTINGS_PATH names can't be read as YAML; None
    if it can or there is none (Prefect's import fails on it with a traceback that names no file)."""
    named = os.environ.get("PREFECT_LOGGING_SETTINGS_PATH") or os.environ.get("PREFECT_LOGGING_CONFIG_PATH")
    path = Path(os.path.expanduser(named)) if named else None
    if path is None or not path.is_file():   # Prefect then uses its own
        return None
    import string

    import yaml
    try:
        yaml.safe_load(string.Template(path.read_text()).safe_substitute(os.environ))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return f"{path}: {' '.join(str(exc).split())}"
    return None


def prefect_home() -> Path:
    return Path(os.path.expanduser(os.environ.get("PREFECT_HOME") or "~/.prefect"))


def unwritable(folder: Path) -> str | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"{folder}: {exc.strerror or exc}"
    return None if os.access(folder, os.W_OK | os.X_OK) else f"{folder}: not writable"


def without_heartbeats():
    """Flow-run heartbeats are off unless the environment sets PREFECT_FLOWS_HEARTBEAT_FREQUENCY (a
    Prefect profile's value is overridden): the flow waits for its heartbeat thread, which sleeps in
    whole seconds, at the end of every run."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    if os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        return nullcontext()
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
