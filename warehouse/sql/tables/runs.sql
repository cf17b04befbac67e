CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    dumps_seen BIGINT NOT NULL,
    dumps_new BIGINT NOT NULL,
    dumps_loaded BIGINT NOT NULL,
    dumps_partial BIGINT NOT NULL,
    dumps_quarantined BIGINT NOT NULL,
    lake_versions VARCHAR
);
