"""Identity against the live testbed: log in through its HPC API, then SSH in with OpenSSH."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from core.certs import CertInfo
from core.hpc_api import HpcApi
from core.identity import Identity, LoginProgress
from core.secrets import SecretStore
from tests.testbed_env import TestbedEnv

pytestmark = pytest.mark.testbed

USER = "hpcuser"


@dataclass(frozen=True)
class LiveProfile:
    """The profile fields Identity reads."""

    username: str
    api_url: str
    data_dir: Path
    secrets: str = "file"
    name: str = "testbed-live"


def _control(testbed: TestbedEnv) -> str:
    url = testbed.control_url.rstrip("/")
    return url if url.endswith("/_testbed") else f"{url}/_testbed"


async def _approve_when_asked(testbed: TestbedEnv, task: asyncio.Task[Any]) -> None:
    """Approve this login's certificate request through the control URL, polling with a
    deadline. Only requests of our user are approved, one by one (by id)."""
    deadline = asyncio.get_running_loop().time() + 60
    async with httpx.AsyncClient(base_url=_control(testbed), timeout=10) as control:
        while not task.done():
            response = await control.get("/pending")
            response.raise_for_status()
            for item in response.json():
                if item["user"] == USER and item["what"] in ("sign_cert", "gen_key"):
                    # 404: approved meanwhile (auto-approval): fine either way.
                    answer = await control.post("/approve", json={"id": item["id"]})
                    assert answer.status_code in (200, 404)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the login never asked for approval")
            await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
def _api_in_normal_mode(testbed: TestbedEnv) -> None:
    """Start from the API's normal mode whatever an earlier test left (modes, bans)."""
    httpx.post(f"{_control(testbed)}/reset", json={}, timeout=10).raise_for_status()


@pytest.fixture
async def api(testbed: TestbedEnv) -> AsyncIterator[HpcApi]:
    async with HpcApi(testbed.api_url, domain="pi", approval_timeout=120) as client:
        yield client


@pytest.fixture
def identity(testbed: TestbedEnv, api: HpcApi, tmp_path: Path) -> Identity:
    profile = LiveProfile(USER, testbed.api_url, tmp_path / "data")
    return Identity(profile, api, SecretStore.for_profile(profile), tick=0.1)


T = TypeVar("T")


async def _with_approval(testbed: TestbedEnv, coro: Coroutine[Any, Any, T]) -> T:
    """Run a login-like coroutine while approving its request from the control URL."""
    task = asyncio.create_task(coro)
    approver = asyncio.create_task(_approve_when_asked(testbed, task))
    try:
        return await asyncio.wait_for(task, 120)
    finally:
        approver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await approver


async def _login(identity: Identity, testbed: TestbedEnv) -> tuple[CertInfo, list[str]]:
    stages: list[str] = []

    def progress(event: LoginProgress) -> None:
        stages.append(event.stage)

    login = identity.login(testbed.password(USER), on_progress=progress, valid_time=3600)
    return await _with_approval(testbed, login), stages


def _ssh(testbed: TestbedEnv, key: Path, *command: str) -> subprocess.CompletedProcess[str]:
    host, port = testbed.entry_nodes()["pilogin"]
    return subprocess.run(
        [
            "ssh", "-F", "/dev/null", "-i", str(key),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={testbed.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=20",
            "-p", str(port), f"{USER}@{host}", *command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


async def test_login_then_plain_openssh_logs_in_with_the_certificate(
    identity: Identity, testbed: TestbedEnv, tmp_path: Path
) -> None:
    info, stages = await _login(identity, testbed)
    assert info.principals == (USER,)
    assert stages[0] == "token"
    assert "approval" in stages
    assert stages[-1] == "done"
    assert identity.status() == info

    key, _pub, _cert = identity.export(tmp_path / "ssh")
    result = _ssh(testbed, key, "whoami")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == USER

    # The key alone (no certificate beside it) is refused: the certificate is what works.
    bare = tmp_path / "bare" / "id_ed25519"
    bare.parent.mkdir(mode=0o700)
    shutil.copy(key, bare)
    bare.chmod(0o600)
    refused = _ssh(testbed, bare, "whoami")
    assert refused.returncode == 255
    assert "Permission denied" in refused.stderr


async def test_user_info_quota_and_token_refresh(
    identity: Identity, api: HpcApi, testbed: TestbedEnv
) -> None:
    await _login(identity, testbed)
    user = await api.get_user(await identity.token(), USER)
    assert str(user["home"]).endswith(f"/home/acct-hpc/{USER}")
    assert user["uidNumber"] == 5001

    identity.token_refresh_after = 0  # the next call exchanges the token
    fresh = await identity.token()
    assert (await api.get_user(fresh, USER))["uid"] == USER

    for kind, name in (("user", USER), ("account", "acct-hpc")):
        quota = await api.get_quota(kind, name)
        assert quota["name"] == name
        filesystems = {q["filesystem"] for q in quota["quotas"]}
        assert "lustre" in filesystems
        assert all(q["used_bytes"] >= 0 for q in quota["quotas"])


async def test_renew_reuses_the_token_and_the_new_certificate_works(
    identity: Identity, testbed: TestbedEnv, tmp_path: Path
) -> None:
    first, _ = await _login(identity, testbed)
    second = await _with_approval(testbed, identity.renew(valid_time=3600))
    assert second.serial != first.serial
    key = identity.export(tmp_path / "ssh")[0]
    result = _ssh(testbed, key, "id", "-un")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == USER
