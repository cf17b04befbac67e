"""Inbox and lake on object storage. A local S3 server (moto's server mode, on loopback) stands in for
S3; s3fs and delta-rs reach it through the standard AWS_* variables (delta-rs's own object store
writes the lake's Delta tables), and DuckDB reads the lake's files through the registered fsspec
filesystem (its httpfs extension can't be downloaded here, and isn't)."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pytest
import s3fs
from deltalake import DeltaTable

from core import identity
from flows import discover
from flows.cli import main
from flows.pipeline import ingest
from schemas.tables import TABLES
from store import extract, storage
from store.errors import UserError
from store.faults import CRASH_ENV
from store.settings import Settings
from tests.conftest import SAMPLE_NAME, UTC
from tests.test_crash import api_env
from tests.test_pipeline import later_snapshot
from tests.warehouse_state import DATA_TABLES, canonical, warehouse_tables
from warehouse import lake, load

pytestmark = pytest.mark.e2e   # moto's S3 server

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "make_dumps.py"
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


def make_dumps():
    """examples/make_dumps.py, imported by path (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("s3_make_dumps", EXAMPLES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    corpus = make_dumps().make_corpus(4, seed=11)
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


def run(home: Path, inbox, lake_dir=None) -> dict:
    return ingest(home=home, inbox=inbox, lake=None if lake_dir is None else str(lake_dir), settle_seconds=0)


def with_relative_sources(tables: dict, prefix: str) -> dict:
    """source_path names the inbox (a URL or a folder); the rest of it must be the same."""
    dumps = tables["dumps"].with_columns(tables["dumps"]["source_path"].str.strip_prefix(prefix))
    return tables | {"dumps": canonical(dumps)}


def lake_state(lake_dir: storage.Location) -> dict:
    return {t: canonical(lake.read_table(lake_dir, t)) for t in DATA_TABLES}


def assert_delta_lake(lake_dir: storage.Url) -> dict[str, pl.DataFrame]:
    """The lake holds one Delta table per warehouse table and nothing else (no run's _work/ scratch,
    no manifest), and no table holds a run that didn't reach its commit point. Returns the data
    tables as deltalake itself reads them (as any Delta reader would, with the options the
    environment gives), not through the lake module's reading code."""
    fs = storage.filesystem(lake_dir)
    assert sorted(storage.Url(fs.unstrip_protocol(p)).name for p in fs.ls(lake_dir, detail=False)) == sorted(TABLES)
    tables = {name: DeltaTable(lake_dir / name, storage_options=storage.object_store_options(lake_dir)) for name in TABLES}
    committed = lake.run_of(tables["runs"])
    assert committed and all(lake.run_of(table) <= committed for table in tables.values())
    return {name: canonical(pl.from_arrow(tables[name].to_pyarrow_table()).drop(lake.BUCKET, strict=False))
            for name in DATA_TABLES}


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name in got:
        assert got[name].equals(want[name]), name


def test_s3_inbox_and_lake_give_the_warehouse_of_a_local_run(prefect_harness, bucket, tmp_path, sample_text, s3_env):
    inbox, lake_dir = bucket / "inbox", bucket / "lake"
    fill_inbox(inbox, sample_text)
    local_inbox = mirror(inbox, tmp_path / "inbox")
    s3_home, local_home = tmp_path / "s3-home", tmp_path / "local-home"

    summary = run(s3_home, inbox, lake_dir)
    local = run(local_home, local_inbox)
    keys = ("dumps_seen", "dumps_new", "dumps_loaded", "dumps_partial", "dumps_quarantined", "waiting", "ignored",
            "files_read")
    assert {k: summary[k] for k in keys} == {k: local[k] for k in keys}
    assert (summary["dumps_new"], summary["dumps_quarantined"], summary["waiting"]) == (6, 1, 2)
    want = with_relative_sources(warehouse_tables(local_home), f"{local_inbox}/")
    assert_same(with_relative_sources(warehouse_tables(s3_home), f"{inbox}/"), want)
    assert_same(with_relative_sources(lake_state(lake_dir), f"{inbox}/"), want)
    assert not (s3_home / "lake").exists() and (s3_home / "raw").is_dir()   # state stays local, the lake doesn't

    assert_same(with_relative_sources(assert_delta_lake(lake_dir), f"{inbox}/"), want)
    stored = {url for url, _, _ in storage.list_files(lake_dir)}
    for name in TABLES:   # written by delta-rs: its log names files in the bucket (s3:// URLs), and it has a change feed
        table = lake.open_table(lake_dir, name)
        assert table.metadata().configuration["delta.enableChangeDataFeed"] == "true"
        assert set(table.file_uris()) <= stored and (table.file_uris() or name not in DATA_TABLES)

    again = run(s3_home, inbox, lake_dir)        # nothing new: files recognised by key, size and LastModified
    assert (again["dumps_new"], again["files_read"]) == (0, 0)
    assert_same(with_relative_sources(warehouse_tables(s3_home), f"{inbox}/"), want)

    later = sample_text.replace("h-index28", "h-index29").replace("1,945citations", "2,001citations")
    put(inbox / "later" / "001_7707062aadfcc580.txt", later)
    result = subprocess.run([str(BIN / "profile-etl"), "--home", str(s3_home), "run", "--inbox", inbox,
                             "--lake", lake_dir, "--settle-seconds", "0", "--json"],
                            env=cli_env(tmp_path, s3_env), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    latest = json.loads(result.stdout)
    assert (latest["dumps_new"], latest["dumps_loaded"], latest["files_read"]) == (1, 1, 1)
    with duckdb.connect(str(s3_home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT citations FROM profiles WHERE profile_key = '7707062aadfcc580'").fetchone() == (2001,)
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (3,)


def cli_env(tmp_path: Path, s3_env: dict) -> dict:
    """A `profile-etl` process of its own (its own Prefect home), told where S3 is by AWS_* only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PROFILE_ETL_", "AWS_"))}
    return env | s3_env | {"PREFECT_HOME": str(tmp_path / "prefect")}


def test_duckdb_reads_the_s3_lake_through_the_registered_filesystem(prefect_harness, bucket, tmp_path,
                                                                    sample_text, capsys):
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    run(home, inbox, lake_dir)
    loaded = warehouse_tables(home)
    (home / "warehouse.duckdb").unlink()
    assert main(["--home", str(home), "rebuild", "--lake", lake_dir]) == 0     # the warehouse from the lake alone
    assert_same(warehouse_tables(home), loaded)
    versions = lake.versions(lake_dir)
    assert main(["--home", str(home), "rebuild", "--from-raw", "--lake", lake_dir]) == 0   # the lake from raw/
    assert_same(warehouse_tables(home), loaded)
    assert_same(assert_delta_lake(lake_dir), loaded)
    # on object storage each table is overwritten in place: one commit more, same table
    assert {t: v + 1 for t, v in versions.items()} == lake.versions(lake_dir)
    assert all(lake.open_table(lake_dir, t).history(limit=1)[0]["operationParameters"]["mode"] == "Overwrite"
               for t in TABLES)
    assert main(["--home", str(home), "sql", "SELECT count(*) AS n FROM papers", "--format", "csv"]) == 0
    assert capsys.readouterr().out.endswith("n\n50\n")

    files = lake.open_table(lake_dir, "papers").file_uris()    # what a full load reads
    assert files and all(f.startswith(f"{lake_dir}/papers/{lake.BUCKET}=") for f in files)
    with load.connect(tmp_path / "probe.duckdb", lake=lake_dir) as con:
        assert con.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone() == (50,)
        httpfs = con.execute("SELECT loaded, installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'")
        assert httpfs.fetchall() == [(False, False)]
        with pytest.raises(duckdb.Error, match="httpfs"):   # a protocol nobody registered: no download attempt
            con.execute("SELECT * FROM read_parquet('gcs://elsewhere/x.parquet')").fetchall()

    # the same lake named s3a:// (as Spark names it): delta-rs names its files s3a://, and s3fs serves both
    alias = storage.Url("s3a://" + lake_dir.removeprefix("s3://"))
    aliased = lake.open_table(alias, "papers").file_uris()
    assert sorted(aliased) == sorted("s3a://" + f.removeprefix("s3://") for f in files)
    with load.connect(tmp_path / "probe-s3a.duckdb", lake=alias) as con:
        assert con.execute("SELECT count(*) FROM read_parquet(?)", [aliased]).fetchone() == (50,)


def test_fixed_sidecar_in_the_bucket_loads_on_reprocess(prefect_harness, bucket, tmp_path, sample_text):
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    put(inbox / "000_7707062aadfcc580.meta.json", '{"profile_key": "fixed"')
    assert run(home, inbox, lake_dir)["dumps_quarantined"] == 1
    put(inbox / "000_7707062aadfcc580.meta.json", '{"profile_key": "fixed"}')
    summary = ingest(home=home, inbox=inbox, lake=lake_dir, settle_seconds=0, reprocess=True)
    assert (summary["reprocessed"], summary["dumps_loaded"]) == (1, 1)     # read again from the bucket
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT profile_key, status, source_path FROM dumps").fetchall() == [
            ("fixed", "loaded", f"{inbox}/{SAMPLE_NAME}")]


def copy_lake(source: storage.Url, target: storage.Url) -> None:
    for url, _, _ in storage.list_files(source):
        put(target / url.removeprefix(source + "/"), storage.read_bytes(url))


@pytest.fixture(scope="module")
def crash_homes(s3_env, tmp_path_factory, sample_text, prefect_harness):
    """One S3 inbox; a home and lake holding its first dump (before the crashed run), and a home and
    lake after an uninterrupted second run that adds a later snapshot (expected)."""
    base, root = tmp_path_factory.mktemp("s3-crash"), storage.Url(f"s3://crash-{uuid.uuid4().hex[:12]}")
    storage.filesystem(root).mkdir(root)
    put(root / "inbox" / SAMPLE_NAME, sample_text)
    run(base / "before", root / "inbox", root / "before")
    put(root / "inbox" / "001_7707062aadfcc580.txt", later_snapshot(sample_text))
    shutil.copytree(base / "before", base / "expected")
    copy_lake(root / "before", root / "expected")
    run(base / "expected", root / "inbox", root / "expected")
    return base, root


@pytest.mark.parametrize("points", [["lake:committed:listings"], ["lake:committed:papers"], ["lake:committed:runs"],
                                    ["lake:committed:papers", "lake:restored:listings"]], ids="+".join)
def test_run_killed_while_committing_to_s3_then_rerun_equals_uninterrupted_run(points, crash_homes, tmp_path, s3_env):
    """Killed between two of its table commits (or, the last case, again while the next run restores
    the tables the dead run committed to), then run again: the lake and warehouse are those of an
    uninterrupted run, and the lake holds no scratch."""
    base, root = crash_homes
    home, lake_dir = tmp_path / "home", root / f"lake-{uuid.uuid4().hex[:8]}"
    shutil.copytree(base / "before", home)
    copy_lake(root / "before", lake_dir)
    for point in points:
        killed = subprocess.run([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", root / "inbox",
                                 "--lake", lake_dir, "--settle-seconds", "0"],
                                env=api_env() | s3_env | {CRASH_ENV: point}, capture_output=True, text=True,
                                timeout=300)
        assert killed.returncode == -9, f"the run was not killed at {point}: {killed.stderr}"
    assert lake_leftovers(lake_dir)   # the dead run left scratch, or commits past the last runs row
    run(home, root / "inbox", lake_dir)
    assert_same(warehouse_tables(home), warehouse_tables(base / "expected"))
    assert_same(lake_state(lake_dir), lake_state(root / "expected"))
    assert_same(assert_delta_lake(lake_dir), assert_delta_lake(root / "expected"))
    assert lake_leftovers(lake_dir) == []


def lake_leftovers(lake_dir: storage.Url) -> list[str]:
    """A run's scratch under _work/, and tables holding a run that never reached its commit point."""
    scratch = [url for url, _, _ in storage.list_files(lake_dir / lake.WORK)]
    committed = lake.run_of(lake.open_table(lake_dir, "runs"))
    return scratch + [t for t in TABLES if lake.run_of(lake.open_table(lake_dir, t)) > committed]


def test_an_s3_lake_in_the_format_before_delta_tables_is_refused(prefect_harness, bucket, tmp_path, sample_text,
                                                                 capsys):
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    put(lake_dir / lake.OLD_MANIFEST, json.dumps({"tables": {}}))
    assert main(["--home", str(home), "run", "--inbox", inbox, "--lake", lake_dir, "--settle-seconds", "0"]) == 2
    assert "rebuild --from-raw" in capsys.readouterr().err
    assert [url.name for url, _, _ in storage.list_files(lake_dir)] == [lake.OLD_MANIFEST]   # nothing written


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


def test_dumps_and_sidecars_are_read_from_s3_within_the_size_limit(bucket, sample_text, monkeypatch):
    raw = sample_text.encode()
    plain = put(bucket / "inbox/000_a.txt", raw)
    packed = put(bucket / "inbox/000_a.txt.gz", gzip.compress(raw))
    assert extract.read_dump(plain, len(raw)).dump_id == extract.read_dump(packed, len(raw)).dump_id == identity.dump_id(raw)

    too_big = extract.read_dump(plain, len(raw) - 1)
    assert too_big.refused.startswith("the dump is larger than the size limit") and too_big.dump_id == identity.dump_id(raw)

    noise = os.urandom(8 * storage.READ_BLOCK_BYTES)     # incompressible: the .gz is as large as its content
    bomb = put(bucket / "inbox/000_b.txt.gz", gzip.compress(noise))
    caches, open_read = [], storage.open_read

    def recording_open(loc):   # keeps each handle's read cache, which counts the bytes fetched
        handle = open_read(loc)
        caches.append(handle.cache)
        return handle
    monkeypatch.setattr(storage, "open_read", recording_open)
    refused = extract.read_dump(bomb, storage.READ_BLOCK_BYTES)
    assert "gzip bomb" in refused.refused
    assert refused.dump_id == hashlib.sha256(storage.read_bytes(bomb)).hexdigest()   # the bytes as stored
    # Reading stopped near the limit: two 1 MB chunks decompressed, plus a block read ahead.
    assert caches[0].total_requested_bytes <= 4 * storage.READ_BLOCK_BYTES

    put(bucket / "inbox/000_a.meta.json", json.dumps({"profile_key": "from-sidecar"}))
    assert extract.read_sidecar(plain).profile_key == "from-sidecar"
    put(bucket / "inbox/000_a.meta.json", "{not json")
    with pytest.raises(identity.SidecarError, match="000_a.meta.json is not valid JSON"):
        extract.read_sidecar(plain)


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


def test_delta_storage_options_come_from_the_aws_variables(monkeypatch, tmp_path):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ALLOW_HTTP", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AWS_S3_ALLOW_UNSAFE_RENAME"):
        monkeypatch.delenv(name, raising=False)
    url = storage.Url("s3://bucket/lake")
    assert storage.object_store_options(tmp_path / "lake") is None                       # a local lake needs none
    assert storage.object_store_options(url) == {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}    # AWS itself: delta-rs's defaults
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.example.com")
    assert storage.object_store_options(url) == {"AWS_S3_ALLOW_UNSAFE_RENAME": "true", "AWS_REGION": "eu-west-1",
                                         "AWS_ENDPOINT_URL": "https://s3.example.com"}   # https: no plain http
    monkeypatch.setenv("AWS_REGION", "eu-central-1")                 # the AWS SDKs' order: AWS_REGION first
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")   # the S3 endpoint wins over the global one
    assert storage.object_store_options(url) == {"AWS_S3_ALLOW_UNSAFE_RENAME": "true", "AWS_REGION": "eu-central-1",
                                         "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true"}


def test_s3_without_s3fs_is_a_clear_user_error(monkeypatch, tmp_path, capsys):
    registry = sys.modules["fsspec.registry"]._registry      # fsspec.registry is also the name of a mapping
    monkeypatch.delitem(registry, "s3", raising=False)       # as if s3fs had never been installed
    monkeypatch.setitem(sys.modules, "s3fs", None)
    assert main(["--home", str(tmp_path), "run", "--inbox", "s3://bucket/inbox"]) == 2
    assert "pip install 'profile-etl[s3]'" in capsys.readouterr().err


def test_a_missing_bucket_is_named_before_the_run(bucket, tmp_path, capsys):
    assert main(["--home", str(tmp_path), "run", "--inbox", "s3://no-such-bucket/inbox"]) == 2
    assert "inbox s3://no-such-bucket/inbox is not a folder (or its bucket doesn't exist)" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "run", "--inbox", bucket / "inbox", "--lake", "s3://no-such-bucket/lake"]) == 2
    assert "the bucket of lake s3://no-such-bucket/lake doesn't exist" in capsys.readouterr().err
