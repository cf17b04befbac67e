"""The state of one generated corpus and its inventions: people, titles, method names, abstracts, papers."""
from __future__ import annotations

import datetime as dt
import random
import re

from . import vocabulary as words


class World:
    """All the state of one generated corpus: names, titles, method names in use, the paper pool."""

    def __init__(self, seed: int, entries_per_profile: int):
        self.rng = random.Random(seed)
        self.entries_per_profile = entries_per_profile
        self.names: set[str] = set()
        self.titles: set[str] = set()
        self.methods: set[str] = set()
        self.papers: list[dict] = []
        self.papers_of: dict[str, list[dict]] = {}  # profile owner -> papers that name them

    # names -------------------------------------------------------------------------------
    def person(self) -> str:
        rng = self.rng
        for attempt in range(200):
            first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
            name = f"{first} {last}" if attempt < 40 else f"{first} {rng.choice(words.INITIALS)}. {last}"
            if words.normalised(name) not in self.names:
                self.names.add(words.normalised(name))
                return name
        raise RuntimeError("ran out of author names")

    def method_name(self) -> str:
        rng = self.rng
        for _ in range(1000):
            kind = rng.random()
            if kind < 0.5:
                name = rng.choice(words.NAME_HEADS) + rng.choice(words.NAME_TAILS)
            else:
                letters = "".join(rng.choice("ABCDEFGHIKLMNOPRSTUVWXZ") for _ in range(rng.randint(3, 6)))
                name = letters + (rng.choice(["-2", "-Lite", "v2", "-X", "-R1"]) if kind > 0.85 else "")
            if name.lower() not in self.methods:
                self.methods.add(name.lower())
                return name
        raise RuntimeError("ran out of method names")

    # papers ------------------------------------------------------------------------------
    def title(self, category: str, method: str) -> tuple[str, str, str]:
        """(title, task, technique) of a new paper."""
        rng, topic = self.rng, words.TOPICS[category]
        for attempt in range(100):
            task, tech = rng.choice(topic["tasks"]), rng.choice(topic["techs"])
            tech2 = rng.choice([t for t in topic["techs"] if t != tech])
            adj = rng.choice(words.ADJECTIVES)
            form = rng.randrange(9)
            if form == 0:
                title = f"{method}: {adj} {words.title_case(task)} via {words.title_case(tech)}"
            elif form == 1:
                title = f"{adj} {words.title_case(task)} with {words.title_case(tech)}"
            elif form == 2:
                title = f"{method}: {words.title_case(tech)} for {words.title_case(task)}"
            elif form == 3:
                title = f"On the {rng.choice(words.PROPERTIES)} of {words.title_case(tech)} in {words.title_case(task)}"
            elif form == 4:
                title = f"When Does {words.title_case(tech)} Help {words.title_case(task)}?"
            elif form == 5:
                title = f"Towards {adj} {words.title_case(task)}: {rng.choice(words.SUBTITLES)}"
            elif form == 6:
                title = f"{method}: A Benchmark for {adj} {words.title_case(task)}"
            elif form == 7:
                title = f"{words.title_case(tech)} Meets {words.title_case(tech2)}: {adj} {words.title_case(task)}"
            else:
                title = f"Revisiting {words.title_case(tech)} for {words.title_case(task)}"
            if attempt > 20:
                title = f"{title} ({method})" if "(" not in title and method not in title else f"{method}: {title}"
            if words.normalised(title) not in self.titles:
                self.titles.add(words.normalised(title))
                return title, task, tech
        raise RuntimeError("ran out of titles")

    def abstract(self, category: str, method: str, task: str, tech: str, code_sentence: str | None) -> str:
        rng = self.rng
        slots = self._slots(words.TOPICS[category], method, task, tech)
        sections = [
            rng.sample(words.CONTEXT, rng.randint(1, 2)),
            rng.sample(words.PROBLEM, rng.randint(1, 2)),
            [rng.choice(words.PROPOSAL)],
            rng.sample(words.METHOD, rng.randint(3, 5)),
            rng.sample(words.MATH, 1) if rng.random() < 0.2 else [],
            rng.sample(words.EXPERIMENTS, rng.randint(2, 4)),
            rng.sample(words.CLOSING, rng.randint(0, 2)),
        ]
        # (section, sentence); the first context sentence, the proposal and the first experiment stay
        sentences = [(s, tpl.format(**slots)) for s, group in enumerate(sections) for tpl in group]
        target = rng.triangular(600, 1900, 1300) - (len(code_sentence) + 1 if code_sentence else 0)
        text = " ".join(self._trimmed(sentences, target))
        return f"{text} {code_sentence}" if code_sentence else text

    def _slots(self, topic: dict, method: str, task: str, tech: str) -> dict:
        """The words an abstract's sentence templates name."""
        rng = self.rng
        data = rng.sample(topic["data"], 3)
        return dict(
            task=task, Task=task[0].upper() + task[1:], tech=tech, Tech=tech[0].upper() + tech[1:],
            tech2=rng.choice([t for t in topic["techs"] if t != tech]), area=topic["area"], M=method,
            adj=rng.choice(words.ADJECTIVES).lower(), unit=rng.choice(topic["unit"]), d1=data[0], d2=data[1],
            d3=data[2], n=rng.choice(["three", "four", "five", "six", "seven", "nine", "twelve"]),
            p=f"{rng.uniform(0.8, 14.0):.1f}", q=f"{rng.uniform(0.1, 1.5):.1f}", f=rng.choice(["2", "3", "4", "5.5", "8"]),
            k=rng.randint(8, 60), h=rng.choice([12, 20, 24, 36, 50]), pp=rng.randint(56, 81),
            pct=r"\%" if rng.random() < 0.3 else "%",
        )

    def _trimmed(self, sentences: list[tuple[int, str]], target: float) -> list[str]:
        """The sentences, with optional ones dropped at random until the text is about target long."""
        mandatory_idx = {next(i for i, (s, _) in enumerate(sentences) if s == sec) for sec in (0, 2, 5)}
        droppable = [i for i in range(len(sentences)) if i not in mandatory_idx]
        self.rng.shuffle(droppable)
        kept = set(range(len(sentences)))
        length = sum(len(t) + 1 for _, t in sentences)
        for i in droppable:
            if length <= target:
                break
            kept.discard(i)
            length -= len(sentences[i][1]) + 1
        return [t for i, (_, t) in enumerate(sentences) if i in kept]

    def code_link(self, method: str, authors: list[str], group: dict) -> str:
        rng = self.rng
        if rng.random() < 0.08:
            org = rng.choice([group["org"], words.ascii_of(authors[0].split()[-1]).lower() + "-lab"])
            model = f"{method}-{rng.choice(['7B', 'base', 'large', '1.3B', 'small'])}"
            return rng.choice(words.HF_SENTENCES).format(url=f"https://huggingface.co/{org}/{model}")
        if rng.random() < 0.5:
            first, last = words.ascii_of(authors[0]).split()[0], words.ascii_of(authors[0]).split()[-1]
            owner = rng.choice([f"{first[0]}{last}".lower(), f"{first}-{last}".lower(), f"{last}{first[0]}".lower(),
                                f"{first.lower()}{rng.randint(1, 999)}"])
        else:
            owner = group["org"]
        repo = method if rng.random() < 0.8 else f"{method}-{rng.choice(['official', 'pytorch', 'code'])}"
        return rng.choice(words.GITHUB_SENTENCES).format(url=f"https://github.com/{owner}/{repo}")

    def paper_date(self, rng: random.Random, recent_until: dt.date | None = None) -> dt.date:
        """Mostly 2019-2025, skewed to recent years; about 7% early 2026 (printed without a year)."""
        if recent_until is not None or rng.random() < 0.07:
            end = recent_until or dt.date(2026, 5, 31)
            start = dt.date(end.year, 1, 1) if recent_until is None else end - dt.timedelta(days=12)
            return start + dt.timedelta(days=rng.randint(0, (end - start).days))
        year = rng.choices(range(2019, 2026), weights=[1, 2, 3, 4, 5, 6, 6])[0]
        return dt.date(year, 1, 1) + dt.timedelta(days=rng.randint(0, 364))

    def new_paper(self, group: dict, owner: str, co_owners: list[str], date: dt.date | None = None) -> dict:
        rng = self.rng
        category = rng.choices(list(words.CATEGORY_WEIGHTS), weights=list(words.CATEGORY_WEIGHTS.values()))[0]
        authors = self._authors(group, owner, co_owners)
        method = self.method_name()
        badge = rng.random() < 0.35
        link = rng.random() < (0.92 if badge else 0.02)
        code_sentence = self.code_link(method, authors, group) if link else None
        title, task, tech = self.title(category, method)
        paper = dict(
            category=category, date=date or self.paper_date(rng), code_badge=badge,
            title=title, authors=authors,
            tag=rng.choice(words.TAGS) if rng.random() < 0.025 else None,
            abstract=self.abstract(category, method, task, tech, code_sentence),
            code_url=re.search(r"https://\S+(?=\.$)", code_sentence).group(0) if code_sentence else None,
        )
        self.papers.append(paper)
        for name in authors:
            if name in self.papers_of:
                self.papers_of[name].append(paper)
        return paper

    def _authors(self, group: dict, owner: str, co_owners: list[str]) -> list[str]:
        """A paper's authors: the co-owners, some group members and collaborators, the owner among them."""
        rng = self.rng
        n_authors = rng.choices(range(2, 11), weights=[6, 8, 16, 18, 16, 12, 10, 8, 6])[0]
        n_authors = max(n_authors, 1 + len(co_owners))
        others = list(co_owners)
        members = rng.sample(group["members"], min(len(group["members"]), rng.randint(1, 3), n_authors - 1 - len(others)))
        others += members
        while len(others) < n_authors - 1:
            name = rng.choice(group["collaborators"])
            if name not in others:
                others.append(name)
        rng.shuffle(others)
        if n_authors <= 3 or rng.random() < 0.24:
            position = rng.randint(0, min(2, n_authors - 1))
        else:
            position = n_authors - 1 if rng.random() < 0.6 else rng.randint(3, n_authors - 1)
        return others[:position] + [owner] + others[position:]
