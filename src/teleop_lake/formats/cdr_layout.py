"""Decoding ROS 2 CDR messages into numpy columns, in bulk when the layout is fixed.

What belongs here: the type store of a ROS 2 schema (`cdr_typestore_for`, standard
types filling definitions a recorder left out), the byte layout of one CDR message
(`compile_cdr_layout`: XCDR1 little endian, every primitive aligned to its size
counted from the end of the 4-byte encapsulation header), and `decode_cdr_fields`,
which reads chosen field paths of every message of a topic either in bulk (every
payload has the same length, encapsulation and length prefixes: one strided numpy
view per field) or one message at a time with rosbags' ``deserialize_cdr``.

A sensor_msgs/JointState with a fixed name list, fixed frame_id and fixed array
lengths is fixed-size: the common case for joint streams. Results are the same
`DecodedFields` the ROS 1 decoder returns, so `numeric_rows` / `stamp_ns` apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.msg import normalize_msgtype
from rosbags.typesys.store import Typestore

from teleop_lake.formats.ros1_bag import RawMessages
from teleop_lake.formats.ros1_layout import (
    PRIMITIVE_DTYPES,
    DecodedFields,
    FieldSlot,
    FixedLayout,
    LayoutError,
    MessageDefinitionError,
    bulk_decode,
    layout_fits,
    per_message_decode,
    types_from_definition,
)

ENCAPSULATION_BYTES = 4
CDR_LE = 0x0001  # encapsulation kind, big-endian u16 in bytes 0..1: plain CDR, little endian
_TIME_FIELDS = (("sec", "int32"), ("nanosec", "uint32"))
_TIME_TYPES = ("builtin_interfaces/msg/Time", "builtin_interfaces/msg/Duration")


@cache
def _standard_store() -> Typestore:
    return get_typestore(Stores.ROS2_HUMBLE)


def _referenced(fielddef: Any) -> set[str]:
    """Names of the message types one definition's fields use."""
    out: set[str] = set()
    for _, (node, desc) in fielddef[1]:
        if node == Nodetype.NAME:
            out.add(desc)
        elif node in (Nodetype.ARRAY, Nodetype.SEQUENCE) and desc[0][0] == Nodetype.NAME:
            out.add(desc[0][1])
    return out


@cache
def cdr_typestore_for(msgtype: str, msgdef: str) -> Typestore:
    """A type store with ``msgtype`` and every type it uses.

    Types the schema text leaves out (some recorders embed only the top-level
    definition) are taken from the standard ROS 2 (Humble) definitions; a type found
    in neither raises `MessageDefinitionError`.
    """
    name = normalize_msgtype(msgtype)
    store = get_typestore(Stores.EMPTY)
    std = _standard_store()
    types: dict[str, Any] = {}
    if msgdef.strip():
        try:
            types = types_from_definition(msgdef, name)
        except Exception as err:  # rosbags raises several types on bad definitions
            raise MessageDefinitionError(
                f"cannot parse the definition of {msgtype!r}: {err}"
            ) from err
    elif name not in std.fielddefs:
        raise MessageDefinitionError(
            f"the recording carries no definition for {msgtype!r} and it is not a standard "
            "ROS 2 type; ask the center to record with message definitions (MCAP schemas)"
        )
    todo = [name]
    seen: set[str] = set()
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        if t not in types:
            if t not in std.fielddefs:
                raise MessageDefinitionError(
                    f"{msgtype!r} uses {t!r}, which has no definition in the recording "
                    "and is not a standard ROS 2 type"
                )
            types[t] = std.fielddefs[t]
        todo.extend(_referenced(types[t]))
    store.register(types)
    return store


def _align(pos: int, size: int) -> int:
    rel = pos - ENCAPSULATION_BYTES
    pad = (-rel) % min(size, 8)
    return pos + pad


def compile_cdr_layout(store: Typestore, msgtype: str, sample: bytes) -> FixedLayout:
    """The byte layout of ``sample``, a serialized CDR (XCDR1 LE) ``msgtype`` message."""
    slots: dict[str, FieldSlot] = {}
    if len(sample) < ENCAPSULATION_BYTES:
        raise LayoutError(f"{msgtype}: payload of {len(sample)} bytes has no CDR header")
    header = int.from_bytes(sample[:4], "little")
    prefixes: list[tuple[int, int]] = [(0, header)]
    if int.from_bytes(sample[:2], "big") != CDR_LE:
        raise LayoutError(f"{msgtype}: not little-endian plain CDR")

    def read_u32(pos: int) -> int:
        if pos + 4 > len(sample):
            raise LayoutError(f"{msgtype}: payload of {len(sample)} bytes is too short")
        return int.from_bytes(sample[pos : pos + 4], "little")

    def walk_base(path: str, base: str, pos: int, count: int | None) -> int:
        if base in ("string", "wstring"):
            for _ in range(1 if count is None else count):
                pos = _align(pos, 4)
                length = read_u32(pos)
                prefixes.append((pos, length))
                pos += 4 + length * (2 if base == "wstring" else 1)
            return pos
        dtype = PRIMITIVE_DTYPES.get(base)
        if dtype is None:
            raise LayoutError(f"{msgtype}: unsupported primitive {base!r} in {path}")
        size = np.dtype(dtype).itemsize
        n = 1 if count is None else count
        if n:
            pos = _align(pos, size)
        slots[path] = FieldSlot(pos, dtype, n, count is not None)
        return pos + size * n

    def walk_type(prefix: str, typ: str, pos: int) -> int:
        if typ in _TIME_TYPES and typ not in store.fielddefs:
            for name, base in _TIME_FIELDS:
                pos = walk_base(f"{prefix}{name}", base, pos, None)
            return pos
        if typ not in store.fielddefs:
            raise LayoutError(f"{msgtype}: no definition for nested type {typ!r}")
        fields = store.fielddefs[typ][1]
        if not fields:  # an empty struct serializes as one uint8
            return pos + 1
        for name, (node, desc) in fields:
            pos = walk_field(f"{prefix}{name}", node, desc, pos)
        return pos

    def walk_field(path: str, node: int, desc: Any, pos: int) -> int:
        if node == Nodetype.BASE:
            return walk_base(path, desc[0], pos, None)
        if node == Nodetype.NAME:
            return walk_type(f"{path}.", desc, pos)
        (sub_node, sub_desc), fixed = desc
        if node == Nodetype.SEQUENCE:
            pos = _align(pos, 4)
            count = read_u32(pos)
            prefixes.append((pos, count))
            pos += 4
        else:
            count = int(fixed)
        if sub_node == Nodetype.BASE:
            return walk_base(path, sub_desc[0], pos, count)
        for i in range(count):
            pos = walk_field(f"{path}[{i}]", sub_node, sub_desc, pos)
        return pos

    end = walk_type("", msgtype, ENCAPSULATION_BYTES)
    # CDR serializers may pad the payload to a multiple of 4 bytes.
    if not end <= len(sample) <= end + 3:
        raise LayoutError(f"{msgtype}: definition covers {end} bytes, payload has {len(sample)}")
    return FixedLayout(msgtype, len(sample), slots, tuple(prefixes))


def decode_cdr_fields(
    raw: RawMessages,
    store: Typestore,
    msgtype: str,
    paths: Sequence[str],
    *,
    allow_bulk: bool = True,
) -> DecodedFields:
    """Read ``paths`` of every CDR message of ``raw``; bulk when the layout is fixed.

    Same conventions as `ros1_layout.decode_fields` (time fields expand to
    ``<path>.sec`` / ``<path>.nanosec`` in bulk mode).
    """
    if allow_bulk and raw.n_messages:
        matrix = raw.fixed_matrix()
        if matrix is not None:
            try:
                layout = compile_cdr_layout(store, msgtype, matrix[0].tobytes())
            except LayoutError:
                layout = None
            if layout is not None and layout_fits(layout, matrix):
                expanded: list[str] = []
                for p in paths:
                    if p not in layout.slots and f"{p}.sec" in layout.slots:
                        expanded += [f"{p}.sec", f"{p}.nanosec"]
                    else:
                        expanded.append(p)
                return DecodedFields(bulk_decode(layout, matrix, expanded), bulk=True)
    payloads = list(raw.payloads())
    return DecodedFields(
        per_message_decode(store, msgtype, payloads, paths, deserialize=store.deserialize_cdr),
        bulk=False,
    )
