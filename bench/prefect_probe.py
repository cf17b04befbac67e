"""`python -m bench.prefect_probe`: one empty Prefect flow run, with the same Prefect settings as
`profile-etl run` (temporary server, telemetry off). Its wall time is "Prefect's own start"."""
from __future__ import annotations

import os


def main() -> None:
    from flows.cli import PREFECT_ENV
    for key, value in PREFECT_ENV.items():
        os.environ.setdefault(key, value)
    from prefect import flow

    @flow(name="bench-empty-flow")
    def empty() -> int:
        return 0

    empty()


if __name__ == "__main__":
    main()
