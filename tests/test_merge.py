"""A table's merge in parts (ranges of key buckets, one commit each) gives the rows one merge
gives; a retried merge skips the parts that committed and writes the rest."""
from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pytest

from flows import batch, merge
from schemas.tables import TABLES, polars_schema
from tests.test_lake import commit
from warehouse import lake, lake_files, recovery

SEEN = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def observations(count: int, title: str, day: int) -> pl.DataFrame:
    """Paper observations of `count` papers spread over every key bucket, captured on `day`."""
    ids = [hashlib.sha256(str(i).encode()).hexdigest()[:16] for i in range(count)]
    when = SEEN + dt.timedelta(days=day)
    schema = polars_schema(TABLES["papers"])
    rows = pl.DataFrame({"paper_id": ids}).with_columns(
        [pl.lit(None, dtype).alias(c) for c, dtype in schema.items() if c != "paper_id"])
    rows = rows.with_columns(title=pl.lit(title) + pl.col("paper_id"), first_seen_at=pl.lit(when),
                             last_seen_at=pl.lit(when), last_seen_dump_id=pl.lit(f"dump{day}"),
                             year_inferred=pl.lit(False), has_code_badge=pl.lit(False), authors_truncated=pl.lit(False),
                             category=pl.lit("LG"), published_on=pl.lit(dt.date(2025, 1, 1)))   # the model's NOT NULLs
    return rows.cast(schema).with_columns(author_ids=pl.concat_list(pl.lit("a") + pl.col("paper_id").str.slice(0, 4)))


def with_new_authors(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(author_ids=pl.concat_list(pl.lit("b") + pl.col("paper_id")))


def merged_into(lake_dir, frames: list[pl.DataFrame], work) -> pl.DataFrame:
    for day, frame in enumerate(frames):
        seq = recovery.recover(lake_dir)
        target = work / f"{day}.parquet"
        batch.write_observations(frame, "papers", target)
        merge.merge_table(merge.TableMerge(lake_dir, "papers", [target], seq, "test-run"))
        commit(lake_dir, seq, f"run{day}")
    return lake.read_table(lake_dir, "papers").sort("paper_id")


def test_parts_cover_every_key_once():
    keys = pl.DataFrame({"k": [f"{b:02x}{'0' * 14}" for b in range(256)] + [f"{b:02x}{'f' * 14}" for b in range(256)]})
    for count in (2, 4, 16, 256):
        held = [keys.filter(merge.Part(i, count).holds("k")).height for i in range(count)]
        assert sum(held) == keys.height and len(set(held)) == 1


def test_a_merge_in_parts_gives_the_rows_of_one_merge(tmp_path, monkeypatch):
    frames = [observations(300, "first ", 0), observations(400, "second ", 1)]
    whole = merged_into(tmp_path / "one", frames, tmp_path)
    monkeypatch.setattr(merge, "PART_BYTES", 1)   # as many parts as buckets
    assert len(merge.plan_parts(merge.TableMerge(tmp_path / "one", "papers", [tmp_path / "1.parquet"], 9, "test-run"))) == 256
    monkeypatch.setattr(merge, "PART_BYTES", 8192)   # 4 parts
    parted = merged_into(tmp_path / "parts", frames, tmp_path)
    assert parted.equals(whole) and whole.height == 400
    assert whole.filter(pl.col("first_seen_at") == SEEN).height == 300   # seen in the first run too
    assert whole["title"].str.starts_with("second ").all()
    assert lake.open_table(tmp_path / "parts", "papers").version() > lake.open_table(tmp_path / "one", "papers").version()
    authorship = [lake.read_table(tmp_path / home, "paper_authors").sort("paper_id", "position") for home in ("parts", "one")]
    assert authorship[0].equals(authorship[1]) and authorship[0].height == 400


def test_a_retried_merge_writes_only_the_parts_that_had_not_committed(tmp_path, monkeypatch):
    monkeypatch.setattr(merge, "PART_BYTES", 8192)   # 4 parts
    merged_into(tmp_path, [observations(300, "first ", 0)], tmp_path)
    seq = recovery.recover(tmp_path)
    target = tmp_path / "later.parquet"
    batch.write_observations(observations(300, "later ", 1), "papers", target)
    job = merge.TableMerge(tmp_path, "papers", [target], seq, "test-run")
    parts = merge.plan_parts(job)
    merge.merge_part(job, parts[0])               # the run died after its first part's commit
    version = lake.open_table(tmp_path, "papers").version()
    merge.merge_table(job)                        # and ran again: one commit for each other part
    keys = pl.read_parquet(target).select("paper_id")
    holding = [p for p in parts[1:] if keys.filter(p.holds("paper_id")).height]
    assert lake.open_table(tmp_path, "papers").version() == version + len(holding) and len(holding) > 2
    assert lake.read_table(tmp_path, "papers")["title"].str.starts_with("later ").all()


def test_a_retried_merge_counts_the_rows_its_first_try_added(tmp_path, monkeypatch):
    monkeypatch.setattr(merge, "PART_BYTES", 8192)   # 4 parts
    merged_into(tmp_path, [observations(300, "first ", 0)], tmp_path)
    seq = recovery.recover(tmp_path)
    target = tmp_path / "more.parquet"
    batch.write_observations(observations(600, "more ", 1), "papers", target)   # the 300 and 300 new
    job = merge.TableMerge(tmp_path, "papers", [target], seq, "test-run")
    first_try = merge.merge_part(job, merge.plan_parts(job)[0])   # then the task failed
    assert 0 < first_try["papers"] < 300
    assert merge.merge_table(job) == {"papers": 300, "paper_authors": 300}   # the retry
    assert lake.read_table(tmp_path, "papers").height == 600


def test_a_part_that_committed_is_skipped_when_its_run_writes_it_again(tmp_path):
    seq = recovery.recover(tmp_path)
    first, second = (pl.DataFrame([("00aa", 1, a)], schema=polars_schema(TABLES["paper_authors"]), orient="row")
                     for a in ("a1", "a2"))
    lake.upsert(tmp_path, "paper_authors", first, seq, "test-run", new_keys_only=True, part="profile-etl/2.0")
    lake.upsert(tmp_path, "paper_authors", second, seq, "test-run", part="profile-etl/2.0")   # a retried part
    assert lake.read_table(tmp_path, "paper_authors")["author_id"].to_list() == ["a1"]
    lake.upsert(tmp_path, "paper_authors", second, seq, "test-run", part="profile-etl/2.1")   # a part not yet written
    assert lake.read_table(tmp_path, "paper_authors")["author_id"].to_list() == ["a2"]


def test_a_run_that_died_between_two_parts_is_rolled_back_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(merge, "PART_BYTES", 8192)   # 4 parts
    before = merged_into(tmp_path, [observations(300, "first ", 0)], tmp_path)
    authors_before = lake.read_table(tmp_path, "paper_authors").sort("paper_id", "position")
    version, authorship = (lake.open_table(tmp_path, name).version() for name in ("papers", "paper_authors"))
    dead = recovery.recover(tmp_path)
    target = tmp_path / "later.parquet"
    batch.write_observations(with_new_authors(observations(300, "later ", 1)), "papers", target)
    job = merge.TableMerge(tmp_path, "papers", [target], dead, "test-run")
    keys = pl.read_parquet(target).select("paper_id")
    for part in [p for p in merge.plan_parts(job) if keys.filter(p.holds("paper_id")).height][:3]:
        merge.merge_part(job, part)                 # three parts committed, then the run died
    assert lake.open_table(tmp_path, "papers").version() == version + 3
    assert lake.open_table(tmp_path, "paper_authors").version() == authorship + 3
    assert recovery.target_versions(tmp_path)["papers"] == version   # a load doesn't see the dead run
    assert recovery.recover(tmp_path) == dead + 1
    assert lake.read_table(tmp_path, "papers").sort("paper_id").equals(before)
    assert lake.read_table(tmp_path, "paper_authors").sort("paper_id", "position").equals(authors_before)


def test_a_retry_after_paper_authors_failed_rewrites_them(tmp_path, monkeypatch):
    """papers committed, paper_authors raised (Prefect retries the task): the retry's stored papers
    rows tie with its observations, which must win so that the capture's authors are written."""
    merged_into(tmp_path, [observations(300, "first ", 0)], tmp_path)
    seq = recovery.recover(tmp_path)
    later = with_new_authors(observations(300, "later ", 1))
    target = tmp_path / "later.parquet"
    batch.write_observations(later, "papers", target)
    upsert = lake.upsert

    def failing(lake_dir, name, *args, **kwargs):
        if name == "paper_authors":
            raise OSError("the object store went away")
        return upsert(lake_dir, name, *args, **kwargs)

    monkeypatch.setattr(lake, "upsert", failing)
    with pytest.raises(OSError):
        merge.merge_table(merge.TableMerge(tmp_path, "papers", [target], seq, "test-run"))
    monkeypatch.setattr(lake, "upsert", upsert)
    merge.merge_table(merge.TableMerge(tmp_path, "papers", [target], seq, "test-run"))   # the retry
    assert lake.read_table(tmp_path, "paper_authors")["author_id"].str.starts_with("b").all()


def test_a_retry_plans_the_parts_its_first_try_planned(tmp_path, monkeypatch):
    """The first parts' commits make their partitions much smaller: planned on the table as it is
    now, the retry would cut other parts (and find no part tags to skip by)."""
    longer = observations(300, "", 0).with_columns(                # titles of 32 kB that hardly compress
        title=pl.col("paper_id").map_elements(lambda k: "".join(hashlib.sha512(f"{k}{i}".encode()).hexdigest()
                                                                for i in range(256)), pl.String))
    merged_into(tmp_path, [longer], tmp_path)
    seq = recovery.recover(tmp_path)
    target = tmp_path / "later.parquet"
    batch.write_observations(observations(300, "short ", 1), "papers", target)
    job = merge.TableMerge(tmp_path, "papers", [target], seq, "test-run")
    keys = pl.read_parquet(target)["paper_id"]
    stored = lake_files.partition_bytes(lake.open_table(tmp_path, "papers"), keys) * merge.STORED_WEIGHT
    monkeypatch.setattr(merge, "PART_BYTES", (stored + target.stat().st_size) / 5)   # 8 parts
    first = merge.plan_parts(job)
    for part in first[:6]:
        merge.merge_part(job, part)
    assert len(first) == 8 and merge.plan_parts(job) == first
    assert len(merge.plan_parts(merge.TableMerge(tmp_path, "papers", [target], seq + 1, "test-run"))) < 8   # a new run's plan


def test_a_merge_into_a_table_its_rebuild_emptied_plans_on_its_observations_alone(tmp_path, monkeypatch):
    """A rebuild in place empties a mutable table with a commit of its own seq: its merge is no retry,
    and the rows the table held before count for nothing."""
    longer = observations(300, "", 0).with_columns(
        title=pl.col("paper_id").map_elements(lambda k: "".join(hashlib.sha512(f"{k}{i}".encode()).hexdigest()
                                                                for i in range(256)), pl.String))
    merged_into(tmp_path, [longer], tmp_path)
    seq = recovery.recover(tmp_path)
    lake.overwrite(tmp_path, "papers", lake.read_table(tmp_path, "papers").clear(), seq, "test-run")
    target = tmp_path / "later.parquet"
    batch.write_observations(observations(300, "short ", 1), "papers", target)
    monkeypatch.setattr(merge, "PART_BYTES", target.stat().st_size)   # one part for the observations alone
    assert len(merge.plan_parts(merge.TableMerge(tmp_path, "papers", [target], seq, "test-run"))) > 1   # planned as a retry
    assert len(merge.plan_parts(merge.TableMerge(tmp_path, "papers", [target], seq, "test-run", emptied=True))) == 1
