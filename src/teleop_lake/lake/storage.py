"""Byte-level access to the lake and to drops through fsspec URLs (local path, file://, s3://).

Nothing here computes: it reads, writes, lists and hashes bytes. Every write of
a finished file goes to a temporary name first and is renamed into place, so a
crash never leaves a half-written file under a final name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

CHUNK_BYTES = 8 * 1024 * 1024
HASH_BUFFER_BYTES = 1 << 20
FICLONE = 0x40049409
"""Linux's ioctl that makes a file share another's data extents, copy-on-write (a reflink:
btrfs, XFS with reflink=1, bcachefs, OCFS2)."""
CLONE_UNSUPPORTED = {
    errno.EOPNOTSUPP,  # the filesystem has no reflinks (ext4, tmpfs)
    errno.EXDEV,  # the drop and the lake are on different filesystems
    errno.EINVAL,  # not a regular file, or extents the filesystem cannot share
    errno.ENOTTY,  # no such ioctl here
    errno.EPERM,
    errno.EBADF,
}


def _ficlone(dst_fd: int, src_fd: int) -> None:
    """``dst_fd`` (empty, writable) becomes a copy-on-write clone of ``src_fd``'s file."""
    fcntl.ioctl(dst_fd, FICLONE, src_fd)


class AlreadyExistsError(FileExistsError):
    pass


def json_bytes(obj: Any) -> bytes:
    """The bytes `Store.write_json` writes for ``obj`` (what a signature is taken over)."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8")


@dataclass(frozen=True)
class Store:
    """A folder addressed by an fsspec URL; all paths below it are '/'-separated and relative."""

    url: str

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        fs, _ = fsspec.core.url_to_fs(self.url)
        return fs

    @property
    def root(self) -> str:
        _, root = fsspec.core.url_to_fs(self.url)
        return str(root).rstrip("/")

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def full(self, rel: str) -> str:
        return f"{self.root}/{rel.lstrip('/')}" if rel else self.root

    def uri(self, rel: str) -> str:
        """A URL for ``rel`` that other processes can open."""
        base = self.url.rstrip("/")
        return f"{base}/{rel.lstrip('/')}"

    def child(self, rel: str) -> Store:
        return Store(self.uri(rel))

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.full(rel)))

    def isdir(self, rel: str) -> bool:
        return bool(self.fs.isdir(self.full(rel)))

    def ls_names(self, rel: str = "") -> list[str]:
        """Names (not paths) directly under ``rel``; empty when it does not exist."""
        full = self.full(rel)
        if not self.fs.exists(full):
            return []
        names = []
        for entry in self.fs.ls(full, detail=False):
            names.append(str(entry).rstrip("/").rsplit("/", 1)[-1])
        return sorted(names)

    def walk_files(self, rel: str = "") -> list[str]:
        """Every file below ``rel``, as paths relative to this store."""
        full = self.full(rel)
        if not self.fs.exists(full):
            return []
        out = []
        prefix = self.root + "/"
        for path in self.fs.find(full):
            p = str(path)
            out.append(p[len(prefix) :] if p.startswith(prefix) else p)
        return sorted(out)

    def size(self, rel: str) -> int:
        return int(self.fs.size(self.full(rel)))

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open(self.full(rel), "rb") as f:
            return bytes(f.read())

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8")

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel))

    def iter_chunks(self, rel: str) -> Iterator[bytes]:
        with self.fs.open(self.full(rel), "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk

    def sha256(self, rel: str) -> str:
        h = hashlib.sha256()
        for chunk in self.iter_chunks(rel):
            h.update(chunk)
        return h.hexdigest()

    def write_bytes(self, rel: str, data: bytes | memoryview, *, exclusive: bool = False) -> None:
        """Write ``data`` atomically (temp name, then rename).

        With ``exclusive`` the write fails with `AlreadyExistsError` if the file
        exists. On a local disk this is an atomic link; on object stores it is a
        check before the write (object stores without conditional writes cannot
        do better).
        """
        full = self.full(rel)
        fs = self.fs
        parent = full.rsplit("/", 1)[0]
        fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with fs.open(tmp, "wb") as f:
            f.write(data)
        if exclusive:
            if isinstance(fs, LocalFileSystem):
                try:
                    os.link(tmp, full)
                except FileExistsError as exc:
                    raise AlreadyExistsError(f"{self.uri(rel)} already exists") from exc
                finally:
                    os.unlink(tmp)
                return
            if fs.exists(full):
                fs.rm(tmp)
                raise AlreadyExistsError(f"{self.uri(rel)} already exists")
        fs.mv(tmp, full)

    def write_text(self, rel: str, text: str, *, exclusive: bool = False) -> None:
        self.write_bytes(rel, text.encode("utf-8"), exclusive=exclusive)

    def write_json(self, rel: str, obj: Any, *, exclusive: bool = False) -> None:
        self.write_bytes(rel, json_bytes(obj), exclusive=exclusive)

    def write_parquet(
        self,
        rel: str,
        df: pl.DataFrame,
        compression: str = "zstd",
        row_group_size: int | None = None,
    ) -> tuple[int, str]:
        """Write ``df`` as Parquet; returns (size, sha256) of the bytes written, so a caller
        that records them need not read the file back."""
        buf = io.BytesIO()
        df.write_parquet(
            buf,
            compression=compression,  # type: ignore[arg-type]
            statistics=True,
            row_group_size=row_group_size,
        )
        data = buf.getbuffer()
        self.write_bytes(rel, data)
        return len(data), hashlib.sha256(data).hexdigest()

    def write_parquet_tables(
        self,
        rel: str,
        tables: Iterable[pa.Table],
        schema: pa.Schema,
        *,
        compression: str = "none",
        row_group_size: int | None = None,
        statistics: list[str] | bool = True,
        dictionary: list[str] | bool = True,
    ) -> tuple[int, str]:
        """Write ``tables`` one after the other into one Parquet file, streaming: only one table
        is in memory at a time. Atomic like `write_bytes` (a temporary name, renamed when
        complete); returns (size, sha256) of what was written, hashed on the way out.
        ``statistics`` and ``dictionary``: the columns that get them (True: all)."""
        full = self.full(rel)
        fs = self.fs
        parent = full.rsplit("/", 1)[0]
        fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            with fs.open(tmp, "wb") as f:
                sink = _HashingSink(f)
                with pq.ParquetWriter(
                    sink,
                    schema,
                    compression=compression,
                    write_statistics=statistics,
                    use_dictionary=dictionary,
                ) as writer:
                    for table in tables:
                        writer.write_table(table, row_group_size=row_group_size)
        except BaseException:
            with contextlib.suppress(OSError):
                fs.rm(tmp)
            raise
        fs.mv(tmp, full)
        return sink.size, sink.sha256.hexdigest()

    def read_parquet(self, rel: str) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self.read_bytes(rel)))

    def copy_verified(self, src: Store, src_rel: str, dst_rel: str) -> tuple[int, str]:
        """Copy a file from another store, hashing while copying; returns (size, sha256).

        The copy lands under a temporary name and is renamed into place only
        when complete; the caller decides what to do when the hash is wrong.
        """
        return self.write_chunks(dst_rel, src.iter_chunks(src_rel))

    def clone_file(self, rel: str, src: Any, limit: int) -> tuple[int, str] | None:
        """Make ``rel`` a copy-on-write clone (reflink) of the open local file ``src`` and hash
        it; returns (size, sha256), or None where the filesystems cannot clone (then copy).

        No byte is copied: both files share their extents, and a later write to either
        gives that file its own copy of what it changed, so the clone keeps the bytes it was
        made of. It is hashed by reading it, the clone, not the source. A source longer than
        ``limit`` (a file growing meanwhile) is cut there, as a copy would stop. Atomic like
        `write_bytes`."""
        if not self.is_local or not hasattr(src, "fileno"):
            return None
        full = self.full(rel)
        parent = full.rsplit("/", 1)[0]
        os.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        done = False
        try:
            try:
                try:
                    _ficlone(fd, src.fileno())
                except OSError as exc:
                    if exc.errno in CLONE_UNSUPPORTED:
                        return None
                    raise
                if os.fstat(fd).st_size > limit:
                    os.ftruncate(fd, limit)
                h, size = hashlib.sha256(), 0
                view = memoryview(bytearray(HASH_BUFFER_BYTES))
                while n := os.readv(fd, [view]):
                    h.update(view[:n])
                    size += n
            finally:
                os.close(fd)
            os.replace(tmp, full)
            done = True
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return size, h.hexdigest()

    def write_chunks(self, rel: str, chunks: Iterable[bytes | memoryview]) -> tuple[int, str]:
        """Write ``chunks`` to ``rel``, hashing on the way; returns (size, sha256). Atomic like
        `write_bytes`: a temporary name, renamed into place when complete. Each chunk is
        hashed and written before the next is taken (they may share one buffer)."""
        full = self.full(rel)
        fs = self.fs
        parent = full.rsplit("/", 1)[0]
        fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        h = hashlib.sha256()
        size = 0
        try:
            with fs.open(tmp, "wb") as out:
                for chunk in chunks:
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                fs.rm(tmp)
            raise
        fs.mv(tmp, full)
        return size, h.hexdigest()

    def remove_tree(self, rel: str) -> None:
        full = self.full(rel)
        if self.fs.exists(full):
            self.fs.rm(full, recursive=True)


class _HashingSink(io.RawIOBase):
    """A write-only file that hashes what passes through it to ``target``."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._target.write(view)
        self.sha256.update(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._target.flush()
