"""Generate synthetic profile dumps in the format of SPEC §2, for examples, tests and load runs.

Everything here is invented (titles, names, abstracts, links); nothing is copied from real pages.
Pure standard library, no side effects on import, deterministic for a given seed.

    python examples/make_dumps.py OUT_DIR [--profiles N] [--seed S] [--entries E] [--snapshots [K]]

The repository's example inbox is made with:

    python examples/make_dumps.py examples/inbox --profiles 6 --seed 7 --snapshots

Library use:

    render_dump(profile)                    -> the dump text of one profile dict
    make_corpus(n_profiles, seed, entries_per_profile)    -> [(file_name, text), ...]
    make_snapshots(n_profiles, seed, entries_per_profile, count) -> later snapshots of `count` profiles
    capture_time(profile_index, snapshot=False)           -> the UTC capture time the CLI gives a file

A profile dict holds the metrics `h_index`, `papers_reported`, `citations`, `novelty_pct`,
`ai_score` (optional `papers_heading`, default `papers_reported`), optional `captured_at`
(a date or datetime: entries dated in that year are printed without the year, as the site does) and
`entries`: dicts with `category`, `date` (datetime.date) or `date_text` (printed as is),
optional `show_year` (overrides the capture-year rule), `code_badge`, `title`, `authors` (the full
list; at most three are printed, then ` et al.`) or `authors_text` (printed as is), optional `tag`,
and `abstract`. Generated entries also carry `code_url` (the link named in the abstract, or None),
which the renderer does not print separately.
"""
from __future__ import annotations

import argparse
import json
import datetime as dt
import os
import random
import re
import sys
import unicodedata
from pathlib import Path

__all__ = ["render_dump", "make_corpus", "make_snapshots", "capture_time", "main"]

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
CAPTURE_BASE = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
SNAPSHOT_DELAY = dt.timedelta(days=14)
SITE_LISTING_LIMIT = 50
SNAPSHOT_DEFAULT_COUNT = 2

# --------------------------------------------------------------------------------------------
# Rendering


def format_date(date: dt.date, show_year: bool = True) -> str:
    """`Mon D` or `Mon D, YYYY`."""
    text = f"{MONTHS[date.month - 1]} {date.day}"
    return f"{text}, {date.year}" if show_year else text


def format_authors(authors: list[str], tag: str | None = None) -> str:
    """At most three names joined by ', ', then ' et al.' when there are more; ' · tag' suffix."""
    text = ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")
    return f"{text} · {tag}" if tag else text


def _capture_year(profile: dict) -> int | None:
    captured = profile.get("captured_at")
    return captured.year if isinstance(captured, (dt.date, dt.datetime)) else None


def render_entry(entry: dict, capture_year: int | None = None) -> str:
    if "date_text" in entry:
        date_text = entry["date_text"]
    else:
        date = entry["date"]
        show_year = entry.get("show_year")
        if show_year is None:
            show_year = capture_year is None or date.year != capture_year
        date_text = format_date(date, show_year)
    head = f"{entry['category']}{date_text}{'Code' if entry.get('code_badge') else ''}"
    authors = entry["authors_text"] if "authors_text" in entry else format_authors(entry["authors"], entry.get("tag"))
    return f"{head}\n{entry['title']}\n\n{authors}\n\n{entry['abstract']}"


def render_dump(profile: dict) -> str:
    """The dump text of a profile: metric lines, blank, `N Papers`, blank, entries separated by a
    blank line. LF line endings, no trailing newline."""
    heading = profile.get("papers_heading", profile["papers_reported"])
    header = "\n".join([
        f"h-index{profile['h_index']}",
        f"{profile['papers_reported']}papers",
        f"{profile['citations']:,}citations",
        f"Novelty{profile['novelty_pct']}%",
        f"AI Score{profile['ai_score']}",
        "",
        f"{heading} Papers",
    ])
    year = _capture_year(profile)
    blocks = [header] + [render_entry(entry, year) for entry in profile["entries"]]
    return "\n\n".join(blocks)


def capture_time(profile_index: int, snapshot: bool = False) -> dt.datetime:
    """Capture time of a profile's dump: 2026-06-01T00:00Z plus `profile_index` hours, and
    14 days later for its later snapshot."""
    return CAPTURE_BASE + dt.timedelta(hours=profile_index) + (SNAPSHOT_DELAY if snapshot else dt.timedelta())


# --------------------------------------------------------------------------------------------
# Vocabulary (all invented or generic)

FIRST_NAMES = [
    "Amara", "Bilal", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hana", "Ilya", "Jonas", "Kavya",
    "Lucía", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rania", "Santiago", "Tomás", "Uma",
    "Valentin", "Wen", "Xin", "Yara", "Zoë", "Aiko", "Bao", "Daniel", "Emeka", "Fatima", "Gabriel",
    "Haruto", "Inès", "Jae-won", "Kofi", "Leila", "Minh", "Noor", "Olga", "Pablo", "Rui", "Sofia",
    "Tariq", "Ulrike", "Vikram", "Wanjiru", "Xiaoyu", "Yusuf", "Zhen", "Anika", "Björn", "Camille",
    "Diego", "Esra", "Felix", "Giulia", "Hyun", "Isabel", "Jiahao", "Keiko", "Lars", "Mei", "Nikhil",
    "Ömer", "Paola", "Ravi", "Siddharth", "Théo", "Yiming", "Zainab", "Arjun", "Linnea", "Ming",
    "Qiang", "Ruoxi", "Shu", "Tianyu", "Yuki", "Aurélie", "Kenji", "Marta", "Nils", "Sana",
]
LAST_NAMES = [
    "Abara", "Bergström", "Castillo", "Dubois", "Eriksen", "Fernández", "Goh", "Haddad", "Ivanova",
    "Jansen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi",
    "Sato", "Tanaka", "Umarov", "Varga", "Weber", "Xu", "Yilmaz", "Zhou", "Achebe", "Brennan",
    "Chowdhury", "Desai", "Esposito", "Fischer", "Gupta", "Hoffmann", "Iyer", "Jiang", "Kim",
    "Laurent", "Mehta", "Novak", "Olsen", "Park", "Qian", "Rahman", "Schmidt", "Takahashi",
    "Urquhart", "Vasquez", "Wu", "Yamada", "Zhao", "Almeida", "Bianchi", "Costa", "Dang", "Engel",
    "Fang", "Guo", "Han", "Ito", "Joshi", "Kaur", "López", "Müller", "Nguyen", "Ortiz", "Pham",
    "Reyes", "Singh", "Tran", "Vogel", "Wójcik", "Yang", "Zapata", "Liang", "Shen", "Feng", "Cao",
    "Lu", "Tang", "Ahn", "Barros", "Coulibaly", "Dahl", "Ekström", "Horvat", "Kuznetsov", "Mensah",
]
INITIALS = "ABCDEFGHJKLMNPRSTVWY"

CATEGORY_WEIGHTS = {"LG": 40, "CV": 28, "CL": 12, "AI": 10, "RO": 5, "IR": 5}
TAGS = ["mit", "mit", "apache-2.0", "cc-by-4.0"]

TOPICS = {
    "LG": dict(
        area="machine learning",
        tasks=["representation learning", "continual learning", "federated optimisation",
               "semi-supervised classification", "out-of-distribution generalisation",
               "offline reinforcement learning", "self-supervised pretraining", "graph classification",
               "time-series forecasting", "model compression", "hyperparameter optimisation",
               "domain adaptation", "active learning", "learning with noisy labels", "few-shot learning",
               "imitation learning", "tabular prediction", "anomaly detection"],
        techs=["spectral regularisation", "contrastive objectives", "mixture-of-experts routing",
               "low-rank adaptation", "implicit differentiation", "optimal transport", "score matching",
               "kernel alignment", "gradient surgery", "curriculum sampling", "weight averaging",
               "energy-based priors", "variational bottlenecks", "stochastic rounding",
               "sharpness-aware updates", "label propagation"],
        data=["CIFAR-100", "Tiny-ImageNet", "OGB-Arxiv", "UCI Adult", "D4RL", "Electricity", "STL-10",
              "Clothing1M"],
        unit=["sample", "gradient", "client", "layer", "task"]),
    "CV": dict(
        area="computer vision",
        tasks=["open-vocabulary segmentation", "monocular depth estimation", "video object tracking",
               "3D scene reconstruction", "image super-resolution", "visual question answering",
               "point cloud completion", "text-to-image generation", "human pose estimation",
               "remote-sensing change detection", "medical image registration",
               "referring expression grounding", "image captioning", "video frame interpolation"],
        techs=["masked autoencoding", "diffusion priors", "deformable attention", "neural radiance fields",
               "token pruning", "cross-view consistency", "prototype memory",
               "frequency-aware augmentation", "Gaussian splatting", "cycle-consistent warping",
               "region-level contrast", "visual instruction tuning"],
        data=["ImageNet-1k", "COCO", "ADE20K", "Cityscapes", "KITTI", "ScanNet", "DAVIS", "NYUv2"],
        unit=["patch", "token", "frame", "view", "region"]),
    "CL": dict(
        area="natural language processing",
        tasks=["instruction following", "multilingual question answering", "long-context summarisation",
               "code generation", "low-resource machine translation", "factual consistency checking",
               "dialogue state tracking", "named entity recognition", "math word problem solving",
               "claim verification"],
        techs=["preference optimisation", "retrieval augmentation", "chain-of-thought distillation",
               "speculative decoding", "prompt compression", "tokenizer adaptation",
               "self-consistency voting", "reward modelling", "data selection"],
        data=["GSM8K", "MMLU", "XSum", "FLORES-200", "HumanEval", "TyDi QA", "MultiWOZ", "FEVER"],
        unit=["token", "prompt", "document", "turn", "demonstration"]),
    "AI": dict(
        area="artificial intelligence",
        tasks=["multi-agent planning", "theorem proving", "tool-augmented reasoning",
               "constraint satisfaction", "automated scientific discovery", "commonsense reasoning",
               "game playing", "causal discovery", "web navigation"],
        techs=["Monte Carlo tree search", "neuro-symbolic search", "verifier-guided sampling",
               "program synthesis", "belief propagation", "reflection loops", "hierarchical task networks",
               "process supervision"],
        data=["ALFWorld", "miniF2F", "BabyAI", "NetHack", "WebShop", "CLEVRER"],
        unit=["step", "plan", "proof state", "agent", "subgoal"]),
    "RO": dict(
        area="robotics",
        tasks=["dexterous manipulation", "legged locomotion", "visual navigation", "grasp planning",
               "sim-to-real transfer", "multi-robot coordination", "deformable object handling"],
        techs=["model predictive control", "diffusion policies", "tactile feedback", "domain randomisation",
               "affordance maps", "behaviour cloning", "keypoint tracking"],
        data=["Meta-World", "RLBench", "Habitat", "a real seven-DoF arm", "ManiSkill", "a quadruped testbed"],
        unit=["trajectory", "contact", "waypoint", "skill", "episode"]),
    "IR": dict(
        area="information retrieval",
        tasks=["sequential recommendation", "dense passage retrieval", "query reformulation",
               "click-through rate prediction", "conversational search", "cross-lingual retrieval",
               "learning to rank"],
        techs=["hard-negative mining", "late interaction", "graph collaborative filtering",
               "generative retrieval", "knowledge distillation", "contrastive pretraining"],
        data=["MS MARCO", "BEIR", "MovieLens-20M", "Amazon Reviews", "Natural Questions", "Yelp"],
        unit=["query", "item", "session", "passage", "user"]),
}

ADJECTIVES = ["Robust", "Scalable", "Efficient", "Provable", "Adaptive", "Data-Efficient", "Calibrated",
              "Unified", "Lightweight", "Hierarchical", "Interpretable", "Training-Free", "Label-Efficient",
              "Compositional", "Uncertainty-Aware", "Fair", "Sparse", "Streaming", "Faithful", "Generalisable"]
PROPERTIES = ["Sample Complexity", "Implicit Bias", "Stability", "Generalisation", "Calibration",
              "Expressivity", "Robustness", "Convergence", "Limits", "Hidden Costs"]
SUBTITLES = ["A Benchmark and a Simple Baseline", "Lessons from Large-Scale Experiments",
             "Theory and Practice", "A Closer Look", "An Empirical Study", "What Really Matters"]
NAME_HEADS = ["Graph", "Poly", "Meta", "Flow", "Sparse", "Proto", "Hyper", "Contra", "Diff", "Token",
              "Mix", "Lumen", "Orbit", "Kite", "Fern", "Quill", "Vela", "Nimbus", "Echo", "Prism",
              "Delta", "Tessa", "Mosaic", "Pivot", "Cedar", "Ripple", "Helio", "Onyx", "Tidal", "Zephyr"]
NAME_TAILS = ["Net", "Former", "Mix", "Align", "Prompt", "Tune", "Scope", "Bench", "Gen", "Fusion",
              "Lens", "Loop", "Shift", "Guard", "Path", "Step", "Sense", "Grid", "Weave", "Dial"]
SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to",
               "via", "with"}

CONTEXT = [
    "{Task} has become a central problem in {area}, yet current systems remain brittle when the test "
    "distribution drifts away from the training data.",
    "Recent progress in {task} has been driven largely by scale, but the resulting models are expensive "
    "to train and difficult to audit.",
    "Despite steady gains on standard benchmarks, methods for {task} still rely on hand-tuned heuristics "
    "that transfer poorly across domains.",
    "A growing body of work applies {tech} to {task}, but the conditions under which it actually helps "
    "are poorly understood.",
    "Practitioners working on {task} routinely face a trade-off between accuracy, latency and the cost "
    "of collecting labels.",
    "{Tech} offers an appealing route to {task}, since it requires neither dense annotation nor "
    "task-specific architectures.",
    "Most deployed systems for {task} are trained once and then left untouched, even though the data "
    "they see keeps changing.",
    "The standard recipe for {task} couples a large pretrained backbone with a small task head, and "
    "little is known about how the two interact during fine-tuning.",
]
PROBLEM = [
    "In this work we show that existing approaches implicitly assume that every {unit} is equally "
    "informative, an assumption that rarely holds in practice.",
    "We identify two failure modes of current pipelines: they over-fit to frequent {unit}s, and their "
    "confidence estimates collapse under mild distribution shift.",
    "We argue that the main obstacle is not model capacity but the mismatch between the training "
    "objective and the evaluation protocol.",
    "Existing benchmarks hide this issue because they draw test cases from the same narrow "
    "distribution as the training set.",
    "As a result, reported gains often vanish once the budget for tuning is matched across methods.",
    "Moreover, the cost of current methods grows quadratically with the number of {unit}s, which rules "
    "them out for the settings where they would be most useful.",
]
PROPOSAL = [
    "We introduce {M}, a {adj} framework that combines {tech} with {tech2} to address both problems at once.",
    "To close this gap, we propose {M}, which casts {task} as a sequence of small matching problems and "
    "solves each of them with {tech}.",
    "We present {M}, a simple recipe built on {tech} that can be added to existing pipelines with a few "
    "lines of code.",
    "Our method, {M}, learns a compact description of each {unit} from unlabelled data and then refines "
    "it with a small amount of supervision.",
]
METHOD = [
    "The key idea is to let the model decide how much computation to spend on each {unit}, guided by a "
    "cheap estimate of its difficulty.",
    "Concretely, {M} keeps a memory of past {unit} features and updates it with an exponential moving "
    "average, which keeps training stable even with small batches.",
    "A lightweight scoring module ranks every {unit} and discards the least informative ones before the "
    "expensive stages of the pipeline.",
    "We further derive a closed-form update for the auxiliary weights, so the overall cost grows only "
    "linearly with the number of {unit}s.",
    "Training alternates between a fast inner loop on individual {unit}s and a slower outer loop that "
    "adjusts the shared parameters.",
    "Unlike prior work, {M} needs no extra forward passes at inference time and adds fewer than one "
    "percent of parameters.",
    "To avoid collapse, we add a consistency term that ties the predictions for two perturbed copies of "
    "the same {unit} together.",
    "The resulting objective is a weighted sum of a reconstruction loss and an alignment loss, whose "
    "balance is set automatically from validation statistics.",
    "All components are trained end to end, and the same hyperparameters are used for every dataset.",
]
MATH = [
    r"Under mild assumptions we prove that the procedure converges at a rate of $\mathcal{{O}}(1/\sqrt{{T}})$ "
    r"after $T$ iterations.",
    r"We show that an $\ell_2$-regularised variant attains the minimax rate up to a $\log n$ factor.",
    r"Our analysis covers the $(ε, δ)$-differentially private setting and gives a matching lower bound "
    r"of $Ω(\sqrt{{d/n}})$.",
    r"Using only $k$ labelled examples per class, the estimator recovers the true decision boundary with "
    r"probability at least $1-δ$.",
    r"The noise scale $σ$ is chosen adaptively from the empirical spectrum of the gradient covariance.",
    "We bound the Rényi divergence between consecutive iterates and use it to control the "
    "generalisation gap.",
    "The Fréchet distance between generated and real features drops by a factor of {f} compared with "
    "a naïve baseline.",
]
EXPERIMENTS = [
    "Experiments on {n} benchmarks, including {d1}, {d2} and {d3}, show consistent improvements over "
    "strong baselines.",
    "On {d1}, {M} improves accuracy by {p}{pct} over the previous best method while using {f} times "
    "fewer parameters.",
    "Across {n} datasets, our approach reduces the error rate by {p}{pct} on average and never trails the "
    "baseline by more than {q} points.",
    "Ablation studies confirm that each component contributes to the final performance, with the "
    "scoring module accounting for most of the gain.",
    "We also release an evaluation suite of {k} tasks that stresses rare {unit}s and long-range "
    "dependencies.",
    "Human evaluation with {h} annotators indicates that outputs of {M} are preferred in {pp}{pct} of "
    "pairwise comparisons.",
    "The gains are largest in the low-data regime, where {M} matches a fully supervised model with a "
    "tenth of the labels.",
    "Training is also {f} times faster than for the strongest competing method on the same hardware.",
]
CLOSING = [
    "These results suggest that {tech} is a practical default for {task} when labelled data is scarce.",
    "We hope our findings encourage a more careful evaluation of methods for {task}.",
    "Our analysis also sheds light on why simpler baselines remain surprisingly competitive.",
    "We discuss the remaining limitations, in particular the reliance on a fixed {unit} vocabulary, and "
    "outline directions for future work.",
]
GITHUB_SENTENCES = ["Our code is available at {url}.", "Code and pretrained models are publicly available at {url}.",
                    "The implementation is released at {url}.", "Source code: {url}."]
HF_SENTENCES = ["Model weights are released at {url}.", "We release the checkpoints at {url}."]


# --------------------------------------------------------------------------------------------
# Generation

_NON_ALNUM = re.compile(r"[\W_]+")


def _norm(text: str) -> str:
    return _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _title_case(text: str) -> str:
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        if i and word.lower() in SMALL_WORDS:
            out.append(word.lower())
        else:
            parts = word.split("-")
            out.append("-".join(p if j and p.lower() in SMALL_WORDS else p[:1].upper() + p[1:]
                                for j, p in enumerate(parts)))
    return " ".join(out)


class _World:
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
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first} {last}" if attempt < 40 else f"{first} {rng.choice(INITIALS)}. {last}"
            if _norm(name) not in self.names:
                self.names.add(_norm(name))
                return name
        raise RuntimeError("ran out of author names")

    def method_name(self) -> str:
        rng = self.rng
        for _ in range(1000):
            kind = rng.random()
            if kind < 0.5:
                name = rng.choice(NAME_HEADS) + rng.choice(NAME_TAILS)
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
        rng, topic = self.rng, TOPICS[category]
        for attempt in range(100):
            task, tech = rng.choice(topic["tasks"]), rng.choice(topic["techs"])
            tech2 = rng.choice([t for t in topic["techs"] if t != tech])
            adj = rng.choice(ADJECTIVES)
            form = rng.randrange(9)
            if form == 0:
                title = f"{method}: {adj} {_title_case(task)} via {_title_case(tech)}"
            elif form == 1:
                title = f"{adj} {_title_case(task)} with {_title_case(tech)}"
            elif form == 2:
                title = f"{method}: {_title_case(tech)} for {_title_case(task)}"
            elif form == 3:
                title = f"On the {rng.choice(PROPERTIES)} of {_title_case(tech)} in {_title_case(task)}"
            elif form == 4:
                title = f"When Does {_title_case(tech)} Help {_title_case(task)}?"
            elif form == 5:
                title = f"Towards {adj} {_title_case(task)}: {rng.choice(SUBTITLES)}"
            elif form == 6:
                title = f"{method}: A Benchmark for {adj} {_title_case(task)}"
            elif form == 7:
                title = f"{_title_case(tech)} Meets {_title_case(tech2)}: {adj} {_title_case(task)}"
            else:
                title = f"Revisiting {_title_case(tech)} for {_title_case(task)}"
            if attempt > 20:
                title = f"{title} ({method})" if "(" not in title and method not in title else f"{method}: {title}"
            if _norm(title) not in self.titles:
                self.titles.add(_norm(title))
                return title, task, tech
        raise RuntimeError("ran out of titles")

    def abstract(self, category: str, method: str, task: str, tech: str, code_sentence: str | None) -> str:
        rng, topic = self.rng, TOPICS[category]
        data = rng.sample(topic["data"], 3)
        slots = dict(
            task=task, Task=task[0].upper() + task[1:], tech=tech, Tech=tech[0].upper() + tech[1:],
            tech2=rng.choice([t for t in topic["techs"] if t != tech]), area=topic["area"], M=method,
            adj=rng.choice(ADJECTIVES).lower(), unit=rng.choice(topic["unit"]), d1=data[0], d2=data[1],
            d3=data[2], n=rng.choice(["three", "four", "five", "six", "seven", "nine", "twelve"]),
            p=f"{rng.uniform(0.8, 14.0):.1f}", q=f"{rng.uniform(0.1, 1.5):.1f}", f=rng.choice(["2", "3", "4", "5.5", "8"]),
            k=rng.randint(8, 60), h=rng.choice([12, 20, 24, 36, 50]), pp=rng.randint(56, 81),
            pct=r"\%" if rng.random() < 0.3 else "%",
        )
        sections = [
            rng.sample(CONTEXT, rng.randint(1, 2)),
            rng.sample(PROBLEM, rng.randint(1, 2)),
            [rng.choice(PROPOSAL)],
            rng.sample(METHOD, rng.randint(3, 5)),
            rng.sample(MATH, 1) if rng.random() < 0.2 else [],
            rng.sample(EXPERIMENTS, rng.randint(2, 4)),
            rng.sample(CLOSING, rng.randint(0, 2)),
        ]
        # (section, sentence); the first context sentence, the proposal and the first experiment stay
        sentences = [(s, tpl.format(**slots)) for s, group in enumerate(sections) for tpl in group]
        mandatory_idx = {next(i for i, (s, _) in enumerate(sentences) if s == sec) for sec in (0, 2, 5)}
        target = rng.triangular(600, 1900, 1300) - (len(code_sentence) + 1 if code_sentence else 0)
        droppable = [i for i in range(len(sentences)) if i not in mandatory_idx]
        rng.shuffle(droppable)
        kept = set(range(len(sentences)))
        length = sum(len(t) + 1 for _, t in sentences)
        for i in droppable:
            if length <= target:
                break
            kept.discard(i)
            length -= len(sentences[i][1]) + 1
        text = " ".join(t for i, (_, t) in enumerate(sentences) if i in kept)
        return f"{text} {code_sentence}" if code_sentence else text

    def code_link(self, method: str, authors: list[str], group: dict) -> str:
        rng = self.rng
        if rng.random() < 0.08:
            org = rng.choice([group["org"], _ascii(authors[0].split()[-1]).lower() + "-lab"])
            model = f"{method}-{rng.choice(['7B', 'base', 'large', '1.3B', 'small'])}"
            return rng.choice(HF_SENTENCES).format(url=f"https://huggingface.co/{org}/{model}")
        if rng.random() < 0.5:
            first, last = _ascii(authors[0]).split()[0], _ascii(authors[0]).split()[-1]
            owner = rng.choice([f"{first[0]}{last}".lower(), f"{first}-{last}".lower(), f"{last}{first[0]}".lower(),
                                f"{first.lower()}{rng.randint(1, 999)}"])
        else:
            owner = group["org"]
        repo = method if rng.random() < 0.8 else f"{method}-{rng.choice(['official', 'pytorch', 'code'])}"
        return rng.choice(GITHUB_SENTENCES).format(url=f"https://github.com/{owner}/{repo}")

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
        category = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
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
        authors = others[:position] + [owner] + others[position:]
        method = self.method_name()
        badge = rng.random() < 0.35
        link = rng.random() < (0.92 if badge else 0.02)
        code_sentence = self.code_link(method, authors, group) if link else None
        title, task, tech = self.title(category, method)
        paper = dict(
            category=category, date=date or self.paper_date(rng), code_badge=badge,
            title=title, authors=authors,
            tag=rng.choice(TAGS) if rng.random() < 0.025 else None,
            abstract=self.abstract(category, method, task, tech, code_sentence),
            code_url=re.search(r"https://\S+(?=\.$)", code_sentence).group(0) if code_sentence else None,
        )
        self.papers.append(paper)
        for name in authors:
            if name in self.papers_of:
                self.papers_of[name].append(paper)
        return paper


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


def _build(n_profiles: int, seed: int, entries_per_profile: int) -> tuple[_World, list[dict]]:
    if n_profiles < 0 or entries_per_profile < 1:
        raise ValueError("n_profiles must be >= 0 and entries_per_profile >= 1")
    world = _World(seed, entries_per_profile)
    rng = world.rng
    profiles: list[dict] = []
    groups = []
    for size in _groups(rng, n_profiles):
        owners = [world.person() for _ in range(size)]
        group = dict(owners=owners, members=[world.person() for _ in range(rng.randint(5, 9))],
                     collaborators=[world.person() for _ in range(rng.randint(25, 40))],
                     org=rng.choice([_ascii(owners[0].split()[-1]).lower() + "-lab",
                                     rng.choice(NAME_HEADS).lower() + "-ml", rng.choice(NAME_HEADS).lower() + "ai"]))
        groups.append(group)
        for owner in owners:
            world.papers_of[owner] = []
            profiles.append(dict(index=len(profiles), key=f"{rng.getrandbits(64):016x}", owner=owner, group=group))
    # Papers: every owner gets a few more than the site lists; about a quarter of them are shared
    # with another owner of the same lab, and a few with an owner of another lab.
    all_owners = [p["owner"] for p in profiles]
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
    listed_in: dict[int, int] = {}
    for profile in profiles:
        mine = world.papers_of[profile["owner"]]
        profile["entries"] = _listing_order(rng, mine)[:min(entries_per_profile, SITE_LISTING_LIMIT)]
        for paper in profile["entries"]:
            listed_in[id(paper)] = listed_in.get(id(paper), 0) + 1
        profile.update(_metrics(rng, len(profile["entries"])))
        profile["captured_at"] = capture_time(profile["index"])
    for profile in profiles:
        _make_owner_most_frequent(profile, listed_in)
    return world, profiles


def _file_name(ordinal: int, key: str) -> str:
    return f"{ordinal:03d}_{key}.txt"


def _public(profile: dict) -> dict:
    return {k: v for k, v in profile.items() if k != "group"}


def make_corpus(n_profiles: int, seed: int = 0, entries_per_profile: int = 50) -> list[tuple[str, str]]:
    """(file_name, text) of one dump per profile, `000_<key>.txt`, `001_<key>.txt`, ..."""
    _, profiles = _build(n_profiles, seed, entries_per_profile)
    return [(_file_name(p["index"], p["key"]), render_dump(_public(p))) for p in profiles]


def _snapshot_ordinal(n_profiles: int, index: int) -> int:
    return max(100, 10 ** len(str(max(n_profiles - 1, 0)))) + index


def _snapshot_profiles(n_profiles: int, seed: int, entries_per_profile: int,
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
    return [(_file_name(s["ordinal"], s["key"]), render_dump(_public(s)))
            for s in _snapshot_profiles(n_profiles, seed, entries_per_profile, count)]


# --------------------------------------------------------------------------------------------
# Command line


def _write(out_dir: Path, name: str, text: str, when: dt.datetime, sidecar: bool = False) -> Path:
    path = out_dir / name
    path.write_bytes(text.encode("utf-8"))
    stamp = int(when.timestamp()) * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    if sidecar:  # git doesn't keep mtimes: a sidecar keeps the capture time in a clone
        meta = {"captured_at": when.isoformat().replace("+00:00", "Z")}
        (out_dir / (name.removesuffix(".txt") + ".meta.json")).write_text(json.dumps(meta) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write synthetic profile dumps (SPEC §2) to OUT_DIR.")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--profiles", type=int, default=6, help="number of profiles (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--entries", type=int, default=50, help="entries listed per profile (default 50)")
    parser.add_argument("--snapshots", type=int, nargs="?", const=SNAPSHOT_DEFAULT_COUNT, default=0, metavar="K",
                        help=f"also write a later snapshot of K profiles (K defaults to {SNAPSHOT_DEFAULT_COUNT})")
    parser.add_argument("--sidecars", action="store_true", help="write <stem>.meta.json with each capture time")
    args = parser.parse_args(argv)
    if args.profiles < 0 or args.entries < 1 or args.snapshots < 0:
        parser.error("--profiles and --snapshots must be >= 0, --entries >= 1")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (name, text) in enumerate(make_corpus(args.profiles, args.seed, args.entries)):
        written.append(_write(args.out_dir, name, text, capture_time(index), args.sidecars))
    if args.snapshots:
        snaps = _snapshot_profiles(args.profiles, args.seed, args.entries, args.snapshots)
        for snap in snaps:
            written.append(_write(args.out_dir, _file_name(snap["ordinal"], snap["key"]),
                                  render_dump(_public(snap)), snap["captured_at"], args.sidecars))
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files ({total:,} bytes) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
