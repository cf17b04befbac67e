"""Column types shared by the models."""
from typing import Annotated

from pandera.engines import polars_engine

UtcDatetime = Annotated[polars_engine.DateTime, False, "UTC", "us"]
