"""Raw-format adapters: one module per delivery format, found by a small registry.

What belongs here: the registry and the one entry point `read_recording`. An
adapter is a module in this package that defines ``RAW_FORMAT`` (the manifest's
``format`` string) and ``read(files, meta, profile) -> Recording``; adding a
format is adding such a module, nothing else. Adapters return a canonical
`Recording` with canonical stream names but raw units and recorder joint order
(`teleop_lake.standardize` does the rest), and raise `RecordingRejected` for
every bad input.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from teleop_lake.canonical import Recording, RecordingMeta
from teleop_lake.config.centers import CenterProfile
from teleop_lake.formats.ros1_bag import TopicInfo, list_topics
from teleop_lake.rejection import Reason, RecordingRejected
from teleop_lake.transient import is_transient

Adapter = Callable[[Sequence[Path], RecordingMeta, CenterProfile], Recording]

__all__ = ["TopicInfo", "list_topics", "read_recording", "supported_formats"]


@cache
def _adapters() -> dict[str, Adapter]:
    found: dict[str, Adapter] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        raw_format = getattr(module, "RAW_FORMAT", None)
        read = getattr(module, "read", None)
        if isinstance(raw_format, str) and callable(read):
            if raw_format in found:
                raise RuntimeError(f"two adapters claim format {raw_format!r}")
            found[raw_format] = read
    return found


def supported_formats() -> tuple[str, ...]:
    """The manifest ``format`` strings an adapter exists for."""
    return tuple(sorted(_adapters()))


def read_recording(
    raw_format: str, files: Sequence[Path], meta: RecordingMeta, profile: CenterProfile
) -> Recording:
    """Decode one delivered recording (all its local files) into a canonical `Recording`.

    Raises `RecordingRejected` with reasons naming the file and stream for every
    input that cannot be used.
    """
    adapter = _adapters().get(raw_format)
    if adapter is None:
        raise RecordingRejected(
            Reason(
                "unknown_format",
                f"no adapter reads format {raw_format!r}; supported: "
                f"{', '.join(supported_formats())}. Add a module to teleop_lake/formats/.",
            )
        )
    try:
        return adapter([Path(f) for f in files], meta, profile)
    except RecordingRejected:
        raise
    except MemoryError:
        raise
    except Exception as err:  # an adapter bug must not stop the night: quarantine it
        if is_transient(err):  # a full disk, a dropped connection: retried on a later night
            raise
        raise RecordingRejected(
            Reason("processing_error", f"{type(err).__name__} while decoding: {err}")
        ) from err
