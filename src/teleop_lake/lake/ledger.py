"""The outcome ledger: what became of every recording each night (append-only Parquet parts).

Every recording that enters bronze or the quarantine gets exactly one outcome
row per night that touches it: ``published``, ``quarantined`` (with reason
codes) or ``pending`` (a transient failure; retried next night). Reading the
latest row per content key tells which bronze recordings are still unfinished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store
from teleop_lake.network.pull import BronzeRecording
from teleop_lake.rejection import Reason

STATUSES = ("published", "quarantined", "pending")

OUTCOME_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "center": pl.String,
    "recording_id": pl.String,
    "episode_id": pl.String,
    "content_key": pl.String,
    "run_id": pl.String,
    "stage": pl.String,
    "status": pl.String,
    "reason_codes": pl.List(pl.String),
    "message": pl.String,
}


class RecordingKeys(Protocol):
    """What identifies a recording in the ledger (a bronze record, a pull rejection)."""

    @property
    def center(self) -> str: ...
    @property
    def recording_id(self) -> str: ...
    @property
    def episode_id(self) -> str: ...
    @property
    def content_key(self) -> str: ...


@dataclass(frozen=True)
class RecordingRef:
    """Just the four keys of a recording, from a small record passed between tasks."""

    center: str
    recording_id: str
    episode_id: str
    content_key: str

    @classmethod
    def of(cls, record: dict[str, object]) -> RecordingRef:
        return cls(
            *(str(record[k]) for k in ("center", "recording_id", "episode_id", "content_key"))
        )


@dataclass(frozen=True)
class Outcome:
    center: str
    recording_id: str
    episode_id: str
    content_key: str
    run_id: str
    stage: str  # pull | decode | process | validate | publish
    status: str
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @classmethod
    def of(
        cls,
        rec: RecordingKeys,
        run_id: str,
        stage: str,
        status: str,
        reasons: tuple[Reason, ...] = (),
    ) -> Outcome:
        """The outcome of recording ``rec`` (anything carrying its four keys)."""
        return cls(
            rec.center,
            rec.recording_id,
            rec.episode_id,
            rec.content_key,
            run_id,
            stage,
            status,
            reasons,
        )

    def row(self) -> dict[str, object]:
        return {
            "center": self.center,
            "recording_id": self.recording_id,
            "episode_id": self.episode_id,
            "content_key": self.content_key,
            "run_id": self.run_id,
            "stage": self.stage,
            "status": self.status,
            "reason_codes": [r.code for r in self.reasons],
            "message": "; ".join(str(r) for r in self.reasons),
        }


def write_outcomes(lake: Store, run_id: str, part: str, outcomes: list[Outcome]) -> None:
    df = pl.DataFrame([o.row() for o in outcomes], schema=OUTCOME_SCHEMA)
    lake.write_parquet(layout.outcome_ledger_file(run_id, part), df)


def read_outcomes(lake: Store, run_id: str | None = None) -> pl.DataFrame:
    """All outcome rows (of one run, or of every run), oldest run first."""
    runs = [run_id] if run_id else lake.ls_names(layout.OUTCOME_LEDGER_DIR)
    frames = []
    for r in sorted(runs):
        for name in lake.ls_names(f"{layout.OUTCOME_LEDGER_DIR}/{r}"):
            if name.endswith(".parquet"):
                frames.append(lake.read_parquet(f"{layout.OUTCOME_LEDGER_DIR}/{r}/{name}"))
    if not frames:
        return pl.DataFrame(schema=OUTCOME_SCHEMA)
    return pl.concat(frames, how="vertical")


def unfinished_recordings(lake: Store, centers: list[str]) -> list[BronzeRecording]:
    """Bronze recordings whose latest outcome is pending, or that never got one (a crash)."""
    outcomes = read_outcomes(lake)
    final = set(
        outcomes.group_by("content_key")
        .agg(pl.col("status").sort_by("run_id").last())
        .filter(pl.col("status") != "pending")["content_key"]
        .to_list()
    )
    out = []
    for center in centers:
        for name in lake.ls_names(layout.pull_ledger_dir(center)):
            df = lake.read_parquet(f"{layout.pull_ledger_dir(center)}/{name}")
            for row in df.filter(pl.col("status") == "bronze").iter_rows(named=True):
                key = row["content_key"]
                if key in final:
                    continue
                rec_file = f"{layout.bronze_dir(center, key)}/{layout.BRONZE_RECORD_NAME}"
                if lake.exists(rec_file):
                    out.append(BronzeRecording.from_dict(lake.read_json(rec_file)))
                    final.add(key)
    return out
