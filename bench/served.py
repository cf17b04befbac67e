"""`python -m bench.served`: full ingests against a Prefect server that is already up, as `watch`
runs (and, apart from the served run's own subprocess, `serve`): no server start to pay and none to
hide behind, so no head start. In one process, a first run on an empty inbox starts the temporary
server; then each round times a run on an empty inbox and a full ingest of the bench corpus into
an empty home. Prints the medians and the marginal rate; writes nothing to the results file."""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import corpus, runner


def timed_ingest(ingest, home: Path, inbox: Path) -> float:
    shutil.rmtree(home, ignore_errors=True)
    start = time.perf_counter()
    ingest(home=home, inbox=inbox, settle_seconds=0)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.served", description=__doc__)
    p.add_argument("--workdir", type=Path, default=runner.DEFAULT_WORKDIR)
    p.add_argument("--dumps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    from flows.cli import use_prefect_env
    use_prefect_env()
    from flows.pipeline import ingest
    inbox = corpus.main_corpus(args.workdir, args.dumps, args.seed)
    nbytes = corpus.size_of(corpus.dump_files(inbox))
    with tempfile.TemporaryDirectory(prefix="served-", dir=args.workdir) as scratch:
        empty = Path(scratch) / "empty-inbox"
        empty.mkdir()
        timed_ingest(ingest, Path(scratch) / "warm", empty)   # starts the temporary server
        rounds = [(timed_ingest(ingest, Path(scratch) / "empty", empty),
                   timed_ingest(ingest, Path(scratch) / "full", inbox)) for _ in range(args.repeat)]
    empty_s, full_s = (statistics.median(r[i] for r in rounds) for i in (0, 1))
    marginal = statistics.median(full - nothing for nothing, full in rounds)
    print(f"server already up, medians of {args.repeat}: empty inbox {empty_s:.2f} s, "
          f"full ingest of {args.dumps} dumps ({nbytes / 1e6:.1f} MB) {full_s:.2f} s; "
          f"marginal {marginal:.2f} s = {nbytes / 1e6 / marginal:.1f} MB/s")


if __name__ == "__main__":
    main()
