"""A flow served as `Flow.serve` serves it (Prefect's Runner), but stopped at once when its Prefect server
doesn't answer: Prefect's runner would retry the gone server for one to two and a half minutes to pause
the deployment's schedule, printing each log upload that failed."""
from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
import urllib.error
import urllib.request

from prefect.runner import Runner

ANSWER_SECONDS = 2.0   # how long a stop waits for the server's health check


class StoppedAtOnceIfServerGone(Runner):
    def handle_sigterm(self, *args, **kwargs) -> None:
        end_if_server_gone()
        if not self.started and not self.stopping:   # serve_flow pauses the schedule then
            raise KeyboardInterrupt
        super().handle_sigterm(*args, **kwargs)


def serve_flow(flow, name: str, **deployment) -> None:
    """Serve `flow` as the deployment `name` (Runner.add_flow's arguments) until SIGINT or SIGTERM, as
    Flow.serve does with pause_on_shutdown and a limit of one run at a time."""
    runner = StoppedAtOnceIfServerGone(name=name, pause_on_shutdown=True, limit=1)
    deployment_id = runner.add_flow(flow, name=name, **deployment)
    previous = {sig: signal.signal(sig, runner.handle_sigterm) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"profile-etl: serving the deployment '{flow.name}/{name}' (`prefect deployment run "
          f"'{flow.name}/{name}'` starts a run now); Ctrl-C stops it", flush=True)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:   # stopped before the runner started, which would have paused the schedule
        paused(deployment_id)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def paused(deployment_id) -> None:
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        client.pause_deployment(deployment_id)


def end_if_server_gone() -> None:
    """At a stop: if the Prefect server doesn't answer, nothing can pause the schedule, so say so and end."""
    from flows.prefect_env import api_url
    api = api_url() or ""
    if server_answers(api):
        return
    print(f"profile-etl: serve stopped without pausing its schedule: the Prefect server at {api} doesn't "
          "answer (its runs wait for the next `serve` of this home)", file=sys.stderr, flush=True)
    os._exit(1)


def server_answers(api: str) -> bool:
    """Whether anything answers at the API's health endpoint (an HTTP error or a TLS handshake is an answer too)."""
    try:
        with urllib.request.urlopen(f"{api.rstrip('/')}/health", timeout=ANSWER_SECONDS):
            return True
    except urllib.error.HTTPError:
        return True
    except urllib.error.URLError as exc:   # a TLS handshake this check can't verify (Prefect's own certificates)
        return isinstance(exc.reason, ssl.SSLError)
    except (OSError, ValueError):
        return False
