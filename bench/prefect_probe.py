"""`python -m bench.prefect_probe`: one empty Prefect flow run, with the same Prefect settings as
`profile-etl run` (temporary server, telemetry off). Its wall time is "Prefect's own start"."""
from __future__ import annotations


def main() -> None:
    from flows.cli import use_prefect_env
    use_prefect_env()
    from prefect import flow

    @flow(name="bench-empty-flow")
    def empty() -> int:
        return 0

    empty()


if __name__ == "__main__":
    main()
