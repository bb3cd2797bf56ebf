"""Reading ROS 1 bags in tests as the third-party library would, had it read constants right.

rosbags takes only upper-case names as message constants and reads a real definition such as
Leju's ``int8 kError = -1`` as a field (and then refuses the bag: its md5 differs). Tests that
check what a writer put in a bag read it through `BagReader`: rosbags' own ROS 1 reader, with
the embedded definitions' constant names upper-cased (they occupy no bytes), so a test never
depends on the project's reader to judge the project's writer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.rosbag1 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from teleop_lake.formats.ros1_layout import constants_upper_case


class BagReader:
    """The connections and messages of one or more bag parts, like ``AnyReader``."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._readers = [Reader(Path(p)) for p in paths]
        self._store = get_typestore(Stores.EMPTY)
        self.connections: list[Any] = []

    def __enter__(self) -> BagReader:
        types: dict[str, Any] = {}
        for r in self._readers:
            r.open()
            for c in r.connections:
                types.update(get_types_from_msg(constants_upper_case(c.msgdef.data), c.msgtype))
                self.connections.append(c)
        self._store.register(types)
        return self

    def __exit__(self, *exc: object) -> None:
        for r in self._readers:
            r.close()

    def messages(
        self, connections: Sequence[Any] | None = None
    ) -> Iterator[tuple[Any, int, bytes]]:
        wanted = None if connections is None else {(c.topic, c.msgtype) for c in connections}
        for r in self._readers:
            mine = [c for c in r.connections if wanted is None or (c.topic, c.msgtype) in wanted]
            yield from r.messages(connections=mine)

    def deserialize(self, data: bytes, msgtype: str) -> Any:
        return self._store.deserialize_ros1(data, msgtype)


def open_recording(paths: Sequence[Path]) -> Any:
    """A reader for one recording: `BagReader` over ROS 1 bag parts, rosbags' ``AnyReader``
    for a rosbag2 folder (whose definitions are the standard messages)."""
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return AnyReader([Path(paths[0])])
    return BagReader(paths)
