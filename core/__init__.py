"""The pure core: parsing, identities, validation and normalisation; no I/O, no prefect, no duckdb."""
