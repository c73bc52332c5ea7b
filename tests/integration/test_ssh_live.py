"""``core.ssh`` against the live testbed: five entry nodes, real sshd, real certificates.

Certificates are signed here with the testbed's user CA (``ssh-keygen -s``), so these tests
do not depend on the HPC API or on login.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from core.config import Profile, load_config
from core.errors import AuthenticationFailed, ChangedHostKey, NetworkError, UnknownHostKey
from core.site import EntryNode
from core.ssh import ClientCredentials, KnownHosts, SessionPool, fingerprint
from tests.testbed_env import TestbedEnv

pytestmark = pytest.mark.testbed

Creds = Callable[[], Awaitable[ClientCredentials]]


@dataclass(frozen=True)
class Certs:
    """A key pair and certificates for it, signed by the testbed's user CA."""

    good: Creds
    wrong_principal: Creds
    expired: Creds


def _signed(directory: Path, user_ca: Path, name: str, principal: str, validity: str) -> Creds:
    directory.mkdir()
    key = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            str(user_ca),
            "-I",
            name,
            "-n",
            principal,
            "-V",
            validity,
            f"{key}.pub",
        ],
        check=True,
    )
    creds = ClientCredentials(key.read_text(), Path(f"{key}-cert.pub").read_text())

    async def get() -> ClientCredentials:
        return creds

    return get


@pytest.fixture(scope="session")
def certs(testbed: TestbedEnv, tmp_path_factory: pytest.TempPathFactory) -> Certs:
    root = tmp_path_factory.mktemp("certs")
    return Certs(
        good=_signed(root / "good", testbed.user_ca, "test", "hpcuser", "-5m:+1h"),
        wrong_principal=_signed(root / "wrong", testbed.user_ca, "test", "otheruser", "-5m:+1h"),
        expired=_signed(root / "expired", testbed.user_ca, "test", "hpcuser", "-2h:-1h"),
    )


@pytest.fixture
def profile(testbed: TestbedEnv) -> Profile:
    return load_config(testbed.config_path).profile("testbed")


def make_pool(
    profile: Profile, creds: Creds, known_hosts: Path | None = None, **kwargs: float
) -> SessionPool:
    return SessionPool(
        profile.site(),
        profile.username,
        creds,
        known_hosts or profile.known_hosts,
        **kwargs,  # type: ignore[arg-type]
    )


EXPECTED_CONF = {
    "pilogin": "SLURM_CONF_PI",
    "armlogin": "SLURM_CONF_PI",
    "data": "SLURM_CONF_PI",
    "sylogin": "SLURM_CONF_SY",
    "sydata": "SLURM_CONF_SY",
}


@pytest.mark.parametrize("node", sorted(EXPECTED_CONF))
async def test_every_entry_node_runs_commands(
    testbed: TestbedEnv, profile: Profile, certs: Certs, node: str
) -> None:
    host, port = testbed.entry_nodes()[node]
    async with make_pool(profile, certs.good) as pool:
        session = pool.session(node)
        assert (session.node.host, session.node.port) == (host, port)
        hostname, conf, user, conn = await asyncio.gather(
            session.run(["hostname"]),
            session.run(["printenv", "SLURM_CONF"]),
            session.run(["id", "-un"]),
            session.run(["printenv", "SSH_CONNECTION"]),
        )
        assert hostname.ok and hostname.stdout.strip()
        assert conf.stdout.strip() == testbed[EXPECTED_CONF[node]]
        assert user.stdout == "hpcuser\n"
        # SSH_CONNECTION is "client port server port": we reached this node's own sshd.
        assert conn.stdout.split()[2:] == [host, str(port)]
        assert session.connects == 1


async def test_a_failing_command_is_a_result(profile: Profile, certs: Certs) -> None:
    async with make_pool(profile, certs.good) as pool:
        result = await pool.session("pilogin").run(["ls", "/no/such/path"])
    assert result.exit_status != 0
    assert "/no/such/path" in result.stderr


async def test_one_connection_serves_twenty_concurrent_commands(
    profile: Profile, certs: Certs
) -> None:
    async with make_pool(profile, certs.good, max_channels=10) as pool:
        session = pool.session("pilogin")
        started = time.monotonic()
        results = await asyncio.gather(
            *(session.run(["sh", "-c", 'sleep 0.3; echo "$SSH_CONNECTION"']) for _ in range(20))
        )
        elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    # Every command came over the same TCP connection (same client port)...
    assert len({r.stdout for r in results}) == 1
    assert pool.connects == 1 and session.connects == 1
    # ...and no more than ten at a time: twenty sleeps of 0.3 s took two rounds at least.
    assert elapsed >= 0.6


async def test_the_eleventh_channel_fails_when_the_bound_is_above_max_sessions(
    profile: Profile, certs: Certs
) -> None:
    # Why max_channels defaults to 10: sshd's MaxSessions refuses the 11th channel.
    async with make_pool(profile, certs.good, max_channels=11) as pool:
        session = pool.session("pilogin")
        results = await asyncio.gather(
            *(session.run(["sleep", "3"]) for _ in range(11)), return_exceptions=True
        )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], NetworkError)
    assert "MaxSessions" in (refused[0].hint or "")
    assert sum(1 for r in results if not isinstance(r, BaseException) and r.ok) == 10


async def test_reconnect_after_the_server_side_child_is_killed(
    profile: Profile, certs: Certs
) -> None:
    # Walk up from the shell to this connection's sshd process and kill it.
    kill_own_sshd = (
        'p=$PPID; while [ "$(cat /proc/$p/comm)" != sshd ]; do '
        "p=$(cut -d' ' -f4 /proc/$p/stat); done; kill -9 $p"
    )
    async with make_pool(profile, certs.good) as pool:
        session = pool.session("pilogin")
        before = await session.run(["printenv", "SSH_CONNECTION"])
        with pytest.raises(NetworkError):
            await session.run(["sh", "-c", kill_own_sshd])
        after = await session.run(["printenv", "SSH_CONNECTION"])
        assert after.ok
        assert after.stdout != before.stdout  # a new TCP connection (new client port)
        assert session.connects == 2


async def test_reconnect_after_the_transport_is_closed(profile: Profile, certs: Certs) -> None:
    async with make_pool(profile, certs.good) as pool:
        session = pool.session("sylogin")
        assert (await session.run(["true"])).ok
        connection = session.connection
        assert connection is not None
        connection.abort()
        # Straight away, while the old connection is still closing.
        assert (await session.run(["id", "-un"])).stdout == "hpcuser\n"
        assert session.connects == 2


async def test_unknown_host_then_trust(
    testbed: TestbedEnv, profile: Profile, certs: Certs, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"  # no @cert-authority line: nothing is known
    known.write_text("")
    host, port = testbed.entry_nodes()["pilogin"]
    async with make_pool(profile, certs.good, known) as pool:
        with pytest.raises(UnknownHostKey) as caught:
            await pool.session("pilogin").run(["true"])
    err = caught.value
    assert (err.host, err.port) == (host, port)
    scanned = subprocess.run(
        ["ssh-keyscan", "-t", "ed25519", "-p", str(port), host],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert err.fingerprint == fingerprint(scanned.strip())
    assert err.fingerprint.startswith("SHA256:")
    KnownHosts.load(known).trust(err.host, err.port, err.key_line)
    async with make_pool(profile, certs.good, known) as pool:
        assert (await pool.session("pilogin").run(["id", "-un"])).stdout == "hpcuser\n"


async def test_changed_host_key_is_refused(
    testbed: TestbedEnv, profile: Profile, certs: Certs, tmp_path: Path
) -> None:
    host, port = testbed.entry_nodes()["pilogin"]
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    known = tmp_path / "known_hosts"
    known.write_text(KnownHosts.line_for(host, port, impostor) + "\n")
    async with make_pool(profile, certs.good, known) as pool:
        with pytest.raises(ChangedHostKey, match="refuses to connect"):
            await pool.session("pilogin").run(["true"])
    # And suan never replaces the line itself.
    with pytest.raises(ChangedHostKey):
        KnownHosts.load(known).trust(host, port, fingerprint_line(host, port))


def fingerprint_line(host: str, port: int) -> str:
    return subprocess.run(
        ["ssh-keyscan", "-t", "ed25519", "-p", str(port), host],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


@pytest.mark.parametrize("case", ["wrong_principal", "expired"])
async def test_refused_certificates(profile: Profile, certs: Certs, case: str) -> None:
    async with make_pool(profile, getattr(certs, case)) as pool:
        with pytest.raises(AuthenticationFailed, match="refused the certificate for hpcuser"):
            await pool.session("data").run(["true"])


async def test_nobody_listening_is_a_network_error(profile: Profile, certs: Certs) -> None:
    nowhere = EntryNode("pilogin", "127.0.0.9", 2222, "job", ("pi",))
    async with make_pool(profile, certs.good) as pool:
        with pytest.raises(NetworkError, match="127.0.0.9:2222"):
            await pool.session(nowhere).run(["true"])


async def test_sftp_lists_home_on_the_same_connection(profile: Profile, certs: Certs) -> None:
    async with make_pool(profile, certs.good) as pool:
        session = pool.session("pilogin")
        home = (await session.run(["printenv", "HOME"])).stdout.strip()
        listed = (await session.run(["ls", "-A", home])).stdout.split("\n")
        async with session.sftp() as sftp:
            names = await sftp.listdir(home)
        assert sorted(n for n in names if n not in (".", "..")) == sorted(n for n in listed if n)
        assert home == "/lustre/home/acct-hpc/hpcuser"
        assert session.connects == 1


NASTY = [
    "two words",
    "it's",
    '"double"',
    "$(id)",
    "`id`",
    "$HOME",
    "a;b&&c|d",
    "line one\nline two",
    "-n",
    "--help",
    "*",
    "~",
    "",
    "中文 名字",
    "back\\slash",
]


async def test_arguments_reach_the_remote_command_exactly(profile: Profile, certs: Certs) -> None:
    async with make_pool(profile, certs.good) as pool:
        result = await pool.session("sydata").run(["printf", "%s\n", *NASTY])
    assert result.ok, result.stderr
    assert result.stdout == "".join(f"{arg}\n" for arg in NASTY)


async def test_streaming_a_process(profile: Profile, certs: Certs) -> None:
    async with make_pool(profile, certs.good, max_channels=2) as pool:
        session = pool.session("pilogin")
        process = await session.start_process(["sh", "-c", "echo one; sleep 0.2; echo two"])
        lines = [await process.stdout.readline(), await process.stdout.readline()]
        await process.wait()
        assert lines == ["one\n", "two\n"]
        # Its channel slot comes back once it ends.
        results = await asyncio.gather(session.run(["true"]), session.run(["true"]))
        assert all(r.ok for r in results)
