"""Start the HPC API stand-in (``tests/testbed/hpc_api.py``) for one test module.

Each stand-in runs under Debian's ``/usr/bin/python3`` in its own temp dir, on a free port
it picks itself (``--port 0``), with its own user CA made by ``ssh-keygen``. Tests drive it
through the ``/_testbed/`` control endpoints: approve or deny, switch failure modes, reset.
Everything waits by polling with a deadline, never by sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STANDIN = Path(__file__).resolve().parent / "testbed" / "hpc_api.py"
PYTHON = "/usr/bin/python3"
DEFAULT_DEADLINE = 20.0

PASSWORDS = {"hpcuser": "hpc-pass-7Qx!", "otheruser": "other-pass-3Zr?", "nobind": "nb-pass-1"}


def default_users() -> dict[str, dict[str, Any]]:
    """hpcuser and otheruser of acct-hpc, and ``nobind`` who has no email or jAccount."""
    return {
        "hpcuser": {
            "password": PASSWORDS["hpcuser"],
            "uid": 5001,
            "gid": 5000,
            "group": "acct-hpc",
            "email": "hpcuser@example.edu",
            "jaccount": "hpcuser",
            "home": "%H/home/acct-hpc/hpcuser",
        },
        "otheruser": {
            "password": PASSWORDS["otheruser"],
            "uid": 5002,
            "gid": 5000,
            "group": "acct-hpc",
            "email": "otheruser@example.edu",
            "jaccount": "",
            "home": "%H/home/acct-hpc/otheruser",
        },
        "nobind": {
            "password": PASSWORDS["nobind"],
            "uid": 5003,
            "gid": 5010,
            "group": "acct-nobind",
            "email": "",
            "jaccount": "",
            "home": "%H/home/acct-nobind/nobind",
        },
    }


def wait_for(
    predicate: Callable[[], Any], *, deadline: float = DEFAULT_DEADLINE, what: str = "it"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``deadline`` s."""
    end = time.monotonic() + deadline
    delay = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


async def async_wait_for(
    predicate: Callable[[], Any], *, deadline: float = DEFAULT_DEADLINE, what: str = "it"
) -> Any:
    """Like :func:`wait_for`, for async tests: ``predicate`` runs in a thread so the event
    loop keeps driving the requests under test."""
    end = time.monotonic() + deadline
    delay = 0.01
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


@dataclass
class StandIn:
    """A running stand-in and the means to drive it."""

    directory: Path
    url: str
    process: subprocess.Popen[bytes]
    user_ca: Path
    storage: Path
    log_path: Path
    passwords: dict[str, str] = field(default_factory=lambda: dict(PASSWORDS))

    @property
    def control_url(self) -> str:
        return f"{self.url}/_testbed"

    def control(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        """Call a control endpoint and return its JSON (raising on an HTTP error)."""
        response = httpx.request(method, f"{self.control_url}/{name}", json=body, timeout=10.0)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "health")
        return result

    def pending(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control("GET", "pending")
        return result

    def wait_pending(
        self, what: str | None = None, *, deadline: float = DEFAULT_DEADLINE
    ) -> dict[str, Any]:
        """The first pending approval (of kind ``what``), waiting for one to appear."""
        found: dict[str, Any] = wait_for(
            lambda: self._find_pending(what), deadline=deadline, what=f"a pending {what}"
        )
        return found

    def _find_pending(self, what: str | None) -> dict[str, Any] | None:
        for item in self.pending():
            if what is None or item["what"] == what:
                return item
        return None

    async def await_pending(
        self, what: str | None = None, *, deadline: float = DEFAULT_DEADLINE
    ) -> dict[str, Any]:
        """:meth:`wait_pending` for async tests (the loop keeps running meanwhile)."""
        found: dict[str, Any] = await async_wait_for(
            lambda: self._find_pending(what), deadline=deadline, what=f"a pending {what}"
        )
        return found

    def approve(self, approval_id: str | None = None) -> list[str]:
        body = {"id": approval_id} if approval_id else {}
        approved: list[str] = self.control("POST", "approve", body)["approved"]
        return approved

    def deny(self, approval_id: str | None = None) -> list[str]:
        body = {"id": approval_id} if approval_id else {}
        denied: list[str] = self.control("POST", "deny", body)["denied"]
        return denied

    def set_mode(self, mode: str) -> None:
        self.control("POST", "mode", {"mode": mode})

    def configure(self, **settings: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.control("POST", "config", settings)
        return result

    def reset(self) -> None:
        self.control("POST", "reset", {})

    def count(self, key: str) -> int:
        """How many API requests ``"METHOD /path"`` the stand-in received since reset."""
        return int(self.health()["counts"].get(key, 0))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def make_ca(path: Path) -> Path:
    """An Ed25519 user CA key pair at ``path`` / ``path.pub``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-user-ca", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def start_standin(
    directory: Path,
    *,
    users: dict[str, dict[str, Any]] | None = None,
    extra_config: dict[str, Any] | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> StandIn:
    """Start a stand-in in ``directory`` (created) and wait until it answers."""
    directory.mkdir(parents=True, exist_ok=True)
    storage = directory / "storage"
    for fs in ("lustre", "dssg", "archive", "vault"):
        (storage / fs / "home").mkdir(parents=True, exist_ok=True)
    ca = make_ca(directory / "user_ca")
    config: dict[str, Any] = {
        "users": users if users is not None else default_users(),
        "user_ca": str(ca),
        "storage_root": str(storage),
        "quota_limits": {
            "user": {"lustre": {"limit_bytes": 10**12, "limit_files": 10**6}},
            "account": {"lustre": {"limit_bytes": 3 * 10**12, "limit_files": 10**7}},
        },
        "auto_approve_seconds": None,
        **(extra_config or {}),
    }
    (directory / "config.json").write_text(json.dumps(config))
    log_path = directory / "hpc_api.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [PYTHON, str(STANDIN), "--dir", str(directory), "--host", "127.0.0.1", "--port", "0"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
        )
    ready = directory / "ready.json"

    def is_ready() -> dict[str, Any] | None:
        if process.poll() is not None:
            raise AssertionError(f"the stand-in exited early:\n{log_path.read_text()}")
        if not ready.exists():
            return None
        data: dict[str, Any] = json.loads(ready.read_text())
        return data

    try:
        info = wait_for(is_ready, deadline=deadline, what="the stand-in to listen")
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        raise
    return StandIn(
        directory=directory,
        url=str(info["url"]),
        process=process,
        user_ca=ca,
        storage=storage,
        log_path=log_path,
    )


@contextmanager
def running_standin(directory: Path, **kwargs: Any) -> Iterator[StandIn]:
    """``start_standin`` as a context manager that always stops the process."""
    standin = start_standin(directory, **kwargs)
    try:
        yield standin
    finally:
        standin.stop()


def make_key(path: Path, comment: str = "test") -> tuple[str, str]:
    """An unencrypted Ed25519 key pair at ``path``: (private key text, public key line)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_text(), path.with_name(path.name + ".pub").read_text().strip()


def make_certificate(
    ca: Path,
    public_key_file: Path,
    *,
    principals: tuple[str, ...] = ("hpcuser",),
    validity: str = "-5m:+1h",
    key_id: str = "test-cert",
    serial: int = 1,
    host: bool = False,
) -> str:
    """Sign ``public_key_file`` with ``ca`` (``ssh-keygen -s``) and return the certificate.

    ``validity`` is ssh-keygen's ``-V`` (``20200101000000Z:20200102000000Z``, ``always:forever``).
    """
    argv = ["ssh-keygen", "-q", "-s", str(ca), "-I", key_id, "-z", str(serial)]
    argv += ["-n", ",".join(principals), "-V", validity]
    if host:
        argv.append("-h")
    subprocess.run([*argv, str(public_key_file)], check=True, capture_output=True)
    cert_path = public_key_file.with_name(public_key_file.name.removesuffix(".pub") + "-cert.pub")
    return cert_path.read_text()
