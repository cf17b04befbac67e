CREATE TABLE IF NOT EXISTS papers (
    paper_id VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    published_on DATE NOT NULL,
    year_inferred BOOLEAN NOT NULL,
    has_code_badge BOOLEAN NOT NULL,
    code_url VARCHAR,
    code_host VARCHAR,
    abstract VARCHAR,
    authors_truncated BOOLEAN NOT NULL,
    tag VARCHAR,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_dump_id VARCHAR NOT NULL
);
