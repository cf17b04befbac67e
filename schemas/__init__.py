"""pandera (polars backend) models: `raw` mirrors the dump, `tables` types the warehouse tables."""
