"""`python -m bench`: see bench/__init__.py, docs/benchmarks.md and `python -m bench --help`."""
from __future__ import annotations

import argparse
import compileall
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench import bighome, corpus, figures, measure, prefect_db, report
from bench.floor import floor
from bench.parts import parts, summed_cpu
from bench.peer import peer
from bench.runner import DEFAULT_WORKDIR, Mode, bench_env, run_etl
from bench.server import LastingServer

DEFAULT_OUT = corpus.REPO / "bench" / "results" / "latest.json"
MODES = ("served", "temporary")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description="Time `profile-etl run` processes against a "
                                "lasting Prefect server (served) and with Prefect's temporary server, against the "
                                "parsing floor and a dlt peer; print the issue's targets with pass/fail.")
    p.add_argument("--dumps", type=int, default=2000, help="dumps in the corpus (default 2000, 132 MB)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--repeat", type=int, default=3, help="rounds: runs per measurement, median reported "
                   f"(default 3, at most {corpus.NEW_DUMPS}); each round's homes stay in the scratch folder "
                   "until the end, about 0.6 GB a round for 2,000 dumps")
    p.add_argument("--peer-repeat", type=int, default=1, help="runs of the dlt peer (default 1: it is slow)")
    p.add_argument("--scale", type=int, default=10, help="the big home holds SCALE x DUMPS dumps "
                   "(default 10; built once and cached; <2 skips it)")
    p.add_argument("--memory-dumps", type=int, default=10000, help="dumps of the one-run memory measurement "
                   "(default 10000: the corpus and the big home's next chunks; 0 skips it)")
    p.add_argument("--rebuild-big-home", action="store_true", help="build the cached big home again "
                   "(it is kept across invocations, also when the pipeline's code has changed)")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated, of: served (a lasting Prefect "
                   "server the bench starts), temporary (each run starts its own); default both")
    p.add_argument("--port", type=int, default=0, help="the lasting server's port (default: a free one)")
    p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                   help=f"dumps, cached homes, scratch homes (default {DEFAULT_WORKDIR})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = p.parse_args(argv)
    args.modes = [m for m in MODES if m in args.modes.split(",")]
    if args.dumps < corpus.NEW_DUMPS or not 1 <= args.repeat <= corpus.NEW_DUMPS or args.peer_repeat < 1:
        p.error(f"--dumps must be >= {corpus.NEW_DUMPS}, --repeat 1 to {corpus.NEW_DUMPS}, --peer-repeat >= 1")
    if not args.modes:
        p.error(f"--modes: one or more of {', '.join(MODES)}")
    if importlib.util.find_spec("dlt") is None:   # the peer runs last: fail now, not after the runs
        p.error("the dlt peer needs dlt: pip install -e '.[dev,bench]' (make bench does)")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def generate(args: argparse.Namespace) -> None:
    """The dumps, in a child process (the corpus generator holds all texts in memory)."""
    chunks = max(args.scale, -(-args.memory_dumps // args.dumps)) - 1
    log(f"dumps: {args.dumps} x {1 + chunks} corpora, seed {args.seed}, under {args.workdir} (cached)")
    subprocess.run([sys.executable, "-m", "bench.corpus", str(args.workdir), str(args.dumps), str(args.seed),
                    str(max(chunks, 0))], check=True, cwd=corpus.REPO)


PACKAGES = ("core", "flows", "schemas", "store", "warehouse")


def compile_packages() -> None:
    """The project's bytecode written, as an installed package has it (pip compiles; Python writes it
    at first import): with PYTHONDONTWRITEBYTECODE set, every run would compile its modules anew."""
    for package in PACKAGES:
        compileall.compile_dir(corpus.REPO / package, quiet=1)


def new_scratch(workdir: Path) -> Path:
    """An empty scratch folder; an interrupted bench's is set aside into it (deleted at the end)."""
    scratch, left = workdir / "scratch", workdir / f"scratch-{uuid.uuid4().hex}"
    if scratch.exists():
        scratch.rename(left)
    scratch.mkdir(parents=True)
    measure.set_aside(left, scratch)
    return scratch


def start_modes(args: argparse.Namespace, scratch: Path, stack: contextlib.ExitStack) -> list[Mode]:
    """Each mode with a Prefect home of its own under the scratch folder (new each bench run); the
    served mode's lasting server runs until the stack closes."""
    temporary_home, modes = scratch / "prefect-temporary", []
    if "served" in args.modes:
        home = scratch / "prefect-served"
        log("lasting Prefect server: starting ...")
        server = stack.enter_context(LastingServer(home, bench_env(home), scratch / "prefect-server.log", args.port))
        log(f"  ready at {server.api_url} after {server.ready_seconds:.1f} s")
        modes.append(Mode("served", server.client_env(bench_env(home)), home, server))
    if "temporary" in args.modes:
        modes.append(Mode("temporary", bench_env(temporary_home), temporary_home))
    return modes


def pipeline_measurements(args: argparse.Namespace, modes: list[Mode], scratch: Path) -> dict:
    main = corpus.main_corpus(args.workdir, args.dumps, args.seed)
    new = corpus.new_dumps(args.workdir, args.dumps, args.seed)[:args.repeat]
    log("warm-up (not measured)")
    measure.warm_up(scratch, modes, main)
    big = build_big_home(args, modes[0], main) if args.scale >= 2 and "served" in args.modes else None
    m = measure.new_series(args.modes, args.dumps, corpus.size_of(corpus.dump_files(main)),
                           round(sum(p.stat().st_size for p in new) / len(new)), big)
    with contextlib.ExitStack() as stack:
        big_pair = stack.enter_context(bighome.working_copy(args.workdir, scratch, args.dumps, args.seed,
                                                            args.scale)) if big else None
        for i in range(args.repeat):
            log(f"round {i + 1} of {args.repeat}: import prefect; " + ", ".join(
                mode.name for mode in modes[i % len(modes):] + modes[:i % len(modes)]))
            measure.one_round(i, m, scratch, main, new[i], modes, big_pair)
            log("  " + ", ".join(f"{k} {v.runs[-1].seconds:.2f} s" for k, v in m.items()))
    if args.memory_dumps:
        m[f"{modes[0].name}.many"] = memory_run(args, modes[0], scratch, main)
    return m


def memory_run(args: argparse.Namespace, mode: Mode, scratch: Path, main: Path) -> measure.Measurement:
    """One run over --memory-dumps dumps (the corpus, then the big home's chunks) into an empty
    home: peak memory must follow the batch, not the inbox."""
    chunks = -(-args.memory_dumps // args.dumps)
    log(f"memory: {chunks * args.dumps} dumps in one run ({mode.name}) ...")
    inbox, home = measure.fresh(scratch / "many-inbox"), measure.fresh(scratch / "many-home")
    for k in range(chunks):
        corpus.link_tree(bighome.chunk_source(args.workdir, main, args.dumps, args.seed, k), inbox / f"chunk{k:02d}")
    files = corpus.dump_files(inbox)
    m = measure.Measurement(f"{measure.LABELS[mode.name]}: {len(files)} dumps, one run", mode.name, dumps=len(files),
                            nbytes=corpus.size_of(files), note="memory")
    m.runs.append(measure.expect_new(run_etl(home, inbox, mode), len(files), "memory run"))
    log(f"  {m.runs[-1].seconds:.1f} s, peak tree RSS {m.runs[-1].tree_rss_mb:.0f} MiB")
    measure.set_aside(home, scratch)
    return m


def build_big_home(args: argparse.Namespace, mode: Mode, main: Path) -> int:
    log(f"big home: {args.scale} x {args.dumps} dumps (built once, then cached) ...")
    record = bighome.build(args.workdir, main, args.dumps, args.seed, args.scale, mode, log, args.rebuild_big_home)
    args.big_home_build = record
    return record["dumps"]


def references(args: argparse.Namespace, scratch: Path, modes: list[Mode]) -> tuple:
    """The floor, the dlt peer, and the bare parts on the rows of the first mode's home (its full
    ingest, no-op rerun and one new dump)."""
    files = corpus.dump_files(corpus.main_corpus(args.workdir, args.dumps, args.seed))
    log(f"floor: read + parse {len(files)} files x {args.repeat} ...")
    fl = floor(files, args.repeat)
    log(f"floor {fl.median:.2f} s; the parts x {args.repeat} ...")
    pa = parts(files, scratch / f"{modes[0].name}-home" / "lake", measure.fresh(scratch / "parts"), args.repeat)
    log(f"parts {summed_cpu(pa):.2f} CPU-s; dlt peer x {args.peer_repeat} ...")
    pe = peer(files, scratch, args.peer_repeat)
    log(f"peer {pe.median:.2f} s")
    return fl, pe, pa


def breakdowns(m: dict, modes: list[Mode]) -> dict:
    """Where each measurement's time goes, from its mode's Prefect database (servers stopped)."""
    homes = {mode.name: mode.prefect_home for mode in modes}
    return {v.name: prefect_db.median_breakdown(homes[v.mode], v) for v in m.values()
            if v.mode and v.runs and v.runs[0].summary}


def notes(args: argparse.Namespace) -> list[str]:
    out = [f"each row: median of {args.repeat} runs, one per round, the modes taking turns to go first; "
           f"floor {args.repeat} passes, dlt peer {args.peer_repeat} run(s)",
           "CPU s: user+system of the run process and its reaped children (rusage: in temporary mode Prefect's "
           "temporary server); +server: the lasting server's CPU during the run (/proc, its "
           "process tree); data work: full ingest - empty run in the same mode, in CPU-s, server included",
           "busy: share of the machine's cores busy during the run (any process)",
           "RSS tree: largest sum over the run process and its children, sampled every 20 ms (served: the lasting "
           "server is not in it; temporary: the temporary server is); RSS run: the run process's high-water mark; "
           "references: the bench process's high-water mark; MiB"]
    if args.dumps != 2000:
        out.append(f"--dumps {args.dumps}: the targets in seconds are for the default 2,000-dump corpus")
    out.append("big home skipped (--scale < 2 or no served mode)" if args.scale < 2 or "served" not in args.modes
               else f"big home: --scale {args.scale} = {args.scale * args.dumps} dumps")
    load = os.getloadavg()[0]
    if load > 0.5:
        out.append(f"load average {load:.2f} at the end: other work on the machine may have slowed the runs")
    return out


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    start = report.start_state()
    compile_packages()
    generate(args)
    scratch = new_scratch(args.workdir)
    try:
        with contextlib.ExitStack() as stack:
            modes = start_modes(args, scratch, stack)
            m = pipeline_measurements(args, modes, scratch)
            server = modes[0].server.figures() if modes[0].server else None
        fl, pe, pa = references(args, scratch, modes)
        print_and_write(args, start, m, modes, fl, pe, pa, server)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def print_and_write(args, start: dict, m: dict, modes: list[Mode], fl, pe, pa: dict, server: dict | None) -> None:
    derived, targets = figures.derive(m, fl, pe, summed_cpu(pa))
    times, build, remarks = breakdowns(m, modes), getattr(args, "big_home_build", None), notes(args)
    derived["new_big_over_new_small_beyond_empty_flow"] = figures.new_dump_flow_ratio(times)
    rows = sorted(m.values(), key=lambda v: MODES.index(v.mode) if v.mode else len(MODES))   # stable: by mode
    lines = ["", *report.table(rows, [fl, *pa.values(), pe]), "", "targets:", *report.target_lines(targets), "",
             "other figures:", *report.other_lines(derived, server, build), "",
             "where the time goes (medians, seconds; from Prefect's records):", *report.time_lines(times), "",
             *(f"note: {n}" for n in remarks)]
    print("\n".join(lines))
    record = {"machine": report.machine(start), "settings": settings_of(args),
              "measurements": {k: v.to_json() for k, v in m.items()},
              "references": {"floor": fl.to_json(), "peer": pe.to_json(),
                             "parts": {name: part.to_json() for name, part in pa.items()}}, "derived": derived, "targets": targets,
              "lasting_server": server, "notes": remarks, "time_breakdown": times, "big_home_build": build}
    report.write_json(args.out, record)
    print(f"results: {args.out}")


def settings_of(args: argparse.Namespace) -> dict:
    return {"dumps": args.dumps, "seed": args.seed, "repeat": args.repeat, "memory_dumps": args.memory_dumps,
            "peer_repeat": args.peer_repeat, "scale": args.scale, "rebuild_big_home": args.rebuild_big_home,
            "modes": args.modes, "workdir": str(args.workdir)}


if __name__ == "__main__":
    sys.exit(main())
