CREATE TABLE IF NOT EXISTS rejects (
    dump_id VARCHAR NOT NULL,
    entry_index BIGINT,
    line_no BIGINT,
    reason VARCHAR NOT NULL,
    raw_text VARCHAR,
    run_id VARCHAR NOT NULL
);
