"""Who the user is to the cluster: login, token upkeep, certificate and key.

Logging in is the platform's three steps: a token for the password, a key pair, and a
certificate for its public key, which waits until the user approves the second factor on
the 交我办 app or by email. The token, private key and certificate go to the
:class:`~core.secrets.SecretStore`; the password goes nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm

from core.certs import (
    CertInfo,
    ClientCredentials,
    InvalidCertificate,
    parse_certificate,
    public_key_of,
)
from core.errors import ApiError, NotLoggedIn
from core.hpc_api import HpcApi, TokenRejected
from core.secrets import SecretStore

log = logging.getLogger(__name__)

APPROVE_WHERE = "交我办 app or email"
"""Where the platform asks the user to approve a certificate request."""
DEFAULT_VALID_TIME = 12 * 3600
DEFAULT_APPROVAL_TIMEOUT = 900.0
DEFAULT_TOKEN_REFRESH_AFTER = 30 * 60.0
"""A token older than this (seconds) is exchanged for a new one before use."""
LOGIN_HINT = "Log in with your password: suan login"

Stage = Literal["token", "key", "approval", "done"]
T = TypeVar("T")


class IdentityProfile(Protocol):
    """What :class:`Identity` reads from a profile (``core.config.Profile`` has it all)."""

    @property
    def username(self) -> str: ...
    @property
    def api_url(self) -> str: ...
    @property
    def data_dir(self) -> Path | str | None: ...
    @property
    def secrets(self) -> str: ...


@dataclass(frozen=True)
class LoginProgress:
    """One step of a login, for a progress display. Sent again every second while waiting."""

    stage: Stage
    """``token``, ``key``, ``approval`` (waiting for the second factor) or ``done``."""
    elapsed: float
    """Seconds since the login started."""
    stage_elapsed: float = 0.0
    """Seconds since this stage started."""
    approve_where: str = APPROVE_WHERE
    """Where the user approves the request."""
    message: str = ""
    """A sentence for the user."""


ProgressCallback = Callable[[LoginProgress], None]

_MESSAGES: dict[Stage, str] = {
    "token": "Checking the password with the HPC API…",
    "key": "Making a new key pair…",
    "approval": f"Waiting for your approval on the {APPROVE_WHERE}…",
    "done": "Logged in: the certificate is stored.",
}


class Identity:
    """Login state of one profile: token, key pair and certificate."""

    def __init__(
        self,
        profile: IdentityProfile,
        api: HpcApi,
        store: SecretStore,
        *,
        token_refresh_after: float = DEFAULT_TOKEN_REFRESH_AFTER,
        clock: Callable[[], float] = time.time,
        tick: float = 1.0,
        approval_hint_after: float = 3.0,
    ) -> None:
        """``tick``: seconds between progress repeats while waiting; ``approval_hint_after``:
        a key request slower than this is reported as waiting for approval (the platform
        does not say which call waits)."""
        self.profile = profile
        self.api = api
        self.store = store
        self.token_refresh_after = token_refresh_after
        self._clock = clock
        self._tick = tick
        self._approval_hint_after = approval_hint_after
        # Two refreshes at once would each invalidate the other's token.
        self._token_lock = asyncio.Lock()

    @property
    def username(self) -> str:
        """The HPC account this identity logs in as."""
        return self.profile.username

    # -- login ------------------------------------------------------------------------------

    async def login(
        self,
        password: str,
        *,
        on_progress: ProgressCallback | None = None,
        valid_time: int = DEFAULT_VALID_TIME,
        approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT,
    ) -> CertInfo:
        """Log in with the password: new token, new key pair, new certificate.

        Waits up to ``approval_timeout`` seconds for the second factor; cancel the task to
        stop waiting. A refused password raises ``WrongPassword`` and is never retried.
        """
        started = time.monotonic()
        self._emit(on_progress, "token", started, started)
        token = await self.api.get_token(self.username, password)
        await self._save_token(token)
        log.info("login of %s: token obtained", self.username)
        return await self._issue(token, started, on_progress, valid_time, approval_timeout)

    async def renew(
        self,
        password: str | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        valid_time: int = DEFAULT_VALID_TIME,
        approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT,
    ) -> CertInfo:
        """A new certificate, reusing the stored token while the API accepts it.

        Without a usable token the password is needed: ``NotLoggedIn`` if none was given.
        """
        started = time.monotonic()
        token: str | None = None
        try:
            token = await self.token()
        except NotLoggedIn:
            if password is None:
                raise
        if token is not None:
            try:
                return await self._issue(token, started, on_progress, valid_time, approval_timeout)
            except TokenRejected:
                await asyncio.to_thread(self.store.delete, "token")
                if password is None:
                    raise NotLoggedIn(
                        "The stored login token is no longer accepted.", hint=LOGIN_HINT
                    ) from None
        assert password is not None
        self._emit(on_progress, "token", started, time.monotonic())
        token = await self.api.get_token(self.username, password)
        await self._save_token(token)
        return await self._issue(token, started, on_progress, valid_time, approval_timeout)

    async def _issue(
        self,
        token: str,
        started: float,
        on_progress: ProgressCallback | None,
        valid_time: int,
        approval_timeout: float,
    ) -> CertInfo:
        user = self.username
        private_key, public_key = await self._ticking(
            self.api.gen_key(token, user, timeout=approval_timeout),
            "key",
            started,
            on_progress,
        )
        cert_text = await self._ticking(
            self.api.sign_cert(token, user, public_key, valid_time, timeout=approval_timeout),
            "approval",
            started,
            on_progress,
        )
        info = parse_certificate(cert_text)
        if user not in info.principals:
            raise ApiError(
                f"The HPC API issued a certificate for {', '.join(info.principals) or 'nobody'}, "
                f"not for {user}."
            )
        if info.public_key.split()[:2] != public_key.split()[:2]:
            raise ApiError("The HPC API certified a different key than the one it made.")
        await asyncio.to_thread(self.store.set, "private_key", private_key)
        await asyncio.to_thread(self.store.set, "certificate", cert_text)
        log.info(
            "login of %s: certificate %s stored, valid until %s",
            user,
            info.key_id,
            info.valid_before.isoformat(),
        )
        self._emit(on_progress, "done", started, time.monotonic())
        return info

    async def _ticking(
        self,
        awaitable: Awaitable[T],
        stage: Stage,
        started: float,
        on_progress: ProgressCallback | None,
    ) -> T:
        """Await ``awaitable`` while repeating the stage's progress every ``tick`` seconds."""
        stage_start = time.monotonic()
        self._emit(on_progress, stage, started, stage_start)
        if on_progress is None:
            return await awaitable

        async def repeat() -> None:
            while True:
                await asyncio.sleep(self._tick)
                now = time.monotonic()
                shown: Stage = stage
                if stage == "key" and now - stage_start >= self._approval_hint_after:
                    shown = "approval"  # a slow key request is the one waiting for approval
                self._emit(on_progress, shown, started, stage_start, now)

        ticker = asyncio.create_task(repeat())
        try:
            return await awaitable
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    @staticmethod
    def _emit(
        on_progress: ProgressCallback | None,
        stage: Stage,
        started: float,
        stage_start: float,
        now: float | None = None,
    ) -> None:
        if on_progress is None:
            return
        at = time.monotonic() if now is None else now
        event = LoginProgress(
            stage=stage,
            elapsed=at - started,
            stage_elapsed=at - stage_start,
            message=_MESSAGES[stage],
        )
        try:
            on_progress(event)
        except Exception:
            # A broken progress display must not break the login itself.
            log.exception("login progress callback failed")

    # -- token ------------------------------------------------------------------------------

    async def _save_token(self, token: str) -> None:
        record = json.dumps({"token": token, "obtained": self._clock()})
        await asyncio.to_thread(self.store.set, "token", record)

    async def _load_token(self) -> tuple[str, float] | None:
        raw = await asyncio.to_thread(self.store.get, "token")
        if not raw:
            return None
        try:
            record = json.loads(raw)
            return str(record["token"]), float(record["obtained"])
        except (ValueError, KeyError, TypeError):
            # A bare token (written by something else): its age is unknown, so refresh it.
            return raw.strip(), 0.0

    async def token(self) -> str:
        """The stored token, exchanged for a fresh one when older than the refresh age.

        Never asks for a new token with the password: ``NotLoggedIn`` when there is none or
        the API refuses to refresh it.
        """
        async with self._token_lock:
            loaded = await self._load_token()
            if loaded is None:
                raise NotLoggedIn("No login token is stored.", hint=LOGIN_HINT)
            token, obtained = loaded
            if self._clock() - obtained < self.token_refresh_after:
                return token
            try:
                new = await self.api.refresh_token(token)
            except TokenRejected:
                await asyncio.to_thread(self.store.delete, "token")
                raise NotLoggedIn(
                    "The login token has expired; the password is needed again.",
                    hint=LOGIN_HINT,
                ) from None
            await self._save_token(new)
            log.info("token of %s refreshed", self.username)
            return new

    # -- certificate and key ----------------------------------------------------------------

    def status(self) -> CertInfo | None:
        """The stored certificate, or None when there is none (or it is unreadable)."""
        text = self.store.get("certificate")
        if not text:
            return None
        try:
            return parse_certificate(text)
        except InvalidCertificate:
            return None

    async def credentials(self) -> ClientCredentials:
        """The private key and certificate for SSH; ``NotLoggedIn`` if missing or expired."""
        private_key = await asyncio.to_thread(self.store.get, "private_key")
        certificate = await asyncio.to_thread(self.store.get, "certificate")
        return self._check_credentials(private_key, certificate)

    def _check_credentials(
        self, private_key: str | None, certificate: str | None
    ) -> ClientCredentials:
        if not private_key or not certificate:
            raise NotLoggedIn("Not logged in: no certificate is stored.", hint=LOGIN_HINT)
        try:
            info = parse_certificate(certificate)
        except InvalidCertificate:
            raise NotLoggedIn("The stored certificate cannot be read.", hint=LOGIN_HINT) from None
        if info.expired:
            raise NotLoggedIn(
                f"The certificate expired at {info.valid_before:%Y-%m-%d %H:%M} UTC.",
                hint="Renew it: suan login",
            )
        try:
            matches = public_key_of(private_key).split()[:2] == info.public_key.split()[:2]
        except (ValueError, TypeError, UnsupportedAlgorithm):
            matches = False
        if not matches:
            raise NotLoggedIn(
                "The stored private key does not belong to the stored certificate.",
                hint=LOGIN_HINT,
            )
        return ClientCredentials(private_key=private_key, certificate=certificate)

    def logout(self) -> None:
        """Forget the token, the private key and the certificate."""
        for name in ("token", "private_key", "certificate"):
            self.store.delete(name)
        log.info("logged out %s", self.username)

    def export(self, directory: Path) -> list[Path]:
        """Write ``id_ed25519`` (0600), ``id_ed25519.pub`` and ``id_ed25519-cert.pub``.

        The names OpenSSH pairs by itself: ``ssh -i DIR/id_ed25519`` loads the certificate.
        """
        credentials = self._check_credentials(
            self.store.get("private_key"), self.store.get("certificate")
        )
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = directory / "id_ed25519"
        pub = directory / "id_ed25519.pub"
        cert = directory / "id_ed25519-cert.pub"
        private_key = credentials.private_key
        if not private_key.endswith("\n"):
            private_key += "\n"
        _write(key, private_key, 0o600)
        _write(pub, public_key_of(credentials.private_key) + f" {self.username}\n", 0o644)
        _write(cert, credentials.certificate.strip() + "\n", 0o644)
        return [key, pub, cert]


def _write(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` with ``mode`` from the first byte, replacing any file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have taken bits away
            handle.write(text)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.replace(tmp, path)
