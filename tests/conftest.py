"""Shared fixtures: the real sample (read from ../shared), dump writers, a Prefect test harness."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis profiles: `full` (the default, what `make test` runs) and `fast` (`make test-fast`,
# `--hypothesis-profile fast`): a tenth of each property test's examples, for the edit loop.
settings.register_profile("full", max_examples=100)
settings.register_profile("fast", max_examples=10)
settings.load_profile("full")

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "profile_dump_seed.txt"
SAMPLE_NAME = "000_7707062aadfcc580.txt"
UTC = dt.timezone.utc


def examples(count: int) -> int:
    """A property test's number of examples under the loaded Hypothesis profile (`count` in `full`)."""
    return max(count * settings().max_examples // 100, 5)


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


def pytest_collection_modifyitems(items):
    """A test that runs the flow in-process (on Prefect's test harness) is of the `flow` tier."""
    for item in items:
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.flow)


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


KEY, OTHER = "7707062aadfcc580", "aaaabbbbccccdddd"


@pytest.fixture(scope="session")
def two_profile_home(tmp_path_factory, sample_text, prefect_harness) -> Path:
    """A home built once per session, for tests that only read it (or copy it first): the sample,
    another profile, then a later snapshot of the sample's profile, in two runs."""
    from flows.pipeline import ingest
    from tests.dumps import FIRST, LATER, later_snapshot, other_profile
    base = tmp_path_factory.mktemp("two-profiles")
    write_dump(base / "inbox", SAMPLE_NAME, sample_text, FIRST)
    write_dump(base / "inbox", f"000_{OTHER}.txt", other_profile(sample_text), FIRST)
    ingest(home=base / "home", inbox=base / "inbox", settle_seconds=0)
    write_dump(base / "inbox", f"001_{KEY}.txt", later_snapshot(sample_text), LATER)
    ingest(home=base / "home", inbox=base / "inbox", settle_seconds=0)
    return base / "home"


@pytest.fixture
def run_ingest(prefect_harness):
    """Run the real flow once on (home, inbox) and return its summary."""
    from flows.pipeline import ingest

    def run(home: Path, inbox: Path) -> dict:
        return ingest(home=home, inbox=inbox, settle_seconds=0)
    return run
