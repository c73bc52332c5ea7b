"""``core.ssh`` against an in-process asyncssh server: no testbed, real SSH.

The server trusts a user CA made here, presents a host certificate from a host CA made
here, caps open sessions like sshd's MaxSessions, and understands a few commands (echoing
its argv, sleeping, exiting, dropping the connection) so every path of the session logic
is exercised deterministically.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from asyncssh.process import SSHServerProcess

from core.errors import (
    AuthenticationFailed,
    ChangedHostKey,
    NetworkError,
    RemoteCommandError,
    UnknownHostKey,
)
from core.runner import CommandRunner
from core.site import EntryNode, load_site
from core.ssh import (
    ClientCredentials,
    KnownHosts,
    Session,
    SessionPool,
    fingerprint,
    host_pattern,
    parse_public_key,
    trust_host,
)

HOST = "127.0.0.1"
USER = "hpcuser"


def key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def public(k: asyncssh.SSHKey) -> str:
    return " ".join(k.export_public_key().decode().split()[:2])


@dataclass
class FakeNode:
    """An SSH server in this process and everything needed to log in to it."""

    port: int
    host_key: asyncssh.SSHKey
    host_ca: asyncssh.SSHKey
    user_ca: asyncssh.SSHKey
    tmp: Path
    max_sessions: int = 10
    open_sessions: int = 0
    peak_sessions: int = 0
    refused_sessions: int = 0
    server_conns: list[asyncssh.SSHServerConnection] = field(default_factory=list)
    drops_left: int = 0
    refuse_next: int = 0
    server: asyncssh.SSHAcceptor | None = None

    @property
    def node(self) -> EntryNode:
        return EntryNode("pilogin", HOST, self.port, "job", ("pi",))

    def known_hosts(self, *, ca: bool = True, extra: str = "") -> Path:
        path = self.tmp / f"known_hosts-{time.monotonic_ns()}"
        lines = [extra] if extra else []
        if ca:
            lines.append(f"@cert-authority [{HOST}]:* {public(self.host_ca)}")
        path.write_text("".join(line + "\n" for line in lines))
        return path

    def credentials(
        self, principal: str = USER, valid_before: float | None = None
    ) -> Callable[[], Awaitable[ClientCredentials]]:
        user_key = key()
        cert = self.user_ca.generate_user_certificate(
            user_key,
            "test",
            principals=[principal],
            valid_after=int(time.time()) - 300,
            valid_before=int(valid_before or time.time() + 3600),
        )
        creds = ClientCredentials(
            private_key=user_key.export_private_key().decode(),
            certificate=cert.export_certificate().decode(),
        )

        async def get() -> ClientCredentials:
            return creds

        return get

    def pool(self, known_hosts: Path | None = None, **kwargs: object) -> SessionPool:
        options: dict[str, object] = {"connect_timeout": 5.0}
        options.update(kwargs)
        creds = options.pop("credentials", None) or self.credentials()
        return SessionPool(
            load_site(),
            USER,
            creds,  # type: ignore[arg-type]
            known_hosts or self.known_hosts(),
            **options,  # type: ignore[arg-type]
        )


class _Server(asyncssh.SSHServer):
    def __init__(self, fake: FakeNode) -> None:
        self.fake = fake
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.fake.server_conns.append(conn)

    def session_requested(self) -> asyncssh.SSHServerSession[str] | bool:
        # sshd's MaxSessions: refuse the channel beyond the cap.
        if self.fake.refuse_next > 0 or self.fake.open_sessions >= self.fake.max_sessions:
            self.fake.refuse_next = max(0, self.fake.refuse_next - 1)
            self.fake.refused_sessions += 1
            return False
        self.fake.open_sessions += 1
        self.fake.peak_sessions = max(self.fake.peak_sessions, self.fake.open_sessions)
        # asyncssh's own default (sftp_factory=True) is the SFTPServer class itself.
        sftp: Any = asyncssh.SFTPServer
        return SSHServerProcess(_handler(self.fake), sftp, 3, False)


def _handler(fake: FakeNode) -> Callable[[asyncssh.SSHServerProcess[str]], Awaitable[None]]:
    async def handle(process: asyncssh.SSHServerProcess[str]) -> None:
        try:
            argv = shlex.split(process.command or "")
            name, args = argv[0], argv[1:]
            if name == "argv":
                process.stdout.write(json.dumps(args))
                process.exit(0)
            elif name == "sleep":
                await asyncio.sleep(float(args[0]))
                process.exit(0)
            elif name == "exit":
                process.stderr.write("failing\n")
                process.exit(int(args[0]))
            elif name == "cat":
                async for line in process.stdin:
                    process.stdout.write(line)
                process.exit(0)
            elif name == "signal":
                process.exit_with_signal("KILL")
            elif name == "drop-once":
                if fake.drops_left > 0:
                    fake.drops_left -= 1
                    process.channel.get_connection().abort()
                    return
                process.stdout.write("survived")
                process.exit(0)
            elif name == "hang":
                # Like sshd, the command ends when the client closes its channel.
                await process.wait_closed()
            else:
                process.exit(127)
        finally:
            fake.open_sessions -= 1

    return handle


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeNode]:
    host_key, host_ca, user_ca = key(), key(), key()
    host_cert = host_ca.generate_host_certificate(host_key, "host", principals=[HOST])
    node = FakeNode(0, host_key, host_ca, user_ca, tmp_path)
    (tmp_path / "sftp").mkdir()
    (tmp_path / "sftp" / "hello.txt").write_text("hi")
    node.server = await asyncssh.create_server(
        lambda: _Server(node),
        HOST,
        0,
        server_host_keys=[(host_key, host_cert)],
        authorized_client_keys=asyncssh.import_authorized_keys(
            f"cert-authority {public(user_ca)}\n"
        ),
        encoding="utf-8",
    )
    node.port = node.server.sockets[0].getsockname()[1]
    yield node
    node.server.close()
    await node.server.wait_closed()


async def wait_until(predicate: Callable[[], bool], deadline: float = 5.0) -> None:
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


# --- commands --------------------------------------------------------------------------------


async def test_run_quotes_every_argument(fake: FakeNode) -> None:
    nasty = ["a b", "it's", '"q"', "$(id)", "`id`", "line1\nline2", "-n", "--x=1", "", "*", "中文"]
    async with fake.pool() as pool:
        runner: CommandRunner = pool.session(fake.node)  # a Session is a CommandRunner
        result = await runner.run(["argv", *nasty])
    assert result.ok
    assert json.loads(result.stdout) == nasty
    assert result.argv == ("argv", *nasty)


async def test_non_zero_exit_is_a_result(fake: FakeNode) -> None:
    async with fake.pool() as pool:
        result = await pool.session(fake.node).run(["exit", "3"])
    assert (result.exit_status, result.ok, result.stderr) == (3, False, "failing\n")


async def test_killed_by_a_signal_is_128_plus_the_number(fake: FakeNode) -> None:
    async with fake.pool() as pool:
        result = await pool.session(fake.node).run(["signal"])
    assert result.exit_status == 128 + 9


async def test_input_reaches_stdin(fake: FakeNode) -> None:
    async with fake.pool() as pool:
        result = await pool.session(fake.node).run(["cat"], input="#!/bin/bash\necho 你好\n")
    assert result.stdout == "#!/bin/bash\necho 你好\n"


async def test_empty_argv_is_refused(fake: FakeNode) -> None:
    async with fake.pool() as pool:
        with pytest.raises(ValueError):
            await pool.session(fake.node).run([])


async def test_timeout_stops_the_command_and_frees_the_channel(fake: FakeNode) -> None:
    async with fake.pool(max_channels=1) as pool:
        session = pool.session(fake.node)
        with pytest.raises(RemoteCommandError, match="did not finish within 0.2 s"):
            await session.run(["hang"], timeout=0.2)
        await wait_until(lambda: fake.open_sessions == 0)
        assert (await session.run(["argv", "after"])).stdout == '["after"]'


# --- one connection, bounded channels --------------------------------------------------------


async def test_one_connection_serves_concurrent_commands(fake: FakeNode) -> None:
    async with fake.pool(max_channels=10) as pool:
        session = pool.session(fake.node)
        results = await asyncio.gather(*(session.run(["sleep", "0.2"]) for _ in range(20)))
        assert all(r.ok for r in results)
        assert session.connects == 1 and pool.connects == 1
        assert len(fake.server_conns) == 1
        assert fake.peak_sessions == 10  # bounded by the semaphore, and it was used in full
        assert fake.refused_sessions == 0


async def test_session_objects_are_shared(fake: FakeNode) -> None:
    async with fake.pool() as pool:
        assert pool.session(fake.node) is pool.session(fake.node)
        assert pool.session("pilogin") is pool.session("pilogin")
        assert pool.session("pilogin") is not pool.session(fake.node)  # other address
        assert pool.sessions() == [pool.session(fake.node), pool.session("pilogin")]


async def test_a_briefly_refused_channel_is_asked_again(fake: FakeNode) -> None:
    # sshd frees a session slot a moment after the previous channel closes.
    fake.refuse_next = 2
    async with fake.pool() as pool:
        session = pool.session(fake.node)
        assert (await session.run(["argv", "x"])).stdout == '["x"]'
        assert session.refused_opens == 2
        assert session.connects == 1


async def test_a_semaphore_above_max_sessions_meets_refusals(
    fake: FakeNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Why the bound exists: the server refuses the channel past its cap, and asking again
    # (briefly) does not help while the other channels stay busy.
    monkeypatch.setattr("core.ssh._REFUSAL_BACKOFF", (0.01, 0.01))
    async with fake.pool(max_channels=12) as pool:
        session = pool.session(fake.node)
        results = await asyncio.gather(
            *(session.run(["sleep", "0.3"]) for _ in range(11)), return_exceptions=True
        )
    refused = [r for r in results if isinstance(r, NetworkError)]
    assert len(refused) == 1
    assert "MaxSessions" in (refused[0].hint or "")
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 10


# --- drops and reconnects --------------------------------------------------------------------


async def test_reconnects_after_the_client_side_closes(fake: FakeNode) -> None:
    async with fake.pool() as pool:
        session = pool.session(fake.node)
        await session.run(["argv"])
        conn = session.connection
        assert conn is not None
        conn.abort()
        await conn.wait_closed()
        assert (await session.run(["argv", "again"])).stdout == '["again"]'
        assert session.connects == 2


async def test_a_drop_mid_command_is_a_network_error_then_reconnects(fake: FakeNode) -> None:
    fake.drops_left = 1
    async with fake.pool() as pool:
        session = pool.session(fake.node)
        with pytest.raises(NetworkError, match="lost"):
            await session.run(["drop-once"])
        assert (await session.run(["drop-once"])).stdout == "survived"
        assert session.connects == 2


async def test_idempotent_reads_are_retried_once(fake: FakeNode) -> None:
    fake.drops_left = 1
    async with fake.pool() as pool:
        result = await pool.session(fake.node).run(["drop-once"], idempotent=True)
    assert result.stdout == "survived"
    assert len(fake.server_conns) == 2


async def test_reconnect_backs_off_and_is_bounded(fake: FakeNode) -> None:
    calls: list[float] = []
    failures = {"left": 0}
    pool = fake.pool(reconnect_attempts=3, backoff_base=0.05)
    real = pool._connector

    async def flaky(node: EntryNode) -> asyncssh.SSHClientConnection:
        calls.append(time.monotonic())
        if failures["left"] > 0:
            failures["left"] -= 1
            raise NetworkError("down")
        return await real(node)

    pool._connector = flaky
    async with pool:
        session = pool.session(fake.node)
        await session.run(["argv"])
        assert session.connection is not None
        session.connection.abort()
        # Two failures then success: three attempts, with growing gaps between them.
        failures["left"] = 2
        calls.clear()
        assert (await session.run(["argv", "x"])).ok
        assert len(calls) == 3
        assert calls[1] - calls[0] >= 0.05 and calls[2] - calls[1] >= 0.1
        # More failures than attempts: NetworkError after exactly three tries.
        assert session.connection is not None
        session.connection.abort()
        failures["left"] = 5
        calls.clear()
        with pytest.raises(NetworkError):
            await session.run(["argv"])
        assert len(calls) == 3


async def test_waiting_callers_share_one_failed_attempt(fake: FakeNode) -> None:
    calls = 0

    async def down(node: EntryNode) -> asyncssh.SSHClientConnection:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        raise NetworkError("down")

    async with fake.pool(connector=down) as pool:
        session = pool.session(fake.node)
        results = await asyncio.gather(
            *(session.run(["argv"]) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, NetworkError) for r in results)
        assert calls == 1
        # A later call tries again.
        with pytest.raises(NetworkError):
            await session.run(["argv"])
        assert calls == 2


# --- host keys, certificates, reachability ---------------------------------------------------


async def test_unknown_host_key_then_trust(fake: FakeNode) -> None:
    known = fake.known_hosts(ca=False)
    async with fake.pool(known) as pool:
        with pytest.raises(UnknownHostKey) as caught:
            await pool.session(fake.node).run(["argv"])
    err = caught.value
    assert (err.host, err.port) == (HOST, fake.port)
    assert err.fingerprint == fake.host_key.get_fingerprint("sha256")
    assert err.fingerprint.startswith("SHA256:")
    assert err.key_line == f"[{HOST}]:{fake.port} {public(fake.host_key)}"
    assert err.fingerprint in err.message
    KnownHosts.load(known).trust(err.host, err.port, err.key_line)
    async with fake.pool(known) as pool:
        assert (await pool.session(fake.node).run(["argv", "ok"])).ok


async def test_missing_known_hosts_file_means_unknown(fake: FakeNode) -> None:
    async with fake.pool(fake.tmp / "nothing" / "known_hosts") as pool:
        with pytest.raises(UnknownHostKey):
            await pool.session(fake.node).run(["argv"])


async def test_changed_host_key_is_refused(fake: FakeNode) -> None:
    other = public(key())
    known = fake.known_hosts(ca=False, extra=f"[{HOST}]:{fake.port} {other}")
    async with fake.pool(known) as pool:
        with pytest.raises(ChangedHostKey) as caught:
            await pool.session(fake.node).run(["argv"])
    assert fake.host_key.get_fingerprint("sha256") in caught.value.message
    # trust() never overrides a known key either.
    with pytest.raises(ChangedHostKey):
        KnownHosts.load(known).trust(HOST, fake.port, public(fake.host_key))


async def test_host_signed_by_another_ca_is_changed(fake: FakeNode) -> None:
    known = fake.known_hosts(ca=False, extra=f"@cert-authority [{HOST}]:* {public(key())}")
    async with fake.pool(known) as pool:
        with pytest.raises(ChangedHostKey):
            await pool.session(fake.node).run(["argv"])


@pytest.mark.parametrize("case", ["wrong principal", "expired"])
async def test_refused_certificates(fake: FakeNode, case: str) -> None:
    if case == "wrong principal":
        creds = fake.credentials(principal="otheruser")
    else:
        creds = fake.credentials(valid_before=time.time() - 60)
    async with fake.pool(credentials=creds) as pool:
        with pytest.raises(AuthenticationFailed, match="refused the certificate for hpcuser"):
            await pool.session(fake.node).run(["argv"])


async def test_unreadable_credentials_never_echo_the_key(fake: FakeNode) -> None:
    async def bad() -> ClientCredentials:
        return ClientCredentials(private_key="SECRET-KEY-MATERIAL", certificate="nope")

    async with fake.pool(credentials=bad) as pool:
        with pytest.raises(AuthenticationFailed) as caught:
            await pool.session(fake.node).run(["argv"])
    assert "SECRET" not in str(caught.value)


async def test_nobody_listening_is_a_network_error(fake: FakeNode) -> None:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        free_port = probe.getsockname()[1]
    node = EntryNode("pilogin", HOST, free_port, "job", ("pi",))
    async with fake.pool() as pool:
        with pytest.raises(NetworkError, match="Cannot reach pilogin"):
            await pool.session(node).run(["argv"])


# --- sftp and streaming ----------------------------------------------------------------------


async def test_sftp_on_the_same_connection(fake: FakeNode) -> None:
    async with fake.pool() as pool:
        session = pool.session(fake.node)
        await session.run(["argv"])
        async with session.sftp() as sftp:
            names = await sftp.listdir(str(fake.tmp / "sftp"))
        assert "hello.txt" in names
        assert session.connects == 1


async def test_start_process_holds_a_slot_until_closed(fake: FakeNode) -> None:
    async with fake.pool(max_channels=2) as pool:
        session: Session = pool.session(fake.node)
        process = await session.start_process(["cat"])
        process.stdin.write("line one\n")
        assert await process.stdout.readline() == "line one\n"
        # One slot taken by the stream: a second stream still fits, a third waits.
        second = await session.start_process(["hang"])
        third = asyncio.ensure_future(session.run(["argv", "3"]))
        await asyncio.sleep(0.05)
        assert not third.done()
        process.stdin.write_eof()
        await process.wait()
        assert (await asyncio.wait_for(third, 5)).stdout == '["3"]'
        second.close()
        await second.wait_closed()


# --- known_hosts helpers ---------------------------------------------------------------------


def test_trust_writes_plain_and_hashed_lines(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "known_hosts"
    k1, k2 = key(), key()
    hosts = KnownHosts.load(path)
    assert not hosts.knows("127.0.0.2", 2222)
    line = hosts.trust("127.0.0.2", 2222, k1)
    assert line == f"[127.0.0.2]:2222 {public(k1)}"
    hashed = hosts.trust("data.example", 22, public(k2), hashed=True)
    assert hashed.startswith("|1|") and "data.example" not in hashed
    assert hosts.trusts("127.0.0.2", 2222, k1)
    assert hosts.trusts("data.example", 22, k2)
    assert not hosts.knows("127.0.0.3", 2222)
    # Trusting the same key again adds nothing.
    hosts.trust("127.0.0.2", 2222, k1)
    assert len(path.read_text().splitlines()) == 2


def test_trust_host_shortcut(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    k = key()
    assert trust_host(path, "h", 2222, k) == f"[h]:2222 {public(k)}"
    assert KnownHosts.load(path).trusts("h", 2222, k)


def test_trust_appends_after_a_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    k1, k2 = key(), key()
    path.write_text(f"a.example {public(k1)}")
    KnownHosts.load(path).trust("b.example", 22, k2)
    assert path.read_text().splitlines() == [f"a.example {public(k1)}", f"b.example {public(k2)}"]


def test_fingerprints_and_key_lines() -> None:
    k = key()
    expected = k.get_fingerprint("sha256")
    assert fingerprint(k) == expected
    assert fingerprint(public(k)) == expected
    assert fingerprint(f"[h]:2 {public(k)} comment") == expected
    assert parse_public_key(f"@cert-authority * {public(k)}") == k.convert_to_public()
    with pytest.raises(ValueError):
        parse_public_key("not a key")
    assert host_pattern("h", 22) == "h"
    assert host_pattern("h", 2222) == "[h]:2222"


def test_credentials_repr_hides_the_key() -> None:
    creds = ClientCredentials(private_key="-----BEGIN OPENSSH PRIVATE KEY-----x", certificate="c")
    assert "PRIVATE" not in repr(creds)


def test_max_channels_must_be_positive(tmp_path: Path) -> None:
    async def creds() -> ClientCredentials:
        raise AssertionError

    with pytest.raises(ValueError):
        SessionPool(load_site(), USER, creds, tmp_path / "kh", max_channels=0)
