"""pandera (polars backend) models: `raw` mirrors the dump, `tables` types the warehouse tables."""
import polars as pl

# pandera checks a frame with one small query per column and check, which polars' in-memory engine
# runs several times faster than its default streaming one (docs/benchmarks.md); a user's choice stands.
if "POLARS_ENGINE_AFFINITY" not in pl.Config.state(if_set=True):
    pl.Config.set_engine_affinity("in-memory")
