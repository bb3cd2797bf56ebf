"""The drop boundary: a file of a center's drop is read only if it is a regular file inside it.

A drop is untrusted input. Paths in a manifest are already refused when they could leave the
drop by name (`teleop_lake.network.drop.check_relative_path`); this module refuses what a name
cannot show, before a byte is read:

- a symbolic link anywhere below the drop root (the file, a folder, the date folder): it
  could point anywhere, at ``/etc/passwd`` or ``/dev/zero``;
- anything that is not a regular file: a FIFO (a read would block forever), a device, a
  socket, a folder;
- a file larger than the center's cap (`CenterProfile.max_file_bytes`).

On a local drop every component is checked with ``lstat`` from the drop root down, and the
file is then opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked again on the open
descriptor, so a swap between the check and the open is caught too. Object stores (S3) have
no links or special files; their object's type and size come from the listing.

Reading stops at a limit the caller gives (the declared size, plus one byte to notice more):
a file that grows, or lies about its size, is never copied whole.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from teleop_lake.lake.storage import CHUNK_BYTES, Store


class UnsafeFileError(ValueError):
    """The file is not a regular file inside the drop (``unsafe_path``)."""


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _kind(mode: int) -> str | None:
    """What a non-regular file is; None for a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_local_components(root: str, rel: str) -> None:
    """Every folder from ``root`` down to ``rel`` must be a real folder (no symlink)."""
    parts = [p for p in rel.split("/") if p]
    path = root
    for i, part in enumerate(parts):
        path = f"{path}/{part}"
        st = os.lstat(path)
        last = i == len(parts) - 1
        if stat.S_ISLNK(st.st_mode):
            what = "the file" if last else f"folder {'/'.join(parts[: i + 1])!r}"
            raise UnsafeFileError(f"{rel}: {what} is a symbolic link; drops must hold real files")
        if not last and not stat.S_ISDIR(st.st_mode):
            raise UnsafeFileError(f"{rel}: {'/'.join(parts[: i + 1])!r} is not a folder")


@contextmanager
def open_drop_file(drop: Store, rel: str) -> Iterator[tuple[IO[bytes], int]]:
    """(the open file, its size) of ``rel`` in the drop, after the boundary checks."""
    if not drop.is_local:
        info = drop.fs.info(drop.full(rel))
        if info.get("type") != "file":
            raise UnsafeFileError(f"{rel}: is a {info.get('type')}, not a file")
        with drop.fs.open(drop.full(rel), "rb") as f:
            yield f, int(info.get("size") or 0)
        return
    check_local_components(drop.root, rel)
    path = drop.full(rel)
    kind = _kind(os.lstat(path).st_mode)
    if kind is not None:
        raise UnsafeFileError(f"{rel}: is {kind}; drops must hold regular files")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind is not None:  # swapped between the check and the open
            raise UnsafeFileError(f"{rel}: is {kind}; drops must hold regular files")
        os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f, st.st_size


def read_limited(f: IO[bytes], limit: int) -> Iterator[bytes]:
    """The file's bytes in chunks, at most ``limit`` of them."""
    left = limit
    while left > 0:
        chunk = f.read(min(CHUNK_BYTES, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


COPY_BUFFER_BYTES = 1 << 20
"""The buffer a drop file is copied through (`read_reused`). One buffer read into again and
again costs 0.9 CPU-s per GB copied and hashed, against 1.7-3.2 for a new 8 MB `bytes` per
read (each a fresh allocation the kernel must map and zero)."""


def read_reused(f: IO[bytes], limit: int) -> Iterator[memoryview]:
    """The file's bytes, at most ``limit`` of them, through one reused buffer: each view is
    valid only until the next is taken, so a consumer uses it (hash, write) before asking."""
    buf = bytearray(min(COPY_BUFFER_BYTES, max(limit, 1)))
    view = memoryview(buf)
    readinto = f.readinto  # type: ignore[attr-defined]  # io and fsspec files have it
    left = limit
    while left > 0:
        n = readinto(view[: min(len(buf), left)])
        if not n:
            return
        left -= n
        yield view[:n]


def read_drop_text(drop: Store, rel: str, limit: int) -> str:
    """A small text file of the drop (a manifest), refused if larger than ``limit`` bytes."""
    with open_drop_file(drop, rel) as (f, size):
        if size > limit:
            raise UnsafeFileError(f"{rel}: {size} bytes, more than the {limit} a text file may be")
        data = b"".join(read_limited(f, limit + 1))
    if len(data) > limit:
        raise UnsafeFileError(f"{rel}: more than the {limit} bytes a text file may be")
    return data.decode("utf-8")
