"""SecretStore: the keyring when there is one, 0600 files otherwise, never the password."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from core.errors import ConfigError
from core.secrets import SecretStore, usable_keyring


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring backend, usable (priority > 0)."""

    priority = 1

    def __init__(self) -> None:
        # KeyringBackend.__init__ only reads KEYRING_PROPERTY_* variables: not wanted here.
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.items[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None


class BrokenKeyring(MemoryKeyring):
    """A keyring that exists but fails on use (a locked wallet)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """An in-memory backend installed as keyring's global one, restored afterwards."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def test_without_a_keyring_secrets_go_to_0600_files_with_a_warning(data_dir: Path) -> None:
    # conftest selects keyring's "fail" backend: no usable keyring.
    assert usable_keyring() is None
    store = SecretStore(data_dir, profile="testbed", username="hpcuser")
    assert not store.uses_keyring
    assert store.warning is not None
    assert "0600" in store.warning
    assert str(store.directory) in store.warning
    assert store.backend_name.startswith("files")

    store.set("token", "tok-secret")
    store.set("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    assert store.get("token") == "tok-secret"
    assert store.get("certificate") is None
    for directory in (store.directory, store.directory.parent):
        assert _mode(directory) == 0o700
    files = _files_under(data_dir)
    assert {p.name for p in files} == {"token", "private_key"}
    assert all(_mode(p) == 0o600 for p in files)

    store.set("token", "tok-2")  # replaced atomically, still 0600, no temp file left
    assert store.get("token") == "tok-2"
    assert {p.name for p in _files_under(data_dir)} == {"token", "private_key"}
    assert _mode(store.directory / "token") == 0o600

    store.delete("token")
    store.delete("token")  # deleting twice is fine
    assert store.get("token") is None


def test_files_are_0600_whatever_the_umask(data_dir: Path) -> None:
    import os

    old = os.umask(0)
    try:
        store = SecretStore(data_dir, profile="p", username="u", mode="file")
        store.set("certificate", "cert")
    finally:
        os.umask(old)
    assert _mode(store.directory / "certificate") == 0o600
    assert _mode(store.directory) == 0o700


def test_an_existing_open_directory_is_closed_down(data_dir: Path) -> None:
    store = SecretStore(data_dir, profile="p", username="u", mode="file")
    store.directory.mkdir(parents=True, mode=0o755)
    store.directory.chmod(0o755)
    store.set("token", "t")
    assert _mode(store.directory) == 0o700


def test_a_usable_keyring_is_used_and_no_file_is_written(
    data_dir: Path, memory_keyring: MemoryKeyring
) -> None:
    assert usable_keyring() is memory_keyring
    store = SecretStore(data_dir, profile="testbed", username="hpcuser")
    assert store.uses_keyring
    assert store.warning is None
    assert "MemoryKeyring" in store.backend_name

    store.set("token", "tok")
    store.set("certificate", "cert")
    assert store.get("token") == "tok"
    assert memory_keyring.items == {
        ("suan:testbed", "hpcuser:token"): "tok",
        ("suan:testbed", "hpcuser:certificate"): "cert",
    }
    assert _files_under(data_dir) == []
    store.delete("token")
    store.delete("token")
    assert store.get("token") is None
    assert ("suan:testbed", "hpcuser:token") not in memory_keyring.items


def test_profiles_and_users_do_not_share_secrets(data_dir: Path) -> None:
    backend = MemoryKeyring()
    a = SecretStore(data_dir, profile="a", username="hpcuser", backend=backend)
    b = SecretStore(data_dir, profile="b", username="hpcuser", backend=backend)
    c = SecretStore(data_dir, profile="a", username="otheruser", backend=backend)
    a.set("token", "A")
    assert b.get("token") is None
    assert c.get("token") is None
    fa = SecretStore(data_dir / "a", profile="a", username="hpcuser", mode="file")
    fc = SecretStore(data_dir / "a", profile="a", username="otheruser", mode="file")
    fa.set("token", "A")
    assert fc.get("token") is None


def test_file_mode_is_forced_even_with_a_keyring(
    data_dir: Path, memory_keyring: MemoryKeyring
) -> None:
    store = SecretStore(data_dir, profile="p", username="u", mode="file")
    assert not store.uses_keyring
    assert store.warning is None  # the user asked for files: nothing to warn about
    store.set("token", "t")
    assert memory_keyring.items == {}
    assert (store.directory / "token").read_text() == "t"


def test_a_keyring_that_fails_falls_back_to_files(data_dir: Path) -> None:
    store = SecretStore(data_dir, profile="p", username="u", backend=BrokenKeyring())
    assert store.uses_keyring
    store.set("token", "t")
    assert not store.uses_keyring
    assert store.warning is not None
    assert "keyring failed" in store.warning
    assert store.get("token") == "t"
    assert _mode(store.directory / "token") == 0o600


@pytest.mark.parametrize("name", ["password", "hpc_password", "passwd", "other"])
def test_only_the_three_names_are_kept(data_dir: Path, name: str) -> None:
    store = SecretStore(data_dir, profile="p", username="u", mode="file")
    with pytest.raises(ValueError, match="no secret"):
        store.set(name, "x")
    with pytest.raises(ValueError, match="no secret"):
        store.get(name)
    assert _files_under(data_dir) == []


def test_unknown_mode_is_a_config_error(data_dir: Path) -> None:
    with pytest.raises(ConfigError):
        SecretStore(data_dir, profile="p", username="u", mode="keychain")


def test_the_null_backend_is_not_usable(data_dir: Path) -> None:
    from keyring.backends import null

    store = SecretStore(data_dir, profile="p", username="u", backend=null.Keyring())  # type: ignore[no-untyped-call]
    assert not store.uses_keyring
    assert store.warning is not None


@dataclass(frozen=True)
class _Profile:
    name: str
    username: str
    data_dir: Path
    secrets: str
    api_url: str = "http://127.0.0.1:1"


def test_for_profile_reads_the_profile(data_dir: Path) -> None:
    store = SecretStore.for_profile(_Profile("testbed", "hpc/user", data_dir, "file"))
    assert store.service == "suan:testbed"
    assert store.directory == data_dir / "secrets" / "hpc_user"
    store.set("token", "t")
    assert (data_dir / "secrets" / "hpc_user" / "token").exists()
