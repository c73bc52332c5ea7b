"""SSH sessions to entry nodes: one shared asyncssh connection per node, many channels.

A ``SessionPool`` hands out one ``Session`` per entry node. A session opens its connection
on first use and shares it with every caller; channels on it are bounded by a semaphore
because sshd's ``MaxSessions`` (10 by default) refuses the next one. A dropped connection
is forgotten and the next call opens a new one, with exponential backoff. Host keys are
checked strictly against one known_hosts file (``@cert-authority`` lines honoured), and
every failure is one of suan's typed errors.

Nothing here logs or formats a key, a certificate body or a token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from core.certs import ClientCredentials
from core.errors import (
    AuthenticationFailed,
    ChangedHostKey,
    NetworkError,
    RemoteCommandError,
    SuanError,
    UnknownHostKey,
)
from core.runner import CommandResult, quote_argv
from core.site import EntryNode, Site

__all__ = [
    "ClientCredentials",
    "KnownHosts",
    "Session",
    "SessionPool",
    "fetch_host_key",
    "fingerprint",
    "trust_host",
]

log = logging.getLogger(__name__)

# AES-GCM first: with AES-NI it moves several times more data per CPU second than
# chacha20-poly1305, which matters for transfers and big log reads.
_CIPHER_PREFERENCE = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)

# Errors that mean the connection under a channel is gone (or refuses channels): the
# session forgets it and the next call reconnects.
_DROPS: tuple[type[BaseException], ...] = (
    asyncssh.ChannelOpenError,
    asyncssh.DisconnectError,  # ConnectionLost is one
    asyncssh.SFTPConnectionLost,
    BrokenPipeError,
    ConnectionError,
)


# Pauses before asking again for a channel sshd refused (seconds); then it is an error.
_REFUSAL_BACKOFF = (0.02, 0.05, 0.1, 0.2, 0.4)
# How long a finished command's channel may take to close before its slot is given back.
_CLOSE_WAIT = 5.0


def _encryption_algs() -> list[str]:
    supported = {alg.decode() for alg in asyncssh.encryption.get_encryption_algs()}
    return [alg for alg in _CIPHER_PREFERENCE if alg in supported]


# --- host keys -------------------------------------------------------------------------------


def fingerprint(key: asyncssh.SSHKey | str) -> str:
    """The ``SHA256:…`` fingerprint OpenSSH shows for a public key (object or key line)."""
    if isinstance(key, str):
        key = parse_public_key(key)
    return str(key.get_fingerprint("sha256"))


def parse_public_key(text: str) -> asyncssh.SSHKey:
    """A public key from ``ssh-ed25519 AAAA… [comment]`` or a whole known_hosts line."""
    fields = text.split()
    # A known_hosts line starts with host patterns (and maybe a marker): skip to the key type.
    for start, value in enumerate(fields):
        if value.startswith(("ssh-", "ecdsa-", "sk-", "rsa-")) and start + 1 < len(fields):
            try:
                return asyncssh.import_public_key(" ".join(fields[start : start + 2]))
            except (asyncssh.KeyImportError, ValueError):
                break
    raise ValueError("not an OpenSSH public key line")


def host_pattern(host: str, port: int) -> str:
    """How known_hosts names a host: ``host`` on port 22, ``[host]:port`` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def _public_line(key: asyncssh.SSHKey) -> str:
    # export_public_key appends the key's comment; known_hosts lines carry none.
    parts = key.export_public_key("openssh").decode().split()
    return " ".join(parts[:2])


class KnownHosts:
    """One known_hosts file: what it trusts for a host, and adding a trusted key."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def load(cls, path: Path) -> KnownHosts:
        """The known_hosts file at ``path`` (it may not exist yet: then it trusts nothing)."""
        return cls(path)

    def entries(self) -> asyncssh.SSHKnownHosts:
        """The file parsed by asyncssh, read afresh so newly trusted keys count at once."""
        try:
            return asyncssh.read_known_hosts(str(self.path))
        except FileNotFoundError:
            return asyncssh.import_known_hosts("")

    def _match(self, host: str, port: int) -> tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey]]:
        try:
            addr = str(ipaddress.ip_address(host))
        except ValueError:
            addr = ""  # a name: asyncssh matches patterns against it alone
        found = self.entries().match(host, addr, port if port != 22 else None)
        return list(found[0]), list(found[1])

    def knows(self, host: str, port: int) -> bool:
        """Whether any key or certificate authority is trusted for ``host:port``."""
        keys, cas = self._match(host, port)
        return bool(keys or cas)

    def trusts(self, host: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Whether ``key`` is trusted for ``host:port`` as a plain host key."""
        keys, _ = self._match(host, port)
        return any(k.public_data == key.public_data for k in keys)

    @staticmethod
    def line_for(host: str, port: int, key: asyncssh.SSHKey | str, *, hashed: bool = False) -> str:
        """The known_hosts line that trusts ``key`` for ``host:port``."""
        if isinstance(key, str):
            key = parse_public_key(key)
        pattern = host_pattern(host, port)
        if hashed:
            # OpenSSH's HashKnownHosts format: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
            salt = os.urandom(20)
            digest = hmac.new(salt, pattern.encode(), hashlib.sha1).digest()
            pattern = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
        return f"{pattern} {_public_line(key)}"

    def trust(
        self, host: str, port: int, key: asyncssh.SSHKey | str, *, hashed: bool = False
    ) -> str:
        """Append a line trusting ``key`` (an SSHKey, a key line or the ``key_line`` of
        ``UnknownHostKey``) for ``host:port``; returns the line.

        A host that already has a different trusted key or CA is refused with
        ``ChangedHostKey``: replacing a key is the user's edit to make, never suan's.
        """
        if isinstance(key, str):
            key = parse_public_key(key)
        if self.trusts(host, port, key):
            return self.line_for(host, port, key)
        if self.knows(host, port):
            raise _changed(host, port, fingerprint(key), self.path)
        line = self.line_for(host, port, key, hashed=hashed)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        prefix = ""
        if self.path.exists():
            existing = self.path.read_bytes()
            if existing and not existing.endswith(b"\n"):
                prefix = "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"{prefix}{line}\n")
        return line


def trust_host(
    path: Path, host: str, port: int, key: asyncssh.SSHKey | str, *, hashed: bool = False
) -> str:
    """``KnownHosts.load(path).trust(host, port, key)``: what ``suan trust-host`` calls."""
    return KnownHosts.load(path).trust(host, port, key, hashed=hashed)


def _changed(host: str, port: int, finger: str, path: Path) -> ChangedHostKey:
    return ChangedHostKey(
        f"The host key of {host}:{port} does not match the one trusted in {path} "
        f"(it presented {finger}). suan refuses to connect.",
        hint="This can mean someone is intercepting the connection. If the site announced "
        f"a new key, remove the old line for {host_pattern(host, port)} from {path} by hand.",
    )


async def fetch_host_key(host: str, port: int = 22, *, timeout: float = 10.0) -> asyncssh.SSHKey:
    """The host key a server presents (its certificate's key if it has one), unverified."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(host, port, config=None), timeout=timeout
        )
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise NetworkError(f"Cannot reach {host}:{port}: {_reason(exc)}.") from None
    if key is None:
        raise NetworkError(f"{host}:{port} presented no host key.")
    return key


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, asyncssh.Error) and exc.reason:
        return str(exc.reason)
    return type(exc).__name__


# --- sessions --------------------------------------------------------------------------------


@dataclass(eq=False)
class _Link:
    """One live connection and how many channels use it."""

    conn: asyncssh.SSHClientConnection
    active: int = 0
    retired: bool = False

    @property
    def usable(self) -> bool:
        return not self.retired and not self.conn.is_closed()


Connector = Callable[[EntryNode], Awaitable[asyncssh.SSHClientConnection]]
_T = TypeVar("_T")


class Session:
    """One shared asyncssh connection to one entry node; a ``CommandRunner``.

    Cheap to create: it connects on first use. Commands are argument vectors quoted with
    shlex; a non-zero exit is a ``CommandResult``, not an exception.
    """

    def __init__(self, pool: SessionPool, node: EntryNode) -> None:
        self.node = node
        self._pool = pool
        self._link: _Link | None = None
        # Created inside the running loop on first use, never at import or construction.
        self._lock: asyncio.Lock | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._dropped = False
        self._attempts = 0
        self._last_error: SuanError | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        self.connects = 0
        """How many connections this session has opened (for tests and diagnostics)."""
        self.refused_opens = 0
        """Channel opens the server refused and that were asked again."""

    def __repr__(self) -> str:
        return f"<Session {self.node.name} {self.node.address}>"

    @property
    def connected(self) -> bool:
        """Whether a usable connection is open now."""
        return self._link is not None and self._link.usable

    @property
    def connection(self) -> asyncssh.SSHClientConnection | None:
        """The current connection, if any (tests use it to simulate a drop)."""
        return self._link.conn if self._link is not None else None

    def _channels(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._pool.max_channels)
        return self._semaphore

    # --- connecting ------------------------------------------------------------------------

    async def _acquire_link(self) -> _Link:
        link = self._link
        if link is not None and link.usable:
            return link
        if self._lock is None:
            self._lock = asyncio.Lock()
        seen = self._attempts
        async with self._lock:
            link = self._link
            if link is not None and link.usable:
                return link
            if link is not None:
                # Closed under us (keepalive timeout, server gone) without a failing call.
                self._drop(link)
            if self._attempts != seen and self._last_error is not None:
                # Another caller just tried (with backoff) and failed while we waited:
                # report that instead of hammering the node once per waiting caller.
                raise self._last_error
            try:
                conn = await self._connect_with_backoff()
            except SuanError as exc:
                self._last_error = exc
                raise
            finally:
                # Counted when finished, so callers who queued during it can tell.
                self._attempts += 1
            self._last_error = None
            self._link = _Link(conn)
            self._dropped = False
            self.connects += 1
            self._pool.connects += 1
            return self._link

    async def _connect_with_backoff(self) -> asyncssh.SSHClientConnection:
        # A first connection fails fast (the user is waiting and a typo stays a typo); a
        # connection that dropped is retried, since the node was there a moment ago.
        attempts = self._pool.reconnect_attempts if self._dropped else 1
        for attempt in range(attempts):
            if attempt:
                delay = min(self._pool.backoff_base * 2 ** (attempt - 1), self._pool.backoff_max)
                await asyncio.sleep(delay)
            try:
                return await self._pool._connector(self.node)
            except NetworkError:
                if attempt == attempts - 1:
                    raise
                log.info("reconnect to %s failed (attempt %d)", self.node.name, attempt + 1)
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self, link: _Link) -> None:
        """Forget ``link`` so the next call reconnects; close it once its channels finish."""
        if self._link is link:
            self._link = None
            self._dropped = True
            log.info("connection to %s dropped", self.node.name)
        link.retired = True
        if link.active == 0:
            link.conn.close()

    async def _open(
        self, opener: Callable[[asyncssh.SSHClientConnection], Awaitable[_T]]
    ) -> tuple[_Link, _T]:
        """Open a channel with ``opener`` on the live connection and count it on the link.

        A channel refused because the connection had just closed is opened once more on a
        new connection: nothing ran on the old one, so even a submission is safe to redo.
        """
        reopened = False
        refusals = 0
        while True:
            link = await self._acquire_link()
            try:
                opened = await opener(link.conn)
            except _DROPS as exc:
                if isinstance(exc, asyncssh.ChannelOpenError):
                    closing = exc.reason == "SSH connection closed" or link.conn.is_closed()
                    if not closing and refusals < len(_REFUSAL_BACKOFF):
                        # sshd frees a session slot only after it has processed the close
                        # of the previous channel; an open arriving in the same breath is
                        # refused. Nothing ran, so wait a moment and ask again.
                        await asyncio.sleep(_REFUSAL_BACKOFF[refusals])
                        refusals += 1
                        self.refused_opens += 1
                        continue
                    if closing and not reopened:
                        self._drop(link)
                        reopened = True
                        continue
                raise self._lost(link, exc) from None
            link.active += 1
            return link, opened

    def _done(self, link: _Link) -> None:
        link.active -= 1
        if link.retired and link.active == 0:
            link.conn.close()

    def _lost(self, link: _Link, exc: BaseException) -> NetworkError:
        refused = isinstance(exc, asyncssh.ChannelOpenError) and not link.conn.is_closed()
        self._drop(link)
        if refused:
            return NetworkError(
                f"{self.node.name} refused a new channel: {_reason(exc)}.",
                hint="sshd caps channels per connection (MaxSessions); keep max_channels "
                "at or below it.",
            )
        return NetworkError(f"The connection to {self.node.name} was lost: {_reason(exc)}.")

    # --- the CommandRunner -----------------------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        idempotent: bool = False,
    ) -> CommandResult:
        """Run ``argv`` (each argument shell-quoted) and collect its output.

        A non-zero exit is returned, not raised. A connection lost while the command ran
        raises NetworkError; with ``idempotent=True`` (reads) the command is first retried
        once on a new connection. A command still running after ``timeout`` seconds is
        stopped: RemoteCommandError.
        """
        args = tuple(argv)
        if not args:
            raise ValueError("empty argv")
        try:
            return await self._run_once(args, input, timeout)
        except NetworkError:
            if not idempotent:
                raise
            log.info("retrying %s on %s after a lost connection", args[0], self.node.name)
            return await self._run_once(args, input, timeout)

    async def _run_once(
        self, argv: tuple[str, ...], input: str | None, timeout: float | None
    ) -> CommandResult:
        command = quote_argv(argv)
        async with self._channels():
            link, process = await self._open(
                lambda conn: conn.create_process(
                    command, input=input, encoding="utf-8", errors="replace"
                )
            )
            try:
                done = await process.wait(timeout=timeout)
                # Hold the slot until the channel is closed on both sides, so the next
                # open does not reach sshd while it still counts this session.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait_closed(), _CLOSE_WAIT)
            except asyncssh.TimeoutError as exc:
                # asyncssh leaves the channel open on timeout: stop the command and free the
                # slot, or every timeout would leak one of the MaxSessions channels.
                with contextlib.suppress(Exception):
                    process.send_signal("TERM")
                process.close()
                raise RemoteCommandError(
                    f"{argv[0]} did not finish within {timeout:g} s on {self.node.name}.",
                    exit_status=None,
                    stderr=_text(exc.stderr),
                ) from None
            except _DROPS as exc:
                raise self._lost(link, exc) from None
            finally:
                self._done(link)
            status = done.exit_status
            if status is None or status < 0:
                if link.conn.is_closed():
                    self._drop(link)
                    raise NetworkError(
                        f"The connection to {self.node.name} was lost while "
                        f"{argv[0]} ran; it may or may not have finished."
                    )
                status = _signal_status(done.exit_signal)
            return CommandResult(argv, status, _text(done.stdout), _text(done.stderr))

    def sftp(self) -> AbstractAsyncContextManager[asyncssh.SFTPClient]:
        """An SFTP client on this session's connection (it takes one channel slot)."""
        return self._sftp()

    @asynccontextmanager
    async def _sftp(self) -> AsyncIterator[asyncssh.SFTPClient]:
        async with self._channels():
            link, client = await self._open(lambda conn: conn.start_sftp_client())
            try:
                async with client:
                    yield client
            except _DROPS as exc:
                raise self._lost(link, exc) from None
            finally:
                self._done(link)

    async def start_process(self, argv: Sequence[str]) -> asyncssh.SSHClientProcess[str]:
        """Start ``argv`` and return the process to stream from (``tail -F`` and the like).

        The channel slot is held until the process closes; close it when done.
        """
        command = quote_argv(argv)
        slots = self._channels()
        await slots.acquire()
        try:
            link, process = await self._open(
                lambda conn: conn.create_process(command, encoding="utf-8", errors="replace")
            )
        except BaseException:
            slots.release()
            raise
        watcher = asyncio.get_running_loop().create_task(self._watch(process, link, slots))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return process

    async def _watch(
        self,
        process: asyncssh.SSHClientProcess[str],
        link: _Link,
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            await process.wait_closed()
        finally:
            self._done(link)
            slots.release()

    async def close(self) -> None:
        """Close the connection (running commands end with it)."""
        for watcher in list(self._watchers):
            watcher.cancel()
        link, self._link = self._link, None
        if link is not None:
            link.retired = True
            link.conn.close()
            with contextlib.suppress(Exception):
                await link.conn.wait_closed()


def _text(data: Any) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


def _signal_status(exit_signal: tuple[str, bool, str, str] | None) -> int:
    """A shell-style status (128 + signal number) for a command killed by a signal."""
    if exit_signal:
        try:
            return 128 + int(signal.Signals[f"SIG{exit_signal[0]}"])
        except KeyError:
            pass
    return 255


class SessionPool:
    """One ``Session`` per entry node, created on demand and shared by every caller."""

    def __init__(
        self,
        site: Site,
        username: str,
        credentials: Callable[[], Awaitable[ClientCredentials]],
        known_hosts: Path,
        max_channels: int = 10,
        *,
        connect_timeout: float = 15.0,
        keepalive_interval: float = 15.0,
        keepalive_count_max: int = 3,
        reconnect_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        connector: Connector | None = None,
    ) -> None:
        if max_channels < 1:
            raise ValueError("max_channels must be at least 1")
        self.site = site
        self.username = username
        self.known_hosts = Path(known_hosts)
        self.max_channels = max_channels
        self.connect_timeout = connect_timeout
        self.keepalive_interval = keepalive_interval
        self.keepalive_count_max = keepalive_count_max
        self.reconnect_attempts = max(1, reconnect_attempts)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.connects = 0
        """Connections opened by every session of this pool."""
        self._credentials = credentials
        self._connector: Connector = connector or self._connect
        self._sessions: dict[tuple[str, str, int], Session] = {}

    def session(self, node: str | EntryNode) -> Session:
        """The session for ``node`` (a name or an EntryNode); it connects on first use."""
        entry = self.site.node(node) if isinstance(node, str) else node
        key = (entry.name, entry.host, entry.port)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = Session(self, entry)
        return session

    def sessions(self) -> list[Session]:
        """Every session handed out so far."""
        return list(self._sessions.values())

    async def close(self) -> None:
        """Close every connection."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    async def __aenter__(self) -> SessionPool:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _connect(self, node: EntryNode) -> asyncssh.SSHClientConnection:
        """Open one connection to ``node``: certificate login, strict host keys."""
        creds = await self._credentials()
        try:
            key = asyncssh.import_private_key(creds.private_key)
            cert = asyncssh.import_certificate(creds.certificate)
        except (asyncssh.KeyImportError, ValueError):
            # The exception text could quote key material: it stays out of the message.
            raise AuthenticationFailed(
                "The stored SSH key or certificate cannot be read.",
                hint="Run `suan login` to get a new certificate.",
            ) from None
        known = KnownHosts(self.known_hosts)
        where = f"{node.name} ({node.address})"
        try:
            return await asyncio.wait_for(
                asyncssh.connect(
                    node.host,
                    node.port,
                    username=self.username,
                    client_keys=[(key, cert)],
                    known_hosts=known.entries(),
                    encryption_algs=_encryption_algs(),
                    keepalive_interval=self.keepalive_interval,
                    keepalive_count_max=self.keepalive_count_max,
                    connect_timeout=self.connect_timeout,
                    # Only what suan is given: no ~/.ssh/config, agent, or other keys.
                    config=None,
                    agent_path=None,
                    ignore_encrypted=True,
                    password_auth=False,
                    kbdint_auth=False,
                    gss_auth=False,
                    host_based_auth=False,
                    x509_trusted_certs=None,
                    x509_trusted_cert_paths=None,
                ),
                # asyncssh's own connect_timeout covers the handshake; this bounds the rest.
                timeout=self.connect_timeout + 5,
            )
        except asyncssh.HostKeyNotVerifiable:
            raise await self._host_key_error(node, known) from None
        except asyncssh.KeyExchangeFailed as exc:
            if known.knows(node.host, node.port) and "host key" in str(exc.reason).lower():
                raise await self._host_key_error(node, known) from None
            raise NetworkError(f"Cannot talk to {where}: {_reason(exc)}.") from None
        except asyncssh.PermissionDenied:
            raise AuthenticationFailed(
                f"{where} refused the certificate for {self.username}.",
                hint="The certificate may have expired or be issued to another user: "
                "run `suan login`.",
            ) from None
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            raise NetworkError(
                f"Cannot reach {where}: {_reason(exc)}.",
                hint="Check the network (and the campus VPN off campus).",
            ) from None

    async def _host_key_error(self, node: EntryNode, known: KnownHosts) -> SuanError:
        key = await fetch_host_key(node.host, node.port, timeout=self.connect_timeout)
        finger = fingerprint(key)
        if known.knows(node.host, node.port):
            return _changed(node.host, node.port, finger, known.path)
        return UnknownHostKey(
            node.host, node.port, finger, KnownHosts.line_for(node.host, node.port, key)
        )
