"""ROS 1 message definitions: ``.msg`` text, the ROS md5sum, the embedded full text, serialisation.

A `MessageRegistry` holds ``.msg`` texts by full type name (``pkg/Type``). From them it derives
what a ROS 1 recorder puts into a bag's connection header, the way the ROS 1 tools do:

- ``md5sum``: the md5 of the type's canonical text: constants first (``type NAME=value``),
  then one line per field, ``type name`` for built-in types (array suffix kept as written) or
  ``<md5 of the nested type> name`` for message types; comments and blank lines dropped, lines
  joined with ``\\n`` and no trailing newline (genmsg's ``compute_md5_text``).
- ``message_definition``: the top-level ``.msg`` file text and a newline, then for every nested
  type (depth first, in field order, each once) a line of 80 ``=``, a line ``MSG: pkg/Type``,
  that type's file text and a newline; the very last newline removed (genmsg's
  ``compute_full_text``). ``.msg`` files end with a newline, so a blank line precedes each
  separator, as in bags written by ``rosbag record``.

Serialisation is ROS 1's little-endian wire format: fixed-size scalars packed as they are,
``string`` and variable arrays prefixed by a uint32 length, fixed arrays without one,
``time`` as uint32 seconds + uint32 nanoseconds, ``duration`` as int32 + int32, nested
messages inline. Type names inside a ``.msg`` resolve as ROS does: ``Header`` is
``std_msgs/Header``, an unqualified message name is in the enclosing type's package.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SEPARATOR_LINE = "=" * 80

# Built-in ROS 1 field types: struct format (little endian) and numpy dtype.
SCALAR_FORMATS: dict[str, str] = {
    "bool": "<B",
    "byte": "<b",
    "char": "<B",
    "int8": "<b",
    "uint8": "<B",
    "int16": "<h",
    "uint16": "<H",
    "int32": "<i",
    "uint32": "<I",
    "int64": "<q",
    "uint64": "<Q",
    "float32": "<f",
    "float64": "<d",
}
NUMPY_DTYPES: dict[str, str] = {
    "bool": "u1",
    "byte": "i1",
    "char": "u1",
    "int8": "i1",
    "uint8": "u1",
    "int16": "<i2",
    "uint16": "<u2",
    "int32": "<i4",
    "uint32": "<u4",
    "int64": "<i8",
    "uint64": "<u8",
    "float32": "<f4",
    "float64": "<f8",
}
BUILTIN_TYPES = frozenset({*SCALAR_FORMATS, "string", "time", "duration"})
NANOSECONDS_PER_SECOND = 1_000_000_000

_UINT32 = struct.Struct("<I")
_TIME = struct.Struct("<II")
_DURATION = struct.Struct("<ii")
Encoder = Callable[[Any, bytearray], None]
_ARRAY_SUFFIX = re.compile(r"^(?P<base>[^\[\]]+)(?:\[(?P<size>\d*)\])?$")


@dataclass(frozen=True)
class Field:
    """One field of a message: its type as written, the resolved base type, array shape."""

    written_type: str
    name: str
    base_type: str  # built-in name or resolved ``pkg/Type``
    is_array: bool
    fixed_length: int | None  # ``T[N]``; None for ``T[]`` and scalars

    @property
    def is_builtin(self) -> bool:
        return self.base_type in BUILTIN_TYPES


@dataclass(frozen=True)
class Constant:
    """A constant line ``type NAME=value`` (value text as written, stripped)."""

    type: str
    name: str
    value_text: str


@dataclass(frozen=True)
class MessageSpec:
    """A parsed ``.msg`` text."""

    full_name: str
    text: str
    fields: tuple[Field, ...]
    constants: tuple[Constant, ...]


def _resolve(type_name: str, package: str) -> str:
    if type_name in BUILTIN_TYPES:
        return type_name
    if type_name == "Header":
        return "std_msgs/Header"
    if "/" in type_name:
        return type_name
    return f"{package}/{type_name}"


def parse_msg(full_name: str, text: str) -> MessageSpec:
    """Parse one ``.msg`` text (comments, blank lines and constants handled as ROS does)."""
    package = full_name.split("/", 1)[0]
    fields: list[Field] = []
    constants: list[Constant] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        type_token, _, rest = line.partition(" ")
        rest = rest.strip()
        if "=" in rest and type_token == "string":
            name, _, value = rest.partition("=")
            constants.append(Constant(type_token, name.strip(), value.strip()))
            continue
        rest = rest.split("#", 1)[0].strip()
        if "=" in rest:
            name, _, value = rest.partition("=")
            constants.append(Constant(type_token, name.strip(), value.strip()))
            continue
        m = _ARRAY_SUFFIX.match(type_token)
        if m is None or not rest:
            raise ValueError(f"{full_name}: cannot parse line {raw_line!r}")
        size = m.group("size")
        is_array = "[" in type_token
        fields.append(
            Field(
                written_type=type_token,
                name=rest,
                base_type=_resolve(m.group("base"), package),
                is_array=is_array,
                fixed_length=int(size) if size else None,
            )
        )
    return MessageSpec(full_name, text, tuple(fields), tuple(constants))


class MessageRegistry:
    """``.msg`` texts by full type name, with the md5sums and full definitions derived from them."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._specs = {name: parse_msg(name, text) for name, text in texts.items()}
        self._md5: dict[str, str] = {}
        self._encoders: dict[str, Encoder] = {}

    def spec(self, full_name: str) -> MessageSpec:
        try:
            return self._specs[full_name]
        except KeyError:
            raise KeyError(f"no .msg text registered for {full_name!r}") from None

    def md5_text(self, full_name: str) -> str:
        """The canonical text the ROS md5sum is computed over."""
        spec = self.spec(full_name)
        lines = [f"{c.type} {c.name}={c.value_text}" for c in spec.constants]
        for f in spec.fields:
            if f.is_builtin:
                lines.append(f"{f.written_type} {f.name}")
            else:
                lines.append(f"{self.md5sum(f.base_type)} {f.name}")
        return "\n".join(lines)

    def md5sum(self, full_name: str) -> str:
        """The ROS 1 md5sum of a message type (what ``rosmsg md5`` prints)."""
        if full_name not in self._md5:
            self._md5[full_name] = hashlib.md5(
                self.md5_text(full_name).encode(), usedforsecurity=False
            ).hexdigest()
        return self._md5[full_name]

    def dependencies(self, full_name: str) -> list[str]:
        """Nested message types, depth first in field order, each listed once."""
        seen: list[str] = []

        def visit(name: str) -> None:
            for f in self.spec(name).fields:
                if f.is_builtin:
                    continue
                if f.base_type not in seen:
                    seen.append(f.base_type)
                visit(f.base_type)

        visit(full_name)
        return seen

    def full_definition(self, full_name: str) -> str:
        """The ``message_definition`` a ROS 1 recorder embeds in the connection header."""
        parts = [self.spec(full_name).text + "\n"]
        for dep in self.dependencies(full_name):
            parts.append(f"{SEPARATOR_LINE}\nMSG: {dep}\n{self.spec(dep).text}\n")
        return "".join(parts)[:-1]

    def serialize(self, full_name: str, value: dict[str, Any]) -> bytes:
        """ROS 1 serialisation of a message given as a dict of field values (nested dicts)."""
        out = bytearray()
        self.encoder(full_name)(value, out)
        return bytes(out)

    def encoder(self, full_name: str) -> Encoder:
        """A function appending the serialisation of a message (dict) to a bytearray."""
        if full_name not in self._encoders:
            spec = self.spec(full_name)
            parts = [(f.name, self._field_encoder(f)) for f in spec.fields]

            def encode(value: dict[str, Any], out: bytearray) -> None:
                for name, enc in parts:
                    try:
                        v = value[name]
                    except KeyError:
                        raise KeyError(f"{full_name}: no value for field {name!r}") from None
                    enc(v, out)

            self._encoders[full_name] = encode
        return self._encoders[full_name]

    def _scalar_encoder(self, base: str) -> Encoder:
        if base in SCALAR_FORMATS:
            packer = struct.Struct(SCALAR_FORMATS[base]).pack

            def enc_scalar(v: Any, out: bytearray) -> None:
                out += packer(v)

            return enc_scalar
        if base == "string":

            def enc_string(v: Any, out: bytearray) -> None:
                data = v.encode() if isinstance(v, str) else bytes(v)
                out += _UINT32.pack(len(data))
                out += data

            return enc_string
        if base in ("time", "duration"):
            packer = (_TIME if base == "time" else _DURATION).pack

            def enc_time(v: Any, out: bytearray) -> None:
                out += packer(*divmod(int(v), NANOSECONDS_PER_SECOND))

            return enc_time
        return self.encoder(base)  # nested message, inline

    def _field_encoder(self, f: Field) -> Encoder:
        if not f.is_array:
            return self._scalar_encoder(f.base_type)
        fixed = f.fixed_length

        def length(v: Any, out: bytearray) -> None:
            if fixed is None:
                out += _UINT32.pack(len(v))
            elif len(v) != fixed:
                raise ValueError(f"field {f.name!r} is {f.written_type}, got {len(v)} values")

        if f.base_type in NUMPY_DTYPES:
            dtype = np.dtype(NUMPY_DTYPES[f.base_type])

            def enc_numeric(v: Any, out: bytearray) -> None:
                length(v, out)
                if dtype.itemsize == 1 and isinstance(v, bytes | bytearray | memoryview):
                    out += v
                else:
                    out += np.asarray(v).astype(dtype, copy=False).tobytes()

            return enc_numeric
        item = self._scalar_encoder(f.base_type)

        def enc_items(v: Any, out: bytearray) -> None:
            length(v, out)
            for x in v:
                item(x, out)

        return enc_items
