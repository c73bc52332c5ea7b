"""A logged-in suan for live tests: one real login per test session (password, approval
through the stand-in's control URL, real certificate), then a fresh facade per test."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.config import Profile, load_config
from core.service import Suan
from tests.testbed_env import TestbedEnv


async def approve_pending(testbed: TestbedEnv, user: str, task: asyncio.Future[Any]) -> None:
    """Approve ``user``'s second-factor requests until ``task`` is done (60 s deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    async with httpx.AsyncClient(base_url=testbed.control_url.rstrip("/"), timeout=10) as c:
        while not task.done():
            response = await c.get("/pending")
            response.raise_for_status()
            for item in response.json():
                if item["user"] == user:
                    await c.post("/approve", json={"id": item["id"]})
            if loop.time() > deadline:
                raise AssertionError("the login never asked for approval")
            await asyncio.sleep(0.05)


async def login(testbed: TestbedEnv, profile: Profile) -> None:
    """A real login of ``profile`` against the testbed's API."""
    suan = Suan(profile)
    try:
        task = asyncio.ensure_future(suan.identity.login(testbed.password(profile.username)))
        await approve_pending(testbed, profile.username, task)
        await task
    finally:
        await suan.close()


def live_profile(testbed: TestbedEnv, data_dir: Path, name: str = "testbed") -> Profile:
    profile = load_config(testbed.config_path).profile(name)
    return dataclasses.replace(profile, data_dir=data_dir)


@pytest.fixture(scope="session")
def logged_in(testbed: TestbedEnv, tmp_path_factory: pytest.TempPathFactory) -> Profile:
    """hpcuser's profile with a stored token, key and certificate (one login per session)."""
    profile = live_profile(testbed, tmp_path_factory.mktemp("suan-live"))
    asyncio.run(login(testbed, profile))
    return profile


@pytest.fixture(scope="session")
def other_logged_in(testbed: TestbedEnv, tmp_path_factory: pytest.TempPathFactory) -> Profile:
    """otheruser, logged in the same way."""
    profile = live_profile(testbed, tmp_path_factory.mktemp("suan-other"), "otheruser")
    asyncio.run(login(testbed, profile))
    return profile


@pytest.fixture
async def suan(logged_in: Profile) -> AsyncIterator[Suan]:
    """A facade over the logged-in profile, closed after the test."""
    facade = Suan(logged_in)
    try:
        yield facade
    finally:
        await facade.close()


@pytest.fixture(scope="session")
def cli_config(
    logged_in: Profile, testbed: TestbedEnv, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A config file for the ``suan`` command whose default profile is logged in."""
    return write_config(testbed, tmp_path_factory.mktemp("cli") / "config.toml", logged_in.data_dir)


def write_config(
    testbed: TestbedEnv, path: Path, data_dir: Path, *, known_hosts: Path | None = None
) -> Path:
    """A suan config file for hpcuser on the testbed, its state in ``data_dir``."""
    hosts = "\n".join(f'{n} = "{h}:{p}"' for n, (h, p) in testbed.entry_nodes().items())
    path.write_text(
        f"""default_profile = "testbed"
[profiles.testbed]
site = "sjtu"
username = "hpcuser"
api_url = "{testbed.api_url}"
known_hosts = "{known_hosts or testbed.known_hosts}"
secrets = "file"
data_dir = "{data_dir}"
[profiles.testbed.hosts]
{hosts}
"""
    )
    return path


def run_cli(
    config: Path, *args: str, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real ``suan`` command (this interpreter's), as a user would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUAN_")}
    env["SUAN_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
