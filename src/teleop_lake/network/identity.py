"""Stable identities: episode ids from center + recording id, recording content keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def episode_id_for(center: str, recording_id: str) -> str:
    """The lake's stable episode id: the same recording always gets the same id."""
    digest = hashlib.sha256(f"{center}/{recording_id}".encode()).hexdigest()[:16]
    return f"{center[:3]}-{digest}"


def content_key_for(file_sha256s: Iterable[tuple[str, str]]) -> str:
    """Content address of a recording: hash over its (relative path, sha256) pairs, order-free."""
    h = hashlib.sha256()
    for path, sha in sorted(file_sha256s):
        h.update(f"{path}\0{sha}\n".encode())
    return h.hexdigest()
