"""Profiles, their listings and metrics, and their later snapshots: the corpora make_dumps writes."""
from __future__ import annotations

import datetime as dt
import random

from .render import capture_time, render_dump
from .vocabulary import NAME_HEADS, ascii_of
from .world import World

SITE_LISTING_LIMIT = 50
SNAPSHOT_DEFAULT_COUNT = 2


def _groups(rng: random.Random, n_profiles: int) -> list[int]:
    """Sizes of the profile groups (labs): 2 or 3 profiles each, a lone profile only when n is 1."""
    sizes, left = [], n_profiles
    while left > 0:
        size = min(left, rng.choice([2, 3]))
        sizes.append(size)
        left -= size
    if len(sizes) > 1 and sizes[-1] == 1:
        sizes[-2] += 1
        sizes.pop()
    return sizes


def _metrics(rng: random.Random, listed: int) -> dict:
    reported = listed if rng.random() < 0.15 else listed + rng.randint(1, 60)
    h_index = max(3, min(reported, int(reported * rng.uniform(0.25, 0.55))))
    citations = int(h_index * h_index * rng.uniform(1.8, 4.5)) + rng.randint(0, 300)
    return dict(h_index=h_index, papers_reported=reported, citations=citations,
                novelty_pct=rng.randint(30, 85), ai_score=rng.randint(35, 90))


def _listing_order(rng: random.Random, papers: list[dict]) -> list[dict]:
    """The site's order: roughly newest first, with a lot of noise (as in real listings)."""
    keyed = [(-(p["date"].toordinal()) + rng.gauss(0, 420), i, p) for i, p in enumerate(papers)]
    return [p for _, _, p in sorted(keyed)]


def _visible_counts(entries: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        for name in entry["authors"][:3]:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _make_owner_most_frequent(profile: dict, listed_in: dict[int, int]) -> None:
    """Move the owner into the visible authors of entries only this profile lists, until the owner
    is strictly the most frequent visible author (as on real profiles)."""
    owner = profile["owner"]
    for entry in profile["entries"]:
        counts = _visible_counts(profile["entries"])
        if counts.get(owner, 0) > max((c for n, c in counts.items() if n != owner), default=0):
            return
        authors = entry["authors"]
        if listed_in[id(entry)] == 1 and owner in authors and authors.index(owner) >= 3:
            authors.remove(owner)
            authors.insert(2, owner)


def _build(n_profiles: int, seed: int, entries_per_profile: int) -> tuple[World, list[dict]]:
    if n_profiles < 0 or entries_per_profile < 1:
        raise ValueError("n_profiles must be >= 0 and entries_per_profile >= 1")
    world = World(seed, entries_per_profile)
    profiles = _profiles(world, n_profiles)
    _write_papers(world, profiles, entries_per_profile)
    listed_in: dict[int, int] = {}
    for profile in profiles:
        mine = world.papers_of[profile["owner"]]
        profile["entries"] = _listing_order(world.rng, mine)[:min(entries_per_profile, SITE_LISTING_LIMIT)]
        for paper in profile["entries"]:
            listed_in[id(paper)] = listed_in.get(id(paper), 0) + 1
        profile.update(_metrics(world.rng, len(profile["entries"])))
        profile["captured_at"] = capture_time(profile["index"])
    for profile in profiles:
        _make_owner_most_frequent(profile, listed_in)
    return world, profiles


def _profiles(world: World, n_profiles: int) -> list[dict]:
    """The profiles, in labs (groups) of a few owners with their members and collaborators."""
    rng, profiles = world.rng, []
    for size in _groups(rng, n_profiles):
        owners = [world.person() for _ in range(size)]
        group = dict(owners=owners, members=[world.person() for _ in range(rng.randint(5, 9))],
                     collaborators=[world.person() for _ in range(rng.randint(25, 40))],
                     org=rng.choice([ascii_of(owners[0].split()[-1]).lower() + "-lab",
                                     rng.choice(NAME_HEADS).lower() + "-ml", rng.choice(NAME_HEADS).lower() + "ai"]))
        for owner in owners:
            world.papers_of[owner] = []
            profiles.append(dict(index=len(profiles), key=f"{rng.getrandbits(64):016x}", owner=owner, group=group))
    return profiles


def _write_papers(world: World, profiles: list[dict], entries_per_profile: int) -> None:
    """Every owner gets a few more papers than the site lists; about a quarter of them are shared
    with another owner of the same lab, and a few with an owner of another lab."""
    rng, all_owners = world.rng, [p["owner"] for p in profiles]
    for profile in profiles:
        owner, group = profile["owner"], profile["group"]
        have = len(world.papers_of[owner])
        for _ in range(max(0, entries_per_profile + rng.randint(0, 6) - have)):
            co_owners = []
            if len(group["owners"]) > 1 and rng.random() < 0.25:
                co_owners.append(rng.choice([o for o in group["owners"] if o != owner]))
            if len(all_owners) > len(group["owners"]) and rng.random() < 0.02:
                co_owners.append(rng.choice([o for o in all_owners if o not in group["owners"]]))
            world.new_paper(group, owner, co_owners)


def file_name(ordinal: int, key: str) -> str:
    return f"{ordinal:03d}_{key}.txt"


def public(profile: dict) -> dict:
    return {k: v for k, v in profile.items() if k != "group"}


def make_corpus(n_profiles: int, seed: int = 0, entries_per_profile: int = 50) -> list[tuple[str, str]]:
    """(file_name, text) of one dump per profile, `000_<key>.txt`, `001_<key>.txt`, ..."""
    _, profiles = _build(n_profiles, seed, entries_per_profile)
    return [(file_name(p["index"], p["key"]), render_dump(public(p))) for p in profiles]


def _snapshot_ordinal(n_profiles: int, index: int) -> int:
    return max(100, 10 ** len(str(max(n_profiles - 1, 0)))) + index


def snapshot_profiles(n_profiles: int, seed: int, entries_per_profile: int,
                       count: int) -> list[dict]:
    world, profiles = _build(n_profiles, seed, entries_per_profile)
    world.rng = rng = random.Random(f"profile-etl snapshots {seed}")
    chosen = sorted(rng.sample(range(n_profiles), min(count, n_profiles)))
    later = []
    for index in chosen:
        base = profiles[index]
        captured = capture_time(index, snapshot=True)
        new = [world.new_paper(base["group"], base["owner"], [],
                               date=world.paper_date(rng, recent_until=captured.date() - dt.timedelta(days=1)))
               for _ in range(2)]
        new.sort(key=lambda p: p["date"], reverse=True)
        kept = list(base["entries"])
        if kept:
            del kept[rng.randrange(len(kept) // 2, len(kept))]  # the one the site no longer lists
        entries = (new + kept)[:min(entries_per_profile, SITE_LISTING_LIMIT)]
        snap = dict(base, entries=entries, captured_at=captured, index=index,
                    ordinal=_snapshot_ordinal(n_profiles, index),
                    h_index=base["h_index"] + rng.choice([0, 1, 1]),
                    papers_reported=base["papers_reported"] + 2 + rng.randint(0, 2),
                    citations=base["citations"] + rng.randint(40, 260),
                    novelty_pct=min(100, base["novelty_pct"] + rng.randint(1, 3)),
                    ai_score=base["ai_score"] + rng.randint(1, 4))
        later.append(snap)
    return later


def make_snapshots(n_profiles: int, seed: int = 0, entries_per_profile: int = 50,
                   count: int = SNAPSHOT_DEFAULT_COUNT) -> list[tuple[str, str]]:
    """(file_name, text) of a later snapshot of `count` profiles of `make_corpus(n_profiles, seed,
    entries_per_profile)`: same profile key, ordinal 100 + profile index (`100_<key>.txt` for
    profile 0), captured 14 days later; metrics grown, two new entries on top, one entry dropped
    from the lower half (and, at the 50-entry limit, the last one pushed off the end)."""
    return [(file_name(s["ordinal"], s["key"]), render_dump(public(s)))
            for s in snapshot_profiles(n_profiles, seed, entries_per_profile, count)]
