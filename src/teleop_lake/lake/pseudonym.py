"""Operator pseudonyms: a keyed hash, so no release ever carries a raw operator id.

The key is created once per lake (``config/pseudonym.key``) and never released;
the same operator always gets the same pseudonym within one lake.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets

from teleop_lake.lake import layout
from teleop_lake.lake.storage import AlreadyExistsError, Store


def pseudonym_key(lake: Store) -> bytes:
    if not lake.exists(layout.PSEUDONYM_KEY):
        with contextlib.suppress(AlreadyExistsError):  # another worker created it first
            lake.write_bytes(layout.PSEUDONYM_KEY, secrets.token_hex(32).encode(), exclusive=True)
    return lake.read_bytes(layout.PSEUDONYM_KEY).strip()


def pseudonymize(key: bytes, operator_id: str | None) -> str | None:
    if not operator_id:
        return None
    return "op-" + hmac.new(key, operator_id.encode(), hashlib.sha256).hexdigest()[:12]
