"""`python -m bench`: see bench/__init__.py and `python -m bench --help`."""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench import bighome, corpus, loadref, measure, prefect_db, report, runner
from bench.floor import floor
from bench.peer import peer
from bench.runner import bench_env

DEFAULT_OUT = corpus.REPO / "bench" / "results" / "latest.json"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description="Time profile-etl runs against "
                                "the parsing floor and a dlt peer (issue 4). Prints numbers; asserts nothing.")
    p.add_argument("--dumps", type=int, default=2000, help="dumps in the corpus (default 2000, ~130 MB)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--repeat", type=int, default=3, help="rounds: runs per measurement, median reported "
                   f"(default 3, at most {corpus.NEW_DUMPS}); each round's homes stay in the scratch folder "
                   "until the end, about 0.3 GB a round for 2,000 dumps")
    p.add_argument("--peer-repeat", type=int, default=1, help="runs of the dlt peer (default 1: it is slow)")
    p.add_argument("--scale", type=int, default=10, help="the big home holds SCALE x DUMPS dumps "
                   "(default 10; built once and cached; lower it if building takes too long; <2 skips it)")
    p.add_argument("--memory-dumps", type=int, default=10000, help="dumps of the one-run memory measurement "
                   "(default 10000: the main corpus and the big home's next chunks; 0 skips it)")
    p.add_argument("--rebuild-big-home", action="store_true", help="build the cached big home again "
                   "(it is kept across invocations, also when the pipeline's code has changed)")
    p.add_argument("--workdir", type=Path, default=runner.DEFAULT_WORKDIR,
                   help=f"dumps, cached homes, scratch homes (default {runner.DEFAULT_WORKDIR})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = p.parse_args(argv)
    if args.dumps < corpus.NEW_DUMPS or not 1 <= args.repeat <= corpus.NEW_DUMPS or args.peer_repeat < 1:
        p.error(f"--dumps must be >= {corpus.NEW_DUMPS}, --repeat 1 to {corpus.NEW_DUMPS}, --peer-repeat >= 1")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def generate(args: argparse.Namespace) -> None:
    """The dumps, in a child process (the corpus generator holds all texts in memory)."""
    chunks = max(args.scale - 1, 0) if args.scale >= 2 else 0
    log(f"dumps: {args.dumps} x {1 + chunks} corpora, seed {args.seed}, under {args.workdir} (cached)")
    subprocess.run([sys.executable, "-m", "bench.corpus", str(args.workdir), str(args.dumps), str(args.seed),
                    str(chunks)], check=True, cwd=corpus.REPO)


def pipeline_measurements(args: argparse.Namespace, env: dict, scratch: Path) -> tuple[dict, list[float]]:
    """The five measurements (and the start-up references) as real `profile-etl run` processes, and
    the seconds of each round's warehouse load alone."""
    main = corpus.main_corpus(args.workdir, args.dumps, args.seed)
    new = corpus.new_dumps(args.workdir, args.dumps, args.seed)[:args.repeat]
    log("warm-up (not measured)")
    measure.warm_up(scratch, env)
    big = build_big_home(args, env, main) if args.scale >= 2 else None
    m = measure.new_series(args.dumps, big, corpus.size_of(corpus.dump_files(main)),
                           round(sum(p.stat().st_size for p in new) / len(new)), args.scale)
    with contextlib.ExitStack() as stack:
        big_pair = stack.enter_context(bighome.working_copy(args.workdir, scratch, args.dumps, args.seed,
                                                            args.scale)) if big else None
        load_alone: list[float] = []
        for i in range(args.repeat):
            log(f"round {i + 1} of {args.repeat}: python, Prefect, fixed, full, no-op, 1 new dump x 2 homes")
            measure.one_round(i, m, scratch, main, new[i], env, big_pair, load_alone)
            log("  " + ", ".join(f"{k} {v.runs[-1].seconds:.2f} s" for k, v in m.items()))
    if args.memory_dumps:
        m["many"] = memory_run(args, env, scratch, main)
    return m, load_alone


def memory_run(args: argparse.Namespace, env: dict, scratch: Path, main: Path) -> measure.Measurement:
    """One run over --memory-dumps dumps (the main corpus, then the big home's chunks) into an empty
    home: peak memory must follow the batch, not the inbox."""
    chunks = -(-args.memory_dumps // args.dumps)
    log(f"memory: {chunks * args.dumps} dumps in one run ...")
    inbox, home = measure.fresh(scratch / "many-inbox"), measure.fresh(scratch / "many-home")
    for k in range(chunks):
        corpus.link_tree(bighome.chunk_source(args.workdir, main, args.dumps, args.seed, k), inbox / f"chunk{k:02d}")
    files = corpus.dump_files(inbox)
    m = measure.Measurement(f"{len(files)} dumps in one run (memory)", dumps=len(files), nbytes=corpus.size_of(files))
    m.runs.append(measure.expect_new(measure.run_etl(home, inbox, env), len(files), "memory run"))
    log(f"  {m.runs[-1].seconds:.1f} s, peak tree RSS {m.runs[-1].tree_rss_mb:.0f} MB")
    measure.set_aside(home, scratch)
    return m


def build_big_home(args: argparse.Namespace, env: dict, main: Path) -> int:
    log(f"big home: {args.scale} x {args.dumps} dumps (built once, then cached) ...")
    record = bighome.build(args.workdir, main, args.dumps, args.seed, args.scale, env, log, args.rebuild_big_home)
    args.big_home_build = record
    return record["dumps"]


def references(args: argparse.Namespace) -> tuple:
    files = corpus.dump_files(corpus.main_corpus(args.workdir, args.dumps, args.seed))
    log(f"floor: read + parse {len(files)} files x {args.repeat} ...")
    fl = floor(files, args.repeat)
    log(f"floor {fl.median:.2f} s; dlt peer x {args.peer_repeat} ...")
    pe = peer(files, args.workdir / "scratch", args.peer_repeat)
    log(f"peer {pe.median:.2f} s")
    return fl, pe


def notes(args: argparse.Namespace) -> list[str]:
    out = [f"each pipeline row: median of {args.repeat} runs, in {args.repeat} rounds; "
           f"floor {args.repeat} passes, dlt peer {args.peer_repeat} run(s)",
           "to-commit: the summary's finished_at - started_at (from the run lock, taken before Prefect starts "
           "when the run has a head start, to just before the lake commit and the warehouse publish, which "
           "the time breakdown below shows); "
           "CPU s: user+system CPU of the run and its children; busy: share of the machine's cores busy "
           "during the run (any process: above CPU s / (median s x cores) means other work competed)",
           "RSS tree: largest sum over the run process and its children (worker processes, Prefect's server) sampled every 20 ms;"
           " RSS run: the run process's own high-water mark; references: this process's high-water mark"]
    if args.scale < 2:
        out.append("big home skipped (--scale < 2)")
    else:
        out.append(f"big home: --scale {args.scale} = {args.scale * args.dumps} dumps")
    load = os.getloadavg()[0]
    if load > 0.5:
        out.append(f"load average {load:.2f} at the end: other work on the machine may have slowed the runs")
    return out


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    start = report.start_state()
    generate(args)
    env = bench_env(env_home(args))
    scratch = args.workdir / "scratch"
    left = args.workdir / f"scratch-{uuid.uuid4().hex}"   # an interrupted bench's (a finished one deletes it)
    if scratch.exists():
        scratch.rename(left)
    scratch.mkdir(parents=True)
    measure.set_aside(left, scratch)
    m, load_alone = pipeline_measurements(args, env, scratch)
    fl, pe = references(args)
    lo = loadref.reference(load_alone, m["full"].dumps, m["full"].nbytes)
    derived, targets = report.ratios(m, fl, pe, lo)
    order = ["full", "noop", "new_small", "new_big", "many", "fixed", "prefect", "python"]
    rows = [m[k] for k in order if k in m]
    times = {v.name: prefect_db.median_breakdown(env_home(args), v) for v in rows if v.runs and v.runs[0].summary}
    build, remarks = getattr(args, "big_home_build", None), notes(args)
    lines = ["", *report.table(rows, [fl, pe, lo]), "", "ratios and the issue's targets:",
             *report.target_lines(targets), "", "other figures:", *report.other_lines(derived, build), "",
             "where the time goes (medians, seconds; from Prefect's records):", *report.time_lines(times), "",
             *(f"note: {n}" for n in remarks)]
    print("\n".join(lines))
    record = {"machine": report.machine(start), "settings": settings_of(args),
              "measurements": {k: v.to_json() for k, v in m.items()},
              "references": {"floor": fl.to_json(), "peer": pe.to_json(), "load_alone": lo.to_json()}, "derived": derived,
              "targets": targets, "notes": remarks, "time_breakdown": times, "big_home_build": build}
    report.write_json(args.out, record)
    print(f"results: {args.out}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


def env_home(args: argparse.Namespace) -> Path:
    return runner.prefect_home(args.workdir)


def settings_of(args: argparse.Namespace) -> dict:
    return {"dumps": args.dumps, "seed": args.seed, "repeat": args.repeat, "memory_dumps": args.memory_dumps,
            "peer_repeat": args.peer_repeat, "scale": args.scale, "rebuild_big_home": args.rebuild_big_home,
            "workdir": str(args.workdir),
            "prefect_home": str(env_home(args))}


if __name__ == "__main__":
    sys.exit(main())
