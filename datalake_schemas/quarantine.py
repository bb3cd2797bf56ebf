"""The quarantine table: every recording that could not be used, with machine-readable reasons."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl


def quarantine_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "center": pa.Column(pl.String),
            "recording_id": pa.Column(pl.String),
            "episode_id": pa.Column(pl.String),
            "content_key": pa.Column(pl.String),
            "run_id": pa.Column(pl.String),
            "stage": pa.Column(pl.String, pa.Check.isin(["pull", "decode", "process", "validate"])),
            "reason_code": pa.Column(pl.String),
            "message": pa.Column(pl.String),
            "file": pa.Column(pl.String, nullable=True),
            "stream": pa.Column(pl.String, nullable=True),
        },
        strict=True,
        name="quarantine",
    )
