"""The command's process state: Prefect set up for it, its temporary server's start, its
last words to a script (`run --json`)."""
from __future__ import annotations

import json
import os
import time

from flows import cancel_watch, guard, limits
from flows.prefect_env import (api_url, broken_logging_settings, unwritable_database, unwritable_prefect_home,
                               use_prefect_env)
from store import storage
from store.errors import UserError
from store.settings import Settings

STARTED = time.monotonic()   # a run's summary gives the wall time the user waited, Prefect's start included
# guarded: set by `entry` (in-process callers of main start no watchdog); api_gone: Prefect's API stopped answering;
# server: the temporary server's start, until the flow may use it
COMMAND = {"watchdog": None, "guarded": False, "api_gone": False, "server": None}


def print_failure(args, status: str, exit_code: int, error: str | None = None, run_id: str | None = None) -> None:
    """`run --json` that ends without a summary still prints one JSON object, for the script reading
    it: run_id names the run's `failed` row in `runs`, when the run got that far."""
    if args.command == "run" and args.json:
        print(json.dumps({"status": status, "exit_code": exit_code, "error": error, "run_id": run_id}), flush=True)


def prepare_prefect(settings: Settings, verbose: bool = False) -> None:
    """Prefect set up for a command that runs the flow, its settings and the home's folders checked
    first (a clear refusal, not a failure seconds into Prefect's start); the temporary server started."""
    if COMMAND["guarded"]:   # from here, before Prefect's import (seconds), which a SIGTERM would end unsaid
        guard.terminate_as_interrupt()
    if verbose:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO"
    limits.refuse_low_limits()   # before Prefect starts: too few open files hang it, too little address space aborts
    use_prefect_env()
    if why := broken_logging_settings():
        raise UserError(f"Prefect's logging settings file (PREFECT_LOGGING_SETTINGS_PATH) isn't YAML it can read ({why}): "
                        "correct it, or unset PREFECT_LOGGING_SETTINGS_PATH for Prefect's own")
    lasting = api_url()   # from the environment or a Prefect profile
    if not lasting and (why := unwritable_prefect_home()):
        raise UserError(f"Prefect's temporary server keeps its database in PREFECT_HOME, which can't be written "
                        f"({why}): set PREFECT_HOME to a writable folder, or PREFECT_API_URL to a lasting server")
    if not lasting and (why := unwritable_database()):
        raise UserError(f"Prefect's temporary server keeps its database where PREFECT_SERVER_DATABASE_CONNECTION_URL "
                        f"says, which can't be written ({why}): correct it, or unset it to keep it in PREFECT_HOME")
    if COMMAND["guarded"]:   # the processes Prefect starts for this command end with it
        if lasting:   # a lasting server's UI may cancel this command's runs
            cancel_watch.ENABLED.append(True)
        if not lasting:   # a lasting server is no child of the run
            COMMAND["watchdog"] = guard.watch_children()
    if not storage.reachable(settings.inbox):
        raise UserError(f"inbox {settings.inbox} is not a folder (or its bucket doesn't exist): "
                        "create it or pass --inbox DIR")
    if storage.is_url(settings.lake) and not storage.reachable(settings.lake):
        raise UserError(f"the bucket of lake {settings.lake} doesn't exist: create it or pass --lake")
    if COMMAND["guarded"] and not lasting:
        COMMAND["server"] = guard.start_temporary_server()


def server_ready() -> None:
    """The temporary server this command started has answered (or its start failed, raised here):
    the flow must not find it half started, which Prefect would take for started."""
    starting, COMMAND["server"] = COMMAND["server"], None
    if starting is not None:
        starting.result()
