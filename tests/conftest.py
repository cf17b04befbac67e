"""Shared fixtures: the real sample (read from ../shared), dump writers, a Prefect test harness."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "profile_dump_seed.txt"
SAMPLE_NAME = "000_7707062aadfcc580.txt"
UTC = dt.timezone.utc


def write_dump(folder: Path, name: str, content: str | bytes, captured: dt.datetime) -> Path:
    """A dump file whose mtime (the capture time when there is no sidecar) is `captured`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    os.utime(path, (captured.timestamp(), captured.timestamp()))
    return path


def pytest_configure(config):
    """No telemetry from the tests' Prefect servers either: set before any of them starts."""
    from flows.schedule import OFFLINE_ENV
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def sample_text() -> str:
    if not SAMPLE.exists():
        pytest.fail(f"the real sample is expected at {SAMPLE} (../shared beside the repo)")
    return SAMPLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def run_ingest(prefect_harness):
    """Run the real flow once on (home, inbox) and return its summary."""
    from flows.pipeline import ingest

    def run(home: Path, inbox: Path) -> dict:
        return ingest(home=home, inbox=inbox, settle_seconds=0)
    return run
