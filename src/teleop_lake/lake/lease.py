"""One night at a time: a lease on the lake.

Two nights on one lake would pull, process and publish the same recordings twice, and two
publishes could interleave. A night therefore holds ``locks/night.lease.json`` while it runs:
owner (the run id), host, pid, a random token, when it was taken, its last heartbeat and when
it expires. It is created with an exclusive create (an atomic link on a folder; a check
before the write on object stores, which is as good as they allow without conditional
writes). A background thread renews the heartbeat every third of the time to live, so a
night that dies (kill -9, a lost machine) leaves a lease that expires by itself; the next
night takes an expired lease over, and says so in its log.

A second night finds the lease held and fails fast with `LakeBusyError` (what holds it and
until when), or waits for it with ``wait=True``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from teleop_lake.lake.storage import AlreadyExistsError, Store

LEASE_REL = "locks/night.lease.json"
DEFAULT_TTL_S = 300.0
POLL_S = 5.0


class LakeBusyError(RuntimeError):
    """Another night holds the lake."""

    def __init__(self, lease: Lease, lake_url: str) -> None:
        self.lease = lease
        super().__init__(
            f"another night holds the lake {lake_url}: run {lease.owner} on {lease.host} "
            f"(pid {lease.pid}) since {lease.acquired_at}, last heartbeat {lease.heartbeat_at}; "
            f"its lease expires at {lease.expires_at} unless renewed. Wait for it (--wait), or, "
            f"if that night is dead, let the lease expire; never delete {LEASE_REL} of a "
            "running night"
        )


@dataclass(frozen=True)
class Lease:
    owner: str
    token: str
    host: str
    pid: int
    acquired_at: str
    heartbeat_at: str
    expires_at: str
    ttl_s: float

    def expired(self, now: dt.datetime) -> bool:
        return dt.datetime.fromisoformat(self.expires_at) <= now

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Lease:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def read_lease(lake: Store) -> Lease | None:
    """The lease as it is now (None: the lake is free; an unreadable lease counts as expired)."""
    try:
        return Lease.from_dict(lake.read_json(LEASE_REL))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        epoch = dt.datetime.fromtimestamp(0, dt.UTC).isoformat()
        return Lease("unreadable", "", "", 0, epoch, epoch, epoch, 0.0)


def _new_lease(owner: str, ttl_s: float, now: dt.datetime, token: str | None = None) -> Lease:
    return Lease(
        owner=owner,
        token=token or uuid.uuid4().hex,
        host=socket.gethostname(),
        pid=os.getpid(),
        acquired_at=now.isoformat(),
        heartbeat_at=now.isoformat(),
        expires_at=(now + dt.timedelta(seconds=ttl_s)).isoformat(),
        ttl_s=ttl_s,
    )


def try_acquire(
    lake: Store, owner: str, ttl_s: float = DEFAULT_TTL_S, log: Callable[[str], None] = print
) -> Lease:
    """Take the lease now or raise `LakeBusyError`. An expired lease is taken over."""
    for _ in range(3):
        now = _utcnow()
        lease = _new_lease(owner, ttl_s, now)
        try:
            lake.write_json(LEASE_REL, asdict(lease), exclusive=True)
            return lease
        except AlreadyExistsError:
            held = read_lease(lake)
            if held is None:
                continue  # released meanwhile
            if not held.expired(now):
                raise LakeBusyError(held, lake.url) from None
            # Move the dead night's lease aside (one taker wins the rename), then retry.
            aside = f"locks/expired/{held.token or uuid.uuid4().hex}.json"
            lake.fs.makedirs(lake.full("locks/expired"), exist_ok=True)
            try:
                lake.fs.mv(lake.full(LEASE_REL), lake.full(aside))
                log(
                    f"took over the expired lease of run {held.owner} ({held.host}, pid "
                    f"{held.pid}, last heartbeat {held.heartbeat_at}); kept as {aside}"
                )
            except FileNotFoundError:
                pass
    held = read_lease(lake)
    if held is not None:
        raise LakeBusyError(held, lake.url)
    raise RuntimeError(f"could not take the lease of {lake.url}: it changes hands too fast")


def acquire(
    lake: Store,
    owner: str,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    wait: bool = False,
    log: Callable[[str], None] = print,
    poll_s: float = POLL_S,
) -> Lease:
    """Take the lease; with ``wait``, wait as long as another live night holds it."""
    announced = False
    while True:
        try:
            return try_acquire(lake, owner, ttl_s, log)
        except LakeBusyError as busy:
            if not wait:
                raise
            if not announced:
                log(f"waiting for the lake: {busy}")
                announced = True
            time.sleep(poll_s)


def renew(lake: Store, lease: Lease) -> Lease:
    """Move the heartbeat and expiry forward, if the lease is still ours."""
    held = read_lease(lake)
    if held is None or held.token != lease.token:
        raise LeaseLostError(f"the lease of run {lease.owner} was taken: it now is {held}")
    now = _utcnow()
    renewed = Lease(
        **{
            **asdict(lease),
            "heartbeat_at": now.isoformat(),
            "expires_at": (now + dt.timedelta(seconds=lease.ttl_s)).isoformat(),
        }
    )
    lake.write_json(LEASE_REL, asdict(renewed))
    return renewed


def release(lake: Store, lease: Lease) -> None:
    """Give the lease back, if it is still ours."""
    held = read_lease(lake)
    if held is not None and held.token == lease.token:
        lake.fs.rm(lake.full(LEASE_REL))


class LeaseLostError(RuntimeError):
    """The lease expired and another night took it: this night must stop publishing."""


@contextmanager
def hold_lease(
    lake: Store,
    owner: str,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    wait: bool = False,
    log: Callable[[str], None] = print,
) -> Iterator[Callable[[], None]]:
    """Hold the lease for the ``with`` block, renewing it in the background. Yields a check
    that raises `LeaseLostError` if the lease was lost (call it before publishing)."""
    lease = acquire(lake, owner, ttl_s=ttl_s, wait=wait, log=log)
    stop = threading.Event()
    lost: list[BaseException] = []
    current = [lease]

    def heartbeat() -> None:
        while not stop.wait(ttl_s / 3):
            try:
                current[0] = renew(lake, current[0])
            except LeaseLostError as exc:
                lost.append(exc)
                return
            except Exception as exc:  # a storage hiccup: try again at the next beat
                log(f"could not renew the lake lease: {type(exc).__name__}: {exc}")

    def check() -> None:
        if lost:
            raise lost[0]

    beat = threading.Thread(target=heartbeat, name="lake-lease", daemon=True)
    beat.start()
    try:
        yield check
    finally:
        stop.set()
        beat.join(timeout=10)
        release(lake, current[0])
