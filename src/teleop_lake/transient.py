"""Which errors can succeed later, and which never will.

One rule for the whole night: a recording whose read failed waits for the next night only when
the error could go away by itself, and an orchestrated step (a center's pull, a batch, the
publish) is retried only then. Everything else is deterministic (a missing folder, a
permission, a bad argument, a corrupt file, a bug): retrying it costs time and repeats the same
traceback, so it fails at once with its own message.
"""

from __future__ import annotations

import errno

# I/O errors that can succeed later: a network, a full disk, a busy system or object store.
# Any other OSError reading a bronze file, which never changes, is damage in the file.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,  # also an object store's 503 SlowDown / 409 (s3fs)
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.EHOSTUNREACH,
        errno.EINTR,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ENOMEM,
        errno.ENOSPC,
        errno.EPIPE,
        errno.EREMOTEIO,  # an object store's 500 InternalError (s3fs)
        errno.ESTALE,
        errno.ETIMEDOUT,
    }
)

# Connection-level errors of the object-store clients that are not OSErrors.
_CLIENT_CONNECTION_ERRORS = frozenset(
    {
        "botocore.exceptions.EndpointConnectionError",
        "botocore.exceptions.ConnectionClosedError",
        "botocore.exceptions.ConnectTimeoutError",
        "botocore.exceptions.ReadTimeoutError",
        "aiohttp.client_exceptions.ClientConnectionError",
        "aiohttp.client_exceptions.ServerDisconnectedError",
        "aiohttp.client_exceptions.ServerTimeoutError",
        "urllib3.exceptions.ProtocolError",
        "urllib3.exceptions.TimeoutError",
    }
)


def _is_client_connection_error(exc: BaseException) -> bool:
    return any(
        f"{cls.__module__}.{cls.__qualname__}" in _CLIENT_CONNECTION_ERRORS
        for cls in type(exc).__mro__
    )


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or the error it was raised from) could go away by itself."""
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, TimeoutError | ConnectionError) or _is_client_connection_error(err):
            return True
        if isinstance(err, OSError) and err.errno in TRANSIENT_ERRNOS:
            return True
        err = err.__cause__  # an explicit `raise ... from`: not the context of a handler
    return False
