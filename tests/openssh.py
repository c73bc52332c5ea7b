"""Plain OpenSSH against the testbed's entry nodes, for tests that must not trust suan's own code.

An ``Identity`` is a key pair with (optionally) a certificate signed by the testbed's user
CA; ``ssh_run`` runs one argv on an entry node, quoting every word with ``shlex.quote``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.testbed_env import TestbedEnv


@dataclass(frozen=True)
class Identity:
    """A private key, the certificate to present with it (or None), and the login name."""

    key: Path
    certificate: Path | None
    user: str


def make_key(directory: Path, name: str = "id_ed25519") -> Path:
    """A fresh Ed25519 key pair in ``directory``; the private key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "suan-test", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def sign(user_ca: Path, key: Path, principals: Sequence[str], validity: str = "-5m:+1h") -> Path:
    """Sign ``key``'s public half with the user CA; the certificate's path."""
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(user_ca), "-I", "test", "-n", ",".join(principals),
         "-V", validity, f"{key}.pub"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Path(f"{key}-cert.pub")


def make_identity(
    directory: Path,
    user_ca: Path,
    user: str = "hpcuser",
    *,
    principals: Sequence[str] | None = None,
    validity: str = "-5m:+1h",
    certified: bool = True,
) -> Identity:
    """A key in ``directory`` (signed for ``principals``, default ``[user]``, if certified).

    An uncertified key lives alone in its directory: ``ssh -i key`` silently loads a
    ``key-cert.pub`` found beside the key.
    """
    key = make_key(directory)
    if not certified:
        return Identity(key, None, user)
    return Identity(key, sign(user_ca, key, principals or [user], validity), user)


def without_certificate(identity: Identity, directory: Path) -> Identity:
    """The same key copied where no certificate sits beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / identity.key.name
    shutil.copy2(identity.key, key)
    key.chmod(0o600)
    return Identity(key, None, identity.user)


def ssh_argv(
    identity: Identity,
    host: str,
    port: int,
    known_hosts: Path,
    argv: Sequence[str],
) -> list[str]:
    """The ``ssh`` command line running ``argv`` remotely, every word shell-quoted."""
    options = [
        "-F", "/dev/null",
        "-i", str(identity.key),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
        "-o", "LogLevel=ERROR",
        "-p", str(port),
    ]  # fmt: skip
    if identity.certificate is not None:
        options += ["-o", f"CertificateFile={identity.certificate}"]
    remote = " ".join(shlex.quote(word) for word in argv)
    return ["ssh", *options, f"{identity.user}@{host}", "--", remote]


def ssh_run(
    testbed: TestbedEnv,
    identity: Identity,
    node: str,
    argv: Sequence[str],
    *,
    known_hosts: Path | None = None,
    input_text: str | None = None,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` on entry node ``node`` (``pilogin`` …) over plain OpenSSH."""
    host, port = testbed.entry_nodes()[node]
    command = ssh_argv(identity, host, port, known_hosts or testbed.known_hosts, argv)
    # Bytes, decoded by hand: text mode would turn the "\r" of progress lines into "\n".
    proc = subprocess.run(
        command,
        input=input_text.encode() if input_text is not None else None,
        capture_output=True,
        timeout=timeout,
        check=False,
        stdin=None if input_text is not None else subprocess.DEVNULL,
    )
    return subprocess.CompletedProcess(
        command,
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )


def sftp_run(
    testbed: TestbedEnv, identity: Identity, node: str, batch: str, *, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run an ``sftp -b`` batch (commands, one a line) on entry node ``node``."""
    host, port = testbed.entry_nodes()[node]
    options = [
        "-F", "/dev/null",
        "-i", str(identity.key),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={testbed.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "LogLevel=ERROR",
        "-P", str(port),
    ]  # fmt: skip
    if identity.certificate is not None:
        options += ["-o", f"CertificateFile={identity.certificate}"]
    return subprocess.run(
        ["sftp", *options, "-b", "-", f"{identity.user}@{host}"],
        input=batch,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
