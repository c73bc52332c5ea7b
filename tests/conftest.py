"""Fixtures shared by every test: the live testbed, and isolation from the developer's machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.testbed_env import TestbedEnv, load_testbed_env


@pytest.fixture(autouse=True)
def _isolate_user_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads the developer's config, keyring or data directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("SUAN_CONFIG", raising=False)


@pytest.fixture(scope="session")
def testbed() -> TestbedEnv:
    """The live testbed. Fails (never skips) when it is down: CI brings it up first."""
    env = load_testbed_env()
    if env is None:
        pytest.fail("the testbed is not up: run `bash tests/testbed/up.sh --seed`")
    return env


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh suan data directory (secrets files, transfer records) for one test."""
    path = tmp_path / "suan-data"
    path.mkdir()
    return path
