"""Why a recording cannot be used: machine-readable reason codes and the exception that carries them.

Every stage that refuses a recording raises `RecordingRejected` with one or more
`Reason`s. The pipeline catches it, quarantines the recording with those
reasons, and goes on with the night. A reason says *what* (``code``), *where*
(``file``, ``stream``) and, in ``message``, what to do about it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The fixed set of reason codes. Reports and tests rely on these strings.
REASON_CODES: dict[str, str] = {
    "checksum_mismatch": "a file's sha256 differs from the drop manifest",
    "size_mismatch": "a file's size differs from the drop manifest",
    "file_missing": "a file listed in the drop manifest is not in the drop",
    "unsafe_path": "a manifest path is absolute, contains '..' or leaves the drop, or names a "
    "symbolic link, FIFO, device, socket or folder",
    "file_too_large": "a file is larger than its center's per-file cap",
    "unknown_format": "the manifest names a format no adapter reads",
    "unknown_center": "the drop belongs to a center without a profile",
    "truncated_file": "a recording file ends early or its index is damaged",
    "corrupt_file": "a recording file cannot be parsed",
    "missing_stream": "a required stream is absent from the recording",
    "unknown_message_type": "a message type has no definition and cannot be decoded",
    "unmapped_stream": "the profile maps a stream to a topic/key the recording lacks or types differently",
    "unknown_joint": "a joint name the robot model does not know",
    "unknown_end_effector": "the label files name an end-effector type the center profile lacks",
    "bad_timestamps": "timestamps are not usable (non-monotonic, duplicated, or out of range)",
    "too_short": "the recording is too short to align and label",
    "long_dropout": "a dropout longer than the repair policy allows",
    "long_frozen": "a frozen segment longer than the repair policy allows",
    "low_quality": "the episode quality score is below the publishing gate",
    "clock_unresolved": "a stream's clock offset could not be estimated",
    "schema_violation": "the processed episode failed the data contract",
    "processing_error": "an unexpected error while processing; see message",
    "superseded": "a newer delivery of the same recording arrived the same night",
    "resource_limit": "decoding and processing the recording went past its wall-time or memory "
    "limit, or killed the process doing it",
    "stuck_pending": "the recording stayed pending (a transient error) too many nights",
}


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    file: str | None = None
    stream: str | None = None

    def __post_init__(self) -> None:
        if self.code not in REASON_CODES:
            raise ValueError(f"unknown reason code {self.code!r}; add it to REASON_CODES")

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def __str__(self) -> str:
        where = ", ".join(x for x in (self.file, self.stream) if x)
        return f"{self.code}: {self.message}" + (f" [{where}]" if where else "")


class RecordingRejected(Exception):
    """A recording that cannot be used; carries the reasons for the quarantine."""

    def __init__(self, *reasons: Reason) -> None:
        if not reasons:
            raise ValueError("RecordingRejected needs at least one reason")
        self.reasons = reasons
        super().__init__("; ".join(str(r) for r in reasons))
