"""Validated raw records to the tables of SPEC §4 (polars; no prefect, no duckdb).

Append-only tables (dumps, profile_snapshots, listings, rejects) get this run's new rows.
Mutable tables (papers, authors, paper_authors, profiles) are merged with their current state:
each row is the latest observation by (capture time, dump_id), so the result does not depend on
the order in which dumps arrive, and incremental runs equal a rebuild.
"""
from __future__ import annotations

import polars as pl

from core import identity
from core.parse import METRICS
from schemas.raw import RawEntry
from schemas.tables import REGISTRY, TABLES, polars_schema

# the papers columns an entry gives as parsed (the rest are ids and capture times)
PAPER_FIELDS = [c for c in polars_schema(TABLES["papers"]) if c in polars_schema(RawEntry)]


def ids(texts: pl.Series) -> pl.Series:
    """Stable ids of texts, hashing each distinct text once."""
    distinct = texts.unique()
    return texts.replace_strict(distinct, stable_ids(distinct), return_dtype=pl.String)


def stable_ids(texts: pl.Series) -> list[str]:
    """identity.stable_id of each text. ASCII texts are folded by polars (lower-cased, each run of
    other characters one space, trimmed: identity's ASCII rule), so only the hash is Python's."""
    ascii_only = ~texts.str.contains(r"[^\x00-\x7f]")
    folded = texts.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", " ").str.strip_chars(" ")
    return [identity.id_of_normalised(fold) if plain else identity.stable_id(text)
            for text, fold, plain in zip(texts, folded, ascii_only)]


def identifiable(texts: pl.Series) -> pl.Series:
    """Whether identity.normalise_text leaves anything of each text, i.e. whether its id is not the
    empty text's. ASCII texts by polars (an ASCII letter or digit); the rest in Python, once each."""
    ascii_only = ~texts.str.contains(r"[^\x00-\x7f]")
    others = texts.filter(ascii_only.not_()).unique()
    kept = others.filter(pl.Series([identity.normalise_text(text) != "" for text in others], dtype=pl.Boolean))
    return (ascii_only & texts.str.contains(r"[A-Za-z0-9]")) | texts.is_in(kept.implode())


def all_identifiable(lists: pl.Series) -> pl.Series:
    """Whether every text of each list is identifiable (an empty list is)."""
    names = pl.DataFrame({"name": lists}).with_row_index("row").explode("name", empty_as_null=True)
    names = names.with_columns(ok=identifiable(names["name"]).fill_null(True))
    return names.group_by("row", maintain_order=True).agg(pl.col("ok").all())["ok"]


def observe(dumps: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    captures = dumps.select("dump_id", "profile_key", "captured_at")
    return (entries.join(captures, on="dump_id", how="inner", maintain_order="left")
            .with_columns(paper_id=ids(entries["title"]), author_ids=id_lists(entries["authors"])))


def split_duplicates(observed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A paper listed twice by one dump is loaded once; the repeat becomes a reject."""
    ranked = observed.with_columns(
        first_index=pl.col("entry_index").min().over("dump_id", "paper_id"))
    repeats = ranked.filter(pl.col("entry_index") != pl.col("first_index")).select(
        "dump_id", "entry_index", "line_no",
        reason=pl.format("duplicate of entry {} in the same dump", pl.col("first_index")), raw_text="raw_text")
    return ranked.filter(pl.col("entry_index") == pl.col("first_index")).drop("first_index"), repeats


def mark_unusable(dumps: pl.DataFrame, loaded: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A dump with no valid entry and no metric says nothing about its profile: quarantine it (with
    a dump-level reject) rather than let an empty snapshot become the profile's latest state."""
    usable = pl.col("dump_id").is_in(loaded["dump_id"].unique().implode()) | pl.any_horizontal(
        pl.col(m).is_not_null() for m in METRICS)
    unusable = dumps.filter(pl.col("quarantine_reason").is_null() & ~usable).select(
        "dump_id", entry_index=pl.lit(None, pl.Int64), line_no=pl.lit(None, pl.Int64),
        reason=pl.format("nothing usable: none of its {} entries is valid and it has no metric line", "entries_found"),
        raw_text=pl.lit(None, pl.String))
    marked = dumps.join(unusable.select("dump_id", "reason"), on="dump_id", how="left", maintain_order="left")
    return (marked.with_columns(quarantine_reason=pl.coalesce("quarantine_reason", "reason")).drop("reason"),
            unusable)


def dump_rows(dumps: pl.DataFrame, loaded: pl.DataFrame, rejects: pl.DataFrame) -> pl.DataFrame:
    loaded_counts = loaded.group_by("dump_id").agg(entries_loaded=pl.len().cast(pl.Int64))
    header_problems = header_reasons(rejects.filter(pl.col("entry_index").is_null()))
    return (dumps.join(loaded_counts, on="dump_id", how="left", maintain_order="left")
            .join(header_problems, on="dump_id", how="left", maintain_order="left")
            .with_columns(entries_loaded=pl.col("entries_loaded").fill_null(0))
            .with_columns(entries_rejected=pl.col("entries_found") - pl.col("entries_loaded"))
            .with_columns(
                status=pl.when(pl.col("quarantine_reason").is_not_null()).then(pl.lit("quarantined"))
                .when((pl.col("entries_rejected") > 0) | pl.col("header_reason").is_not_null()).then(pl.lit("partial"))
                .otherwise(pl.lit("loaded")),
                reason=pl.coalesce(
                    "quarantine_reason",
                    pl.concat_str(pl.when(pl.col("entries_rejected") > 0).then(
                        pl.format("{} of {} entries rejected", "entries_rejected", "entries_found")),
                        "header_reason", separator="; ", ignore_nulls=True)))
            .with_columns(reason=pl.when(pl.col("reason") == "").then(None).otherwise("reason"))
            .select(polars_schema(TABLES["dumps"]).names()))


def header_reasons(problems: pl.DataFrame) -> pl.DataFrame:
    """One reason per dump from its header problems: each distinct reason once, with where and how often."""
    counted = (problems.group_by("dump_id", "reason", maintain_order=True)
               .agg(n=pl.len(), first=pl.col("line_no").min())
               .with_columns(where=pl.when(pl.col("n") > 1).then(pl.format(" ({} lines, first at line {})", "n", "first"))
                             .when(pl.col("first").is_not_null()).then(pl.format(" (line {})", "first"))
                             .otherwise(pl.lit(""))))
    return (counted.group_by("dump_id", maintain_order=True)
            .agg(header_reason=pl.concat_str("reason", "where").str.join("; ")))


def owners(dumps: pl.DataFrame, loaded: pl.DataFrame) -> pl.DataFrame:
    """Owner per dump: the sidecar's owner_name, else the visible author of most entries (none on a
    tie); owner_share = entries naming the owner / loaded entries. Names match by author_id."""
    named = named_authors(loaded, "dump_id", "entry_index")
    per_author = (named.group_by("dump_id", "author_id")
                  .agg(n=pl.col("entry_index").n_unique(), name=pl.col("name").sort_by("entry_index").first()))
    entries = loaded.group_by("dump_id").agg(entries=pl.len())
    ranked = (per_author.sort("n", "author_id", descending=[True, False]).group_by("dump_id")
              .agg(top=pl.col("n").first(), second=pl.col("n").slice(1, 1).first(), name=pl.col("name").first()))
    inferred = ranked.select("dump_id", inferred=pl.when(pl.col("second") == pl.col("top")).then(None)
                             .otherwise("name"), inferred_n=pl.when(pl.col("second") == pl.col("top"))
                             .then(None).otherwise("top"))
    sidecar = dumps.select("dump_id", "sidecar_owner_name").filter(pl.col("sidecar_owner_name").is_not_null())
    sidecar = sidecar.with_columns(author_id=ids(sidecar["sidecar_owner_name"]))
    sidecar_n = sidecar.join(per_author, on=["dump_id", "author_id"], how="left").select("dump_id", sidecar_n="n")
    return (dumps.select("dump_id", "sidecar_owner_name")
            .join(inferred, on="dump_id", how="left").join(sidecar_n, on="dump_id", how="left")
            .join(entries, on="dump_id", how="left")
            .select("dump_id", owner_name=pl.coalesce("sidecar_owner_name", "inferred"),
                    owner_share=pl.when(pl.col("sidecar_owner_name").is_not_null())
                    .then(pl.col("sidecar_n").fill_null(0)).otherwise("inferred_n") / pl.col("entries")))


def snapshot_rows(dumps: pl.DataFrame, loaded: pl.DataFrame) -> pl.DataFrame:
    readable = dumps.filter(pl.col("quarantine_reason").is_null())
    listed = loaded.group_by("dump_id").agg(papers_listed=pl.len().cast(pl.Int64))
    return (readable.join(listed, on="dump_id", how="left", maintain_order="left")
            .join(owners(readable, loaded), on="dump_id", how="left", maintain_order="left")
            .with_columns(papers_listed=pl.col("papers_listed").fill_null(0))
            .select(polars_schema(TABLES["profile_snapshots"]).names()))


def listing_rows(loaded: pl.DataFrame) -> pl.DataFrame:
    return loaded.select("dump_id", rank="entry_index", profile_key="profile_key", paper_id="paper_id",
                         captured_at="captured_at")


def latest(frame: pl.DataFrame, key: str, order: list[str]) -> pl.DataFrame:
    """One row per key: the last by `order`."""
    return frame.sort([key, *order]).unique(key, keep="last", maintain_order=True)


# Each mutable table is a reduction of observations that is associative and commutative: a batch's
# observations can be reduced on a worker, and reduced again with the table's current rows (or
# with other batches) in any grouping, giving the same rows as one reduction over everything.

def id_lists(lists: pl.Series) -> pl.Series:
    """The stable ids of each list's texts, in order (each distinct text hashed once)."""
    flat = pl.DataFrame({"text": lists}).with_row_index("row").explode("text")
    known = flat["text"].drop_nulls().unique()
    hashed = flat.with_columns(pl.col("text").replace_strict(known, stable_ids(known),
                                                            default=None, return_dtype=pl.String))
    return hashed.group_by("row", maintain_order=True).agg(pl.col("text").drop_nulls())["text"]


def paper_observations(loaded: pl.DataFrame) -> pl.DataFrame:
    """Papers as the entries show them, with the ids of each entry's authors (for paper_authors)."""
    return loaded.select("paper_id", *PAPER_FIELDS, first_seen_at="captured_at", last_seen_at="captured_at",
                         last_seen_dump_id="dump_id", author_ids="author_ids")


def reduce_papers(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per paper: the latest observation by (capture, dump_id), seen from the earliest to the
    latest capture. `author_ids` is the winner's list, null when the winner was already in the table."""
    seen = frame.group_by("paper_id").agg(pl.col("first_seen_at").min(), pl.col("last_seen_at").max())
    # a stored row and an observation of the same capture tie: the observation wins (a retried merge
    # must rewrite that capture's paper_authors, which may not have committed the first time)
    observed = frame.with_columns(_observed=pl.col("author_ids").is_not_null())
    winners = latest(observed, "paper_id", [*REGISTRY["papers"].latest_by, "_observed"])
    return winners.drop("first_seen_at", "last_seen_at", "_observed").join(seen, on="paper_id").select(
        frame.columns).sort("paper_id")


def merge_papers(current: pl.DataFrame, observed: pl.DataFrame) -> pl.DataFrame:
    """Current papers merged with observations (papers' columns plus `author_ids`)."""
    table = current.drop("author_ids", strict=False)
    schema = {**table.schema, "author_ids": pl.List(pl.String)}
    return reduce_papers(pl.concat([table.with_columns(author_ids=pl.lit(None, pl.List(pl.String))),
                                    observed.select(*table.columns, "author_ids").cast(schema)]))


def merge_paper_authors(current: pl.DataFrame, papers: pl.DataFrame) -> pl.DataFrame:
    """Authors of each paper come from the capture that won in `papers` (rows with `author_ids`)."""
    won = papers.filter(pl.col("author_ids").is_not_null())
    named = won.select("paper_id", author_id="author_ids").explode("author_id").drop_nulls("author_id")
    fresh = named.select("paper_id", position=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("paper_id"),
                         author_id="author_id")
    kept = current.join(won.select("paper_id"), on="paper_id", how="anti")
    return pl.concat([kept, fresh]).sort("paper_id", "position")


def named_authors(loaded: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """One row per author name of each entry, with its author_id (hashed once, in `observe`)."""
    return (loaded.select(*columns, name="authors", author_id="author_ids").explode("name", "author_id")
            .drop_nulls("name"))


def author_observations(loaded: pl.DataFrame) -> pl.DataFrame:
    return named_authors(loaded, "captured_at").select("author_id", "name", first_seen_at="captured_at",
                                                       last_seen_at="captured_at")


def reduce_authors(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per author: the name as the latest capture writes it."""
    seen = frame.group_by("author_id").agg(pl.col("first_seen_at").min(), pl.col("last_seen_at").max())
    winners = latest(frame, "author_id", list(REGISTRY["authors"].latest_by)).select("author_id", "name")
    return winners.join(seen, on="author_id").select(frame.columns).sort("author_id")


def profile_observations(snapshots: pl.DataFrame) -> pl.DataFrame:
    columns = polars_schema(TABLES["profiles"]).names()
    observed = snapshots.select(
        "profile_key", "owner_name", snapshots=pl.lit(1, pl.Int64), first_captured_at="captured_at",
        last_captured_at="captured_at", latest_dump_id="dump_id",
        *[c for c in columns if c in snapshots.columns and c not in ("profile_key", "owner_name")])
    return observed.select(columns)


def reduce_profiles(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per profile: the latest snapshot's state, with the count and first capture of all."""
    totals = frame.group_by("profile_key").agg(pl.col("snapshots").sum(), pl.col("first_captured_at").min())
    winners = latest(frame, "profile_key", list(REGISTRY["profiles"].latest_by)).drop("snapshots", "first_captured_at")
    return winners.join(totals, on="profile_key").select(frame.columns).sort("profile_key")


def merge_authors(current: pl.DataFrame, observed: pl.DataFrame) -> pl.DataFrame:
    return reduce_authors(pl.concat([current, observed.cast(current.schema)]))


def merge_profiles(current: pl.DataFrame, observed: pl.DataFrame) -> pl.DataFrame:
    return reduce_profiles(pl.concat([current, observed.cast(current.schema)]))


def reject_rows(dumps: pl.DataFrame, *parts: pl.DataFrame) -> pl.DataFrame:
    """Rejects of every kind, stamped with the run that ingested their dump."""
    columns = ["dump_id", "entry_index", "line_no", "reason", "raw_text"]
    rows = pl.concat([p.select(columns).cast({"entry_index": pl.Int64, "line_no": pl.Int64}) for p in parts])
    return (rows.join(dumps.select("dump_id", "run_id"), on="dump_id", how="inner", maintain_order="left")
            .sort("dump_id", "entry_index", "line_no", nulls_last=False, maintain_order=True))


def normalise_batch(dumps: pl.DataFrame, entries: pl.DataFrame, problems: pl.DataFrame,
                    entry_rejects: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The rows a batch adds to the append-only tables, and its reduced observations of the mutable
    ones (papers with their author lists, authors, profiles)."""
    loaded, repeats = split_duplicates(observe(dumps, entries))
    dumps, unusable = mark_unusable(dumps, loaded)
    rejects = reject_rows(dumps, problems, entry_rejects, repeats, unusable)
    snapshots = snapshot_rows(dumps, loaded)
    return {
        "dumps": dump_rows(dumps, loaded, rejects),
        "profile_snapshots": snapshots,
        "listings": listing_rows(loaded),
        "rejects": rejects,
        "papers": reduce_papers(paper_observations(loaded)),
        "authors": reduce_authors(author_observations(loaded)),
        "profiles": reduce_profiles(profile_observations(snapshots)),
    }


def merge_tables(current: dict[str, pl.DataFrame], observed: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """New versions of the mutable tables (or of one bucket of each) from their current rows."""
    papers = merge_papers(current["papers"], observed["papers"])
    return {
        "papers": papers.drop("author_ids"),
        "authors": merge_authors(current["authors"], observed["authors"]),
        "paper_authors": merge_paper_authors(current["paper_authors"], papers),
        "profiles": merge_profiles(current["profiles"], observed["profiles"]),
    }
