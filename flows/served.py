"""A flow served as `Flow.serve` serves it (Prefect's Runner), but stopped at once when its Prefect server
doesn't answer: Prefect's runner would retry the gone server for one to two and a half minutes to pause
the deployment's schedule, printing each log upload that failed. And its deployment made again when the
server no longer has it."""
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
    Flow.serve does with pause_on_shutdown and a limit of one run at a time. The schedule is paused here,
    not by the runner, which would also pause a deployment the server lost (Kept), and fail on it."""
    runner = StoppedAtOnceIfServerGone(name=name, pause_on_shutdown=False, limit=1)
    kept = Kept(runner, flow, name, deployment)
    previous = {sig: signal.signal(sig, runner.handle_sigterm) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"profile-etl: serving the deployment '{flow.name}/{name}' (`prefect deployment run "
          f"'{flow.name}/{name}'` starts a run now); Ctrl-C stops it", flush=True)
    try:
        asyncio.run(served(runner, kept))
    except KeyboardInterrupt:   # stopped before the runner started
        pass
    finally:   # also at a second Ctrl-C while stopping (the runner's sys.exit) and when the runner failed
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        pause_schedule(f"{flow.name}/{name}")


async def served(runner: Runner, kept: "Kept") -> None:
    """The runner started, its deployment kept on the server while it serves."""
    keeping = asyncio.create_task(kept.keep(runner.query_seconds))
    try:
        await runner.start()
    finally:
        keeping.cancel()


class Kept:
    """A served deployment made again when its server no longer has it (its database was reset, or a new
    server answers at its address): else the runner polls for runs of a deployment nothing schedules."""

    def __init__(self, runner: Runner, flow, name: str, deployment: dict) -> None:
        self.runner, self.flow, self.name, self.deployment = runner, flow, name, deployment
        self.id = runner.add_flow(flow, name=name, **deployment)

    async def keep(self, every: float) -> None:
        import httpx
        from prefect.client.orchestration import get_client
        async with get_client() as client:
            while True:
                await asyncio.sleep(every)
                try:
                    if not await self.on_server(client):
                        await self.again()
                except (httpx.TransportError, httpx.HTTPStatusError):   # a server down: the runner's poll says so
                    continue
                except Exception as exc:   # said, and tried again next poll: the serve goes on serving
                    print(f"profile-etl: couldn't check or make the deployment again ({type(exc).__name__}: {exc})",
                          file=sys.stderr, flush=True)

    async def on_server(self, client) -> bool:
        from prefect.exceptions import ObjectNotFound
        try:
            await client.read_deployment(self.id)
        except ObjectNotFound:
            return False
        return True

    async def again(self) -> None:
        from flows.prefect_env import api_url
        self.id = await self.runner.aadd_flow(self.flow, name=self.name, **self.deployment)
        print(f"profile-etl: the Prefect server at {api_url()} no longer had the deployment '{self.flow.name}/"
              f"{self.name}' (its database was reset, or another server answers there): made it again, its "
              "schedule goes on (the runs it showed before are gone from Prefect; `profile-etl history` keeps them)",
              flush=True)


def pause_schedule(deployment: str) -> None:
    """The deployment's schedule paused, found by name (the server may have lost the id it had, Kept);
    when the server doesn't answer, or the pause fails, said in a line: its runs wait for the next serve."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from flows.prefect_env import api_url
    if not server_answers(api := api_url() or ""):
        print(not_paused(api), file=sys.stderr, flush=True)
        return
    try:
        with get_client(sync_client=True) as client:
            client.pause_deployment(client.read_deployment_by_name(deployment).id)
    except ObjectNotFound:   # the server lost it: no schedule left to pause
        return
    except Exception as exc:   # the stop goes on: what it stopped for is what the caller must see
        print(f"profile-etl: serve stopped without pausing its schedule ({type(exc).__name__}: {exc}): pause "
              f"it in Prefect's UI, or serve this home again", file=sys.stderr, flush=True)


def end_if_server_gone() -> None:
    """At a stop: if the Prefect server doesn't answer, nothing can pause the schedule, so say so and end."""
    from flows.prefect_env import api_url
    api = api_url() or ""
    if server_answers(api):
        return
    print(not_paused(api), file=sys.stderr, flush=True)
    os._exit(1)


def not_paused(api: str) -> str:
    return (f"profile-etl: serve stopped without pausing its schedule: the Prefect server at {api} doesn't "
            "answer (its runs wait for the next `serve` of this home)")


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
