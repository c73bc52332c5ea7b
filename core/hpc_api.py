"""The SJTU HPC API client: tokens, key pairs, certificates, user info and quota.

Every call of the platform's API (``/work/shared/sjtu-hpc.md``) with its documented
``Accept`` header and body. Failures come back as typed errors from :mod:`core.errors`:
HTTP 500 → :class:`ApiError` carrying the session ID to quote to hpc@sjtu.edu.cn; a body
saying the second factor is not bound → :class:`SecondFactorUnbound`; a refused password →
:class:`WrongPassword` (never retried: the site bans addresses after a few); an unreachable
API → :class:`NetworkError`. No message ever holds the password, a token or a private key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from core.errors import ApiError, NetworkError, SecondFactorUnbound, WrongPassword

log = logging.getLogger(__name__)

SUPPORT_EMAIL = "hpc@sjtu.edu.cn"
SECURITY_DOCS = "https://docs.hpc.sjtu.edu.cn/accounts/security.html"
UNBOUND_MARKER = "user have not set email or jAccount"
DEFAULT_TIMEOUT = 30.0
DEFAULT_APPROVAL_TIMEOUT = 900.0
"""The certificate calls block until the user approves on 交我办 or by email: allow long."""

_SESSION_RE = re.compile(r"session[\s_-]*id\W{0,5}([A-Za-z0-9][A-Za-z0-9_-]{3,127})", re.I)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MAX_REASON = 300


class TokenRejected(ApiError):
    """The API refused the token (expired or revoked): a new one needs the password."""

    kind = "token_rejected"


class AddressBanned(ApiError):
    """Too many wrong passwords: the site's fail2ban blocks this address for a while."""

    kind = "address_banned"


def _reason(body: str, secrets: tuple[str, ...]) -> str:
    """A refusal body made fit for a message: short, one line, no control bytes, no secret."""
    text = body.strip()
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _CONTROL_RE.sub(" ", " ".join(text.split()))
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _session_id(body: str) -> str | None:
    """The session ID an internal error's body holds, whether JSON or text."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key, value in data.items():
            if "session" in str(key).lower() and isinstance(value, str | int) and value != "":
                return str(value)
    match = _SESSION_RE.search(body)
    return match.group(1) if match else None


def _strip_bearer(text: str) -> str:
    token = text.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


class HpcApi:
    """An async client of the HPC API, one ``httpx.AsyncClient`` per instance.

    ``base_url`` comes from the profile (``api_url``) and ``domain`` from the site. Close
    with :meth:`aclose` (or use ``async with``). Every coroutine can be cancelled; the
    long ones (:meth:`gen_key`, :meth:`sign_cert`, :meth:`update_user`) wait up to
    ``approval_timeout`` seconds for the second factor.
    """

    def __init__(
        self,
        base_url: str,
        *,
        domain: str = "pi",
        timeout: float = DEFAULT_TIMEOUT,
        approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.domain = domain
        self.timeout = timeout
        self.approval_timeout = approval_timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> HpcApi:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self._transport,
                headers={"User-Agent": "suan"},
                follow_redirects=False,
            )
        return self._client

    async def _request(
        self,
        method: str,
        path: str,
        *,
        accept: str,
        token: str | None = None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        secrets: tuple[str, ...] = (),
        what: str,
        wrong_password_on: tuple[int, ...] = (),
    ) -> httpx.Response:
        headers = {"Accept": accept}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
            secrets = (*secrets, token)
        limit = self.timeout if timeout is None else timeout
        # The overall deadline is asyncio's; httpx's own read timeout is kept just longer so
        # that a slow approval is reported as such rather than as a network failure.
        http_timeout = httpx.Timeout(limit + 5, connect=min(limit, DEFAULT_TIMEOUT))
        try:
            async with asyncio.timeout(limit):
                response = await self._http().request(
                    method,
                    path,
                    headers=headers,
                    json=dict(body) if body is not None else None,
                    params=params,
                    timeout=http_timeout,
                )
        except TimeoutError as exc:
            if timeout is None:
                raise NetworkError(
                    f"The HPC API did not answer {what} within {limit:.0f} s.",
                    hint="Check your network connection, then try again.",
                ) from exc
            raise ApiError(
                f"The HPC API did not answer {what} within {limit:.0f} s.",
                hint="It waits for your approval on the 交我办 app or by email: approve "
                "sooner, or allow a longer wait.",
            ) from exc
        except httpx.TimeoutException as exc:
            raise NetworkError(
                f"The HPC API at {self.base_url} timed out ({what}).",
                hint="Check your network connection, then try again.",
            ) from exc
        except httpx.HTTPError as exc:
            raise NetworkError(
                f"The HPC API at {self.base_url} cannot be reached ({what}): {type(exc).__name__}.",
                hint="Check your network connection (campus network or VPN), then try again.",
            ) from exc
        log.debug("%s %s -> %d", method, path, response.status_code)
        if response.is_success:
            return response
        self._raise_for(response, what=what, secrets=secrets, wrong_password_on=wrong_password_on)
        raise AssertionError("unreachable")  # pragma: no cover - _raise_for always raises

    def _raise_for(
        self,
        response: httpx.Response,
        *,
        what: str,
        secrets: tuple[str, ...],
        wrong_password_on: tuple[int, ...],
    ) -> None:
        status = response.status_code
        body = response.text
        reason = _reason(body, secrets)
        if status >= 500:
            session = _session_id(body)
            if session is not None:
                hint = f"Write to {SUPPORT_EMAIL} quoting session ID {session}."
            else:
                hint = f"Write to {SUPPORT_EMAIL} with the time this happened."
            raise ApiError(
                f"The HPC API had an internal error ({what}, HTTP {status})"
                + (f", session ID {session}." if session else "."),
                hint=hint,
                status=status,
                session_id=session,
            )
        if UNBOUND_MARKER.lower() in body.lower():
            raise SecondFactorUnbound(
                "Your account has no email or jAccount bound for the second factor.",
                hint=f"Bind one first, as {SECURITY_DOCS} explains, then log in again.",
                status=status,
            )
        if status in wrong_password_on:
            if "ban" in body.lower():
                raise AddressBanned(
                    f"The HPC API refused to log in from this address ({reason}).",
                    hint="Too many wrong passwords: the site blocks the address for about an "
                    "hour. Wait, then log in once with the right password.",
                    status=status,
                )
            raise WrongPassword(
                "The HPC API refused the user name or password.",
                hint="Check them and log in again; suan never retries a password by itself "
                "(repeated failures get the address banned for an hour).",
                status=status,
            )
        if status == 401:
            raise TokenRejected(
                f"The HPC API refused the login token ({what}: {reason}).",
                hint="Log in again with your password.",
                status=status,
            )
        raise ApiError(f"The HPC API refused {what} (HTTP {status}): {reason}", status=status)

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise ApiError(f"The HPC API answered {what} with something that is not JSON.") from exc
        if not isinstance(data, dict):
            raise ApiError(f"The HPC API answered {what} with JSON that is not an object.")
        return data

    async def get_token(self, user: str, password: str) -> str:
        """A login token for ``user`` (without the ``Bearer`` prefix). Never retried."""
        response = await self._request(
            "POST",
            "/token",
            accept="text/plain",
            body={"domain": self.domain, "operator": user, "password": password},
            secrets=(password,),
            what="the login",
            wrong_password_on=(400, 401, 403),
        )
        token = _strip_bearer(response.text)
        if not token:
            raise ApiError("The HPC API answered the login with an empty token.")
        return token

    async def refresh_token(self, token: str) -> str:
        """A new token for an old one; the old one is invalid from then on."""
        response = await self._request(
            "PATCH", "/token", accept="text/plain", token=token, body={}, what="a token refresh"
        )
        new = _strip_bearer(response.text)
        if not new:
            raise ApiError("The HPC API answered the token refresh with an empty token.")
        return new

    async def gen_key(
        self, token: str, user: str, *, timeout: float | None = None
    ) -> tuple[str, str]:
        """A new Ed25519 key pair made by the API: ``(private_key, public_key)``.

        The platform does not document whether this call or :meth:`sign_cert` waits for the
        second factor, so it is given the same long timeout.
        """
        response = await self._request(
            "POST",
            "/gen_key",
            accept="application/json",
            token=token,
            body={"domain": self.domain, "hpc_user": user},
            timeout=self.approval_timeout if timeout is None else timeout,
            what="the key pair request",
        )
        data = self._json(response, "the key pair request")
        private_key, public_key = data.get("private_key"), data.get("public_key")
        if not isinstance(private_key, str) or not isinstance(public_key, str):
            raise ApiError("The HPC API answered the key pair request without both keys.")
        return private_key, public_key.strip()

    async def sign_cert(
        self,
        token: str,
        user: str,
        public_key: str,
        valid_time: int,
        *,
        timeout: float | None = None,
    ) -> str:
        """An OpenSSH certificate for ``public_key``, valid ``valid_time`` seconds.

        Blocks until the user approves the second factor (交我办 app or email).
        """
        response = await self._request(
            "POST",
            "/sign_cert",
            accept="text/plain",
            token=token,
            body={
                "domain": self.domain,
                "hpc_user": user,
                "principals": [user],
                "public_key": public_key.strip(),
                "valid_time": int(valid_time),
            },
            timeout=self.approval_timeout if timeout is None else timeout,
            what="the certificate request",
        )
        cert = response.text.strip()
        if not cert:
            raise ApiError("The HPC API answered the certificate request with nothing.")
        return cert + "\n"

    async def get_user(self, token: str, user: str) -> dict[str, Any]:
        """The user's attributes as the API gives them (schema not public: kept whole)."""
        response = await self._request(
            "GET",
            "/user",
            accept="application/json",
            token=token,
            params={"name": user, "domain": self.domain},
            what="the user information request",
        )
        return self._json(response, "the user information request")

    async def update_user(
        self,
        token: str,
        user: str,
        changes: Mapping[str, str],
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Change password, email/jAccount or contact method; waits for the second factor."""
        secret_values = tuple(str(v) for k, v in changes.items() if "password" in k.lower())
        response = await self._request(
            "PATCH",
            "/user",
            accept="application/json",
            token=token,
            body={"domain": self.domain, "hpc_user": user, **changes},
            timeout=self.approval_timeout if timeout is None else timeout,
            secrets=secret_values,
            what="the user update",
        )
        return self._json(response, "the user update")

    async def get_quota(self, kind: str, name: str) -> dict[str, Any]:
        """Storage usage of a user (``kind="user"``) or an account (``kind="account"``)."""
        if kind not in ("user", "account"):
            raise ValueError(f"quota kind must be 'user' or 'account', not {kind!r}")
        response = await self._request(
            "GET",
            "/quota",
            accept="application/json",
            params={"quota_type": kind, "name": name},
            what="the quota request",
        )
        return self._json(response, "the quota request")
