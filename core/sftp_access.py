"""A ``core.logs.FileAccess`` over SFTP on an entry node's shared connection.

One SFTP client is kept per access object and reopened after a drop, so following a log
does not pay an SFTP handshake on every poll.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, suppress
from typing import Protocol, TypeVar

import asyncssh

from core.errors import NetworkError, NotFound, SuanError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class SftpSession(Protocol):
    """What this needs of ``core.ssh.Session``."""

    def sftp(self) -> AbstractAsyncContextManager[asyncssh.SFTPClient]: ...


class SftpFileAccess:
    """Sizes and byte ranges of remote files, read without downloading them."""

    def __init__(self, session: SftpSession) -> None:
        self.session = session
        self._cm: AbstractAsyncContextManager[asyncssh.SFTPClient] | None = None
        self._client: asyncssh.SFTPClient | None = None
        self._lock = asyncio.Lock()

    async def _sftp(self) -> asyncssh.SFTPClient:
        async with self._lock:
            if self._client is None:
                cm = self.session.sftp()
                self._client = await cm.__aenter__()
                self._cm = cm
            return self._client

    async def _drop(self) -> None:
        cm, self._cm, self._client = self._cm, None, None
        if cm is not None:
            with suppress(OSError, asyncssh.Error):
                await cm.__aexit__(None, None, None)

    async def close(self) -> None:
        """Give the SFTP channel back."""
        await self._drop()

    async def _call(self, path: str, op: str, fn: _Op[T]) -> T:
        for attempt in (1, 2):
            client = await self._sftp()
            try:
                return await fn(client)
            except asyncssh.SFTPNoSuchFile:
                raise NotFound(
                    f"{path} does not exist (or is not visible from this node)."
                ) from None
            except asyncssh.SFTPPermissionDenied:
                raise SuanError(f"Permission denied reading {path}.") from None
            except (asyncssh.ConnectionLost, asyncssh.ChannelOpenError, BrokenPipeError) as exc:
                await self._drop()
                if attempt == 2:
                    raise NetworkError(f"The connection dropped while {op} {path}.") from exc
            except asyncssh.SFTPError as exc:
                raise SuanError(f"Cannot read {path}: {exc.reason}") from None
        raise AssertionError("unreachable")

    async def size(self, path: str) -> int:
        async def op(client: asyncssh.SFTPClient) -> int:
            attrs = await client.stat(path)
            return int(attrs.size or 0)

        return await self._call(path, "checking", op)

    async def read(self, path: str, offset: int, length: int) -> bytes:
        async def op(client: asyncssh.SFTPClient) -> bytes:
            async with client.open(path, "rb") as handle:
                await handle.seek(offset)
                data = await handle.read(length)
            return data if isinstance(data, bytes) else data.encode()

        return await self._call(path, "reading", op)


class _Op(Protocol[T_co]):
    async def __call__(self, client: asyncssh.SFTPClient, /) -> T_co: ...
