CREATE TABLE IF NOT EXISTS authors (
    author_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);
