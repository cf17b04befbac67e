CREATE TABLE IF NOT EXISTS dumps (
    dump_id VARCHAR NOT NULL,
    profile_key VARCHAR NOT NULL,
    source_path VARCHAR NOT NULL,
    captured_at TIMESTAMPTZ NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    parser_version VARCHAR NOT NULL,
    byte_size BIGINT NOT NULL,
    source_url VARCHAR,
    status VARCHAR NOT NULL,
    reason VARCHAR,
    entries_found BIGINT NOT NULL,
    entries_loaded BIGINT NOT NULL,
    entries_rejected BIGINT NOT NULL
);
