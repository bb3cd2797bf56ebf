"""Processing parameters from a TOML file: how a night is told to clean, gate and split otherwise.

Every table and key mirrors `teleop_lake.processing.ProcessingParams` (the defaults and what
each number means are documented there and in the dataclasses it nests)::

    [cleaning]
    spike_threshold = 7.0
    max_dropout_s = 0.5

    [gates]
    long_fault_policy = "split"
    min_quality_score = 0.6

    [gates.weights]
    frozen = 1.0

Keys left out keep their defaults. An unknown key, a wrong type or a value the parameters
refuse is a `ParamsFileError` naming the key and the file, before anything is processed. The
hash of the resulting parameters (`ProcessingParams.param_hash`) goes into every episode row.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any

from teleop_lake.processing_params import ProcessingParams


class ParamsFileError(ValueError):
    """A parameters file that cannot be used; the message says which key and why."""


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ParamsFileError(f"{where}: expected a table, got {value!r}")
        return _build(kind, value, where)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamsFileError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsFileError(f"{where}: expected an integer, got {value!r}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ParamsFileError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ParamsFileError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ParamsFileError(f"{where}: expected an array, got {value!r}")
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ParamsFileError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(
            _convert(v, a, f"{where}[{i}]")
            for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    raise ParamsFileError(f"{where}: parameters of type {kind} cannot be set from a file")


def _build(cls: Any, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ParamsFileError(
            f"unknown parameter {prefix}{unknown[0]}; "
            f"known in [{where or 'top level'}]: {', '.join(sorted(fields))}"
        )
    kwargs = {
        name: _convert(value, hints[name], f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ParamsFileError(f"[{where or 'top level'}]: {exc}") from None


def params_from_dict(data: dict[str, Any]) -> ProcessingParams:
    """`ProcessingParams` from nested plain data (a parsed TOML file, or `dataclasses.asdict`)."""
    params: ProcessingParams = _build(ProcessingParams, data, "")
    return params


def load_params(path: str | Path) -> ProcessingParams:
    """Read a parameters file; `ParamsFileError` says what is wrong and where."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsFileError(f"{p}: no such parameters file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParamsFileError(f"{p}: not valid TOML ({exc})") from None
    try:
        return params_from_dict(data)
    except ParamsFileError as exc:
        raise ParamsFileError(f"{p}: {exc}") from None
