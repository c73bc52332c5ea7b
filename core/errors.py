"""Typed failures, each worded for people and mapped to a command-line exit code.

Every error a user can meet is one of these. The message is what the user reads, so it
never contains a token, a password or a private key.
"""

from __future__ import annotations


class SuanError(Exception):
    """Base of every error suan reports to a user."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class ConfigError(SuanError):
    """The configuration or site file is wrong or missing something."""

    exit_code = 2
    kind = "config"


class NotLoggedIn(SuanError):
    """No usable certificate or token is stored."""

    exit_code = 3
    kind = "not_logged_in"


class ApiError(SuanError):
    """The HPC API refused a request or failed."""

    exit_code = 4
    kind = "api"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        session_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.session_id = session_id


class WrongPassword(ApiError):
    """The password was refused. Never retried automatically: the site bans addresses."""

    kind = "wrong_password"


class SecondFactorUnbound(ApiError):
    """The account has no email or jAccount bound for the second factor."""

    kind = "second_factor_unbound"


class SecondFactorCancelled(SuanError):
    """The user stopped waiting for the second-factor approval."""

    exit_code = 130
    kind = "cancelled"


class AuthenticationFailed(SuanError):
    """The SSH server refused our certificate."""

    exit_code = 5
    kind = "ssh_auth"


class HostKeyError(SuanError):
    """A host key is unknown or changed."""

    exit_code = 6
    kind = "host_key"


class UnknownHostKey(HostKeyError):
    """The host presented a key we have never seen; trusting it is the user's decision."""

    kind = "host_key_unknown"

    def __init__(self, host: str, port: int, fingerprint: str, key_line: str) -> None:
        super().__init__(
            f"The host key of {host}:{port} is not known (fingerprint {fingerprint}).",
            hint=f"If this is the fingerprint the site publishes, run: suan trust-host {host}",
        )
        self.host = host
        self.port = port
        self.fingerprint = fingerprint
        self.key_line = key_line


class ChangedHostKey(HostKeyError):
    """The host presented a key different from the known one: refused, never overridden."""

    kind = "host_key_changed"


class NetworkError(SuanError):
    """The entry node could not be reached or the connection dropped."""

    exit_code = 7
    kind = "network"


class RemoteCommandError(SuanError):
    """A remote command ran and failed."""

    exit_code = 8
    kind = "remote_command"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        exit_status: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.exit_status = exit_status
        self.stderr = stderr


class NotFound(SuanError):
    """A job, file or partition does not exist."""

    exit_code = 9
    kind = "not_found"


class Refused(SuanError):
    """suan refuses an action: read-only mode, a site rule, a declined confirmation."""

    exit_code = 10
    kind = "refused"
