"""`python -m bench.served [options]`: the bench in served mode only (a lasting Prefect server,
runs with PREFECT_API_URL set); the same options as `python -m bench`."""
from __future__ import annotations

import sys

from bench.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["--modes", "served", *sys.argv[1:]]))
