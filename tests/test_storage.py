"""Inbox and lake locations: local folders or S3 URLs from flags and the environment, delta-rs's
options from the AWS variables, and S3 inboxes scanned and read by the local rules (those on moto's
S3 server are of the e2e tier)."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import sys

import pytest

from core import identity
from flows import discover
from flows.cli import main
from store import dump_file, extract, storage
from store.errors import UserError
from store.settings import Settings
from tests.s3_server import bucket, fill_inbox, mirror, put, s3_env  # noqa: F401  (fixtures)


@pytest.mark.e2e
def test_scan_of_an_s3_inbox_follows_the_local_rules(bucket, tmp_path, sample_text):
    inbox = bucket / "inbox"
    fill_inbox(inbox, sample_text)
    local = discover.scan_inbox(mirror(inbox, tmp_path / "inbox"), settle_seconds=0)
    found = discover.scan_inbox(inbox, settle_seconds=0)

    def relative(files, prefix):
        return sorted((str(f.path).removeprefix(prefix), f.size, f.mtime_ns) for f in files)
    assert relative(found.ready, f"{inbox}/") == relative(local.ready, f"{tmp_path / 'inbox'}/")
    assert sorted(u.name for u in found.waiting) == [".010_hidden.txt", "010_upload.txt.part"]
    assert [u.name for u in found.ignored] == ["notes.csv"] == [p.name for p in local.ignored]
    assert all(isinstance(f.path, storage.Url) for f in found.ready)

    newest = max(f.mtime_ns for f in found.ready) / 1e9
    settling = discover.scan_inbox(inbox, settle_seconds=60, now=newest + 1)   # LastModified is the mtime
    assert not settling.ready and len(settling.waiting) == len(found.ready) + 2


@pytest.mark.e2e
def test_dumps_and_sidecars_are_read_from_s3_within_the_size_limit(bucket, sample_text, monkeypatch):
    raw = sample_text.encode()
    plain = put(bucket / "inbox/000_a.txt", raw)
    packed = put(bucket / "inbox/000_a.txt.gz", gzip.compress(raw))
    assert dump_file.read_dump(plain, len(raw)).dump_id == dump_file.read_dump(packed, len(raw)).dump_id == identity.dump_id(raw)

    too_big = dump_file.read_dump(plain, len(raw) - 1)
    assert too_big.refused.startswith("the dump is larger than the size limit") and too_big.dump_id == identity.dump_id(raw)

    noise = os.urandom(8 * storage.READ_BLOCK_BYTES)     # incompressible: the .gz is as large as its content
    bomb = put(bucket / "inbox/000_b.txt.gz", gzip.compress(noise))
    caches, open_read = [], storage.open_read

    def recording_open(loc):   # keeps each handle's read cache, which counts the bytes fetched
        handle = open_read(loc)
        caches.append(handle.cache)
        return handle
    monkeypatch.setattr(storage, "open_read", recording_open)
    refused = dump_file.read_dump(bomb, storage.READ_BLOCK_BYTES)
    assert "gzip bomb" in refused.refused
    assert refused.dump_id == hashlib.sha256(identity.REFUSED_GZ_SALT + storage.read_bytes(bomb)).hexdigest()   # as stored
    # Reading stopped near the limit: two 1 MB chunks decompressed, plus a block read ahead.
    assert caches[0].total_requested_bytes <= 4 * storage.READ_BLOCK_BYTES

    put(bucket / "inbox/000_a.meta.json", json.dumps({"profile_key": "from-sidecar"}))
    assert dump_file.read_sidecar(plain).profile_key == "from-sidecar"
    put(bucket / "inbox/000_a.meta.json", "{not json")
    with pytest.raises(identity.SidecarError, match="000_a.meta.json is not valid JSON"):
        dump_file.read_sidecar(plain)


@pytest.mark.e2e
def test_an_s3_object_replaced_after_the_listing_is_left_for_the_next_run(bucket, tmp_path, sample_text):
    """The listing gives the capture time (LastModified) and the file index key: a dump read under
    them must be the object listed, not a later one put under the same key."""
    from core.records import SourceFile
    path = put(bucket / "inbox/000_p.txt", sample_text.encode())
    big = put(bucket / "inbox/001_q.txt", sample_text.encode() * 2)   # over the limit: refused, hashed unread
    [listed, listed_big] = [SourceFile(url, size, mtime) for url, size, mtime in storage.list_files(bucket / "inbox")]
    put(path, sample_text.replace("h-index28", "h-index99999").encode())
    put(big, sample_text.encode() * 3)
    stamp = {"run_id": "20260602T000000Z-aaaa", "ingested_at": dt.datetime.now(dt.timezone.utc)}
    limit = len(sample_text.encode()) + 10
    batch = extract.extract_batch([listed, listed_big], set(), tmp_path / "raw", limit, stamp, 0)
    assert not batch.dumps and not batch.files
    assert len(batch.unread) == 2 and all("replaced since the run listed it" in why for why in batch.unread)
    relisted = [SourceFile(url, size, mtime) for url, size, mtime in storage.list_files(bucket / "inbox")]
    batch = extract.extract_batch(relisted, set(), tmp_path / "raw", limit, stamp, 0)
    raw = sample_text.encode()
    assert [row["byte_size"] for row in batch.dumps] == [len(raw) + 3, 3 * len(raw)]   # the replacements


def test_locations_from_flags_and_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PROFILE_ETL_INBOX", "s3://bucket/inbox/")
    monkeypatch.setenv("PROFILE_ETL_LAKE", "s3://bucket/lake")
    settings = Settings.load(home=tmp_path)
    assert (settings.inbox, settings.lake) == ("s3://bucket/inbox", "s3://bucket/lake")
    assert isinstance(settings.inbox, storage.Url) and settings.lake / "papers/x.parquet" == "s3://bucket/lake/papers/x.parquet"
    assert Settings.load(home=tmp_path, lake=str(tmp_path / "lk")).lake == tmp_path / "lk"
    monkeypatch.delenv("PROFILE_ETL_LAKE")
    assert Settings.load(home=tmp_path).lake == tmp_path / "lake"       # the local default is unchanged
    with pytest.raises(UserError, match="must be a local folder"):
        Settings.load(home="s3://bucket/home")


def test_a_dask_run_sends_its_workers_absolute_paths(monkeypatch, tmp_path):
    """Workers run in folders of their own: a relative --home or --inbox would name other folders there
    (raw/ copies written where no one looks)."""
    from flows import pipeline, run_commands
    from flows.arguments import parser
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    called = {}

    def flow(**params):
        called.update(params)
        raise KeyboardInterrupt   # enough: the parameters are what is checked
    monkeypatch.setattr(pipeline, "ingest_flow", lambda address: flow)
    settings = Settings.load(home="h", inbox="in", lake="s3://bucket/lake", dask_address="tcp://127.0.0.1:1")
    assert run_commands.run_ingest(settings, parser().parse_args(["run"])) == 130
    assert (called["home"], called["inbox"], called["lake"]) == (tmp_path / "h", tmp_path / "in", "s3://bucket/lake")
    assert Settings.load(home="h").lake == tmp_path / "h" / "lake"


def test_a_dask_run_without_a_lasting_prefect_server_is_refused(monkeypatch, tmp_path, capsys):
    """Its workers would each start a temporary server of their own, which outlives them."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import main
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    (tmp_path / "in").mkdir()
    with temporary_settings(updates={PREFECT_API_URL: None}):   # whatever server other tests started
        assert main(["--home", str(tmp_path / "h"), "run", "--inbox", str(tmp_path / "in"),
                     "--dask-address", "tcp://127.0.0.1:1"]) == 2
    assert "--dask-address needs a lasting Prefect server" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_object_store_options_come_from_the_aws_variables(monkeypatch, tmp_path):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ALLOW_HTTP", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AWS_S3_ALLOW_UNSAFE_RENAME", "AWS_FORCE_CREDENTIAL_LOAD"):
        monkeypatch.delenv(name, raising=False)
    url = storage.Url("s3://bucket/lake")
    assert storage.object_store_options(tmp_path / "lake") is None                       # a local lake needs none
    assert storage.object_store_options(url) == {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}    # AWS itself: delta-rs's defaults
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.example.com")
    assert storage.object_store_options(url) == {"AWS_S3_ALLOW_UNSAFE_RENAME": "true", "AWS_REGION": "eu-west-1",
                                         "AWS_ENDPOINT_URL": "https://s3.example.com",   # https: no plain http
                                         "AWS_FORCE_CREDENTIAL_LOAD": "true"}   # a profile's keys too
    monkeypatch.setenv("AWS_REGION", "eu-central-1")                 # the AWS SDKs' order: AWS_REGION first
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")   # the S3 endpoint wins over the global one
    assert storage.object_store_options(url) == {"AWS_S3_ALLOW_UNSAFE_RENAME": "true", "AWS_REGION": "eu-central-1",
                                         "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true",
                                         "AWS_FORCE_CREDENTIAL_LOAD": "true"}


def test_s3_without_s3fs_is_a_clear_user_error(monkeypatch, tmp_path, capsys):
    registry = sys.modules["fsspec.registry"]._registry      # fsspec.registry is also the name of a mapping
    monkeypatch.delitem(registry, "s3", raising=False)       # as if s3fs had never been installed
    monkeypatch.setitem(sys.modules, "s3fs", None)
    assert main(["--home", str(tmp_path), "run", "--inbox", "s3://bucket/inbox"]) == 2
    assert "pip install 'profile-etl[s3]'" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_missing_bucket_is_named_before_the_run(bucket, tmp_path, capsys):
    assert main(["--home", str(tmp_path), "run", "--inbox", "s3://no-such-bucket/inbox"]) == 2
    assert "inbox s3://no-such-bucket/inbox is not a folder (or its bucket doesn't exist)" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "run", "--inbox", bucket / "inbox", "--lake", "s3://no-such-bucket/lake"]) == 2
    assert "the bucket of lake s3://no-such-bucket/lake doesn't exist" in capsys.readouterr().err


def test_a_flush_syncs_each_local_file_system_once(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(storage, "_syncfs", synced.append)
    (tmp_path / "raw").mkdir()
    (tmp_path / "lake").mkdir()
    storage.flush_to_disk(tmp_path / "raw", tmp_path / "lake", tmp_path / "missing", storage.Url("s3://bucket/lake"))
    assert synced == [tmp_path / "raw"]
    storage._syncfs(tmp_path / "raw")   # the real call works here
