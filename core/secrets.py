"""Where the login token, the private key and the certificate are kept.

The system keyring when a usable backend exists; otherwise files of mode 0600 in a 0700
directory under the profile's data directory, with a :attr:`SecretStore.warning` for the
user. ``secrets = "file"`` in the profile forces files. The password is never stored: only
the names in :data:`NAMES` are accepted.

Keyring backends can block (D-Bus, a locked wallet): async callers run these methods in a
thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import Any, Protocol

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from core.errors import ConfigError

log = logging.getLogger(__name__)

NAMES = frozenset({"token", "private_key", "certificate"})
"""The only secrets suan keeps. Never the password."""
SERVICE_PREFIX = "suan"
SECRETS_MODES = ("auto", "file")

# Backends that exist only to say "no keyring here".
_UNUSABLE_BACKENDS = frozenset({"keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"})


class StoreProfile(Protocol):
    """What :meth:`SecretStore.for_profile` reads from a profile."""

    @property
    def username(self) -> str: ...
    @property
    def data_dir(self) -> Path | str | None: ...
    @property
    def secrets(self) -> str: ...


def _qualname(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def usable_keyring() -> KeyringBackend | None:
    """The configured keyring backend, or None when it is the fail/null one or has none."""
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration is as good as none
        log.debug("no keyring backend could be loaded", exc_info=True)
        return None
    return backend if _is_usable(backend) else None


def _is_usable(backend: KeyringBackend) -> bool:
    if _qualname(backend) in _UNUSABLE_BACKENDS:
        return False
    # A chainer with no usable member has priority 0; so has anything keyring itself
    # would not pick.
    try:
        priority: Any = backend.priority
        return float(priority) > 0
    except Exception:
        return False


class SecretStore:
    """Secrets of one profile and user: ``token``, ``private_key``, ``certificate``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        profile: str,
        username: str,
        mode: str = "auto",
        backend: KeyringBackend | None = None,
    ) -> None:
        """``backend`` picks a keyring backend explicitly (tests); by default keyring's own.

        ``mode`` is the profile's ``secrets`` setting: ``"auto"`` or ``"file"``.
        """
        if mode not in SECRETS_MODES:
            raise ConfigError(
                f"secrets = {mode!r} is not understood",
                hint='use "auto" (the keyring when one exists, else files) or "file"',
            )
        self.profile = profile
        self.username = username
        self.directory = Path(data_dir) / "secrets" / _safe_part(username)
        self.service = f"{SERVICE_PREFIX}:{profile}"
        self.warning: str | None = None
        """Words for the user when the secrets end up somewhere weaker than asked."""
        self._keyring: KeyringBackend | None = None
        if mode == "auto":
            chosen = backend if backend is not None else usable_keyring()
            if chosen is not None and _is_usable(chosen):
                self._keyring = chosen
            else:
                self.warning = self._file_warning("no system keyring is available")

    @classmethod
    def for_profile(
        cls, profile: StoreProfile, *, backend: KeyringBackend | None = None
    ) -> SecretStore:
        """The store for a configured profile (``core.config.Profile`` or alike)."""
        name = str(getattr(profile, "name", "") or "default")
        data_dir = profile.data_dir
        if data_dir is None:
            import platformdirs  # only needed for profiles without a data dir

            data_dir = Path(platformdirs.user_data_dir("suan")) / name
        return cls(
            Path(data_dir),
            profile=name,
            username=profile.username,
            mode=profile.secrets,
            backend=backend,
        )

    @property
    def backend_name(self) -> str:
        """``keyring (<backend class>)`` or ``files (<directory>)``."""
        if self._keyring is not None:
            return f"keyring ({type(self._keyring).__name__})"
        return f"files ({self.directory})"

    @property
    def uses_keyring(self) -> bool:
        """True while the secrets go to the system keyring."""
        return self._keyring is not None

    def _file_warning(self, why: str) -> str:
        return (
            f"{why[0].upper()}{why[1:]}: the login token, private key and certificate are "
            f"kept in files readable only by you (mode 0600) under {self.directory}."
        )

    def _account(self, name: str) -> str:
        return f"{self.username}:{name}"

    @staticmethod
    def _check(name: str) -> None:
        if name not in NAMES:
            raise ValueError(f"suan keeps no secret called {name!r}")

    def get(self, name: str) -> str | None:
        """The secret called ``name``, or None."""
        self._check(name)
        if self._keyring is not None:
            try:
                value = self._keyring.get_password(self.service, self._account(name))
            except keyring.errors.KeyringError as exc:
                self._fall_back(exc)
            else:
                return value if isinstance(value, str) else None
        path = self.directory / name
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def set(self, name: str, value: str) -> None:
        """Keep ``value`` as the secret ``name``, replacing any earlier one."""
        self._check(name)
        if self._keyring is not None:
            try:
                self._keyring.set_password(self.service, self._account(name), value)
            except keyring.errors.KeyringError as exc:
                self._fall_back(exc)
            else:
                return
        self._write_file(name, value)

    def delete(self, name: str) -> None:
        """Forget the secret ``name`` (no error if it was not there)."""
        self._check(name)
        if self._keyring is not None:
            try:
                self._keyring.delete_password(self.service, self._account(name))
            except keyring.errors.PasswordDeleteError:
                pass  # nothing was stored under that name
            except keyring.errors.KeyringError as exc:
                self._fall_back(exc)
        # Files may hold an older copy from before a keyring existed: remove them too.
        with contextlib.suppress(FileNotFoundError):
            (self.directory / name).unlink()

    def _fall_back(self, exc: Exception) -> None:
        # A keyring that stops working (locked, D-Bus gone) should not lock the user out.
        log.warning("the keyring failed (%s); using files instead", type(exc).__name__)
        self._keyring = None
        self.warning = self._file_warning("the system keyring failed")

    def _ensure_directory(self) -> None:
        for directory in (self.directory.parent, self.directory):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkdir's mode is masked by the umask and ignored for existing dirs.
            if stat.S_IMODE(directory.stat().st_mode) != 0o700:
                directory.chmod(0o700)

    def _write_file(self, name: str, value: str) -> None:
        self._ensure_directory()
        path = self.directory / name
        tmp = path.with_name(f".{name}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        # Created 0600 from the first byte (O_EXCL, no symlink following), then renamed:
        # a reader sees the old secret or the new one, never a half-written or open file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        os.replace(tmp, path)


def _safe_part(text: str) -> str:
    """A user name made safe as one path component."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    return cleaned.strip(".") or "_"
