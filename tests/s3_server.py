"""A local S3 server for the tests (moto's server mode, on loopback), the fixtures that point s3fs
and delta-rs at it through the standard AWS_* variables, and helpers that fill a bucket."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import s3fs

from core import identity
from examples import dumpgen
from store import storage
from tests.conftest import SAMPLE_NAME, UTC

CAPTURED = dt.datetime(2026, 6, 3, 12, tzinfo=UTC)


# moto's server, on a free loopback port, in a process of its own: some deltalake calls (DeltaTable.history)
# hold the GIL while they wait for S3, which a server thread in the test process would then never answer.
# It prints its address, and stops when its stdin closes (also when the test process dies).
MOTO_SERVER = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # else one log line per request
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("%s:%s" % server.get_host_and_port(), flush=True)
sys.stdin.read()
server.stop()
"""


@pytest.fixture(scope="module")
def s3_env():
    """A moto S3 server, and the AWS_* variables that point s3fs and delta-rs at it."""
    server = subprocess.Popen([sys.executable, "-c", MOTO_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        address = server.stdout.readline().strip()
        assert address, "the moto server did not start"
        env = {"AWS_ENDPOINT_URL": f"http://{address}", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        with pytest.MonkeyPatch.context() as patch:
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_ALLOW_HTTP",
                         "AWS_S3_ALLOW_UNSAFE_RENAME"):
                patch.delenv(name, raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            s3fs.S3FileSystem.clear_instance_cache()  # an instance keeps the endpoint it was made with
            yield env
            s3fs.S3FileSystem.clear_instance_cache()
    finally:
        server.stdin.close()
        server.wait(timeout=60)


@pytest.fixture
def bucket(s3_env) -> storage.Url:
    url = storage.Url(f"s3://test-{uuid.uuid4().hex[:12]}")
    storage.filesystem(url).mkdir(url)
    return url



def put(url: storage.Url, data: bytes | str) -> storage.Url:
    storage.write_bytes(url, data.encode() if isinstance(data, str) else data)
    return url


def mirror(inbox_url: storage.Url, folder: Path) -> Path:
    """The bucket's inbox as a local folder: same names, bytes and modification times (LastModified)."""
    prefix = inbox_url + "/"
    for url, _, mtime_ns in storage.list_files(inbox_url):
        if url.endswith("/"):
            continue   # a folder marker: the folder comes with its files
        path = folder / url.removeprefix(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(storage.read_bytes(url))
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return folder


def fill_inbox(inbox: storage.Url, sample_text: str) -> None:
    """The real sample, synthetic profiles (one in a sub-folder, one gzipped, one with a sidecar), a
    dump that gets quarantined, and files a run must not read yet or at all."""
    put(inbox / SAMPLE_NAME, sample_text)
    corpus = dumpgen.make_corpus(4, seed=11)
    for index, (name, text) in enumerate(corpus[:2]):
        put(inbox / (f"2026-06/{name}" if index else name), text)
    put(inbox / (corpus[2][0] + ".gz"), gzip.compress(corpus[2][1].encode(), mtime=0))
    put(inbox / corpus[3][0], corpus[3][1])
    put(inbox / (identity.dump_stem(Path(corpus[3][0])) + ".meta.json"),
        json.dumps({"captured_at": CAPTURED.isoformat(), "owner_name": "Side Car"}))
    put(inbox / "009_binary.txt", b"\x00\x01 not text")
    put(inbox / "010_upload.txt.part", sample_text)
    put(inbox / ".010_hidden.txt", sample_text)
    put(inbox / ".staging/011_staged.txt", sample_text)
    put(inbox / "notes.csv", "not,a,dump\n")
    put(storage.Url(f"{inbox}/2026-06/"), b"")   # a folder marker, as the S3 console makes
