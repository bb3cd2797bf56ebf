"""Package names imported on first use (PEP 562).

A package whose ``__init__`` re-exports its modules' names would import all of them, and
their heavy dependencies, as soon as any one of its modules is imported. With
``__getattr__ = lazy_getattr(__name__, EXPORTS, globals())`` a name is imported from its
module when it is first asked for, and kept in the package's namespace after that.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each name to its module."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
