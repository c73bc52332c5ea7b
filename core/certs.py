"""OpenSSH user certificates: what a certificate says and how long it has left.

asyncssh's certificate objects expose no public validity, so the certificate text is read
with ``cryptography``'s ``serialization.load_ssh_public_identity``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from core.errors import ApiError

# OpenSSH writes "forever" as the largest 64-bit value, far past what datetime can hold.
_FOREVER = datetime.max.replace(tzinfo=UTC)


class InvalidCertificate(ApiError):
    """A certificate text that is not an OpenSSH user certificate."""

    kind = "invalid_certificate"


@dataclass(frozen=True)
class ClientCredentials:
    """What an SSH client needs to log in: an OpenSSH private key and its certificate."""

    private_key: str
    certificate: str

    def __repr__(self) -> str:
        # The private key never reaches a log or a traceback through repr().
        return "ClientCredentials(private_key=<hidden>, certificate=<...>)"


@dataclass(frozen=True)
class CertInfo:
    """The parts of an OpenSSH user certificate a user cares about."""

    key_id: str
    principals: tuple[str, ...]
    valid_after: datetime
    """Start of validity, timezone-aware UTC."""
    valid_before: datetime
    """End of validity, timezone-aware UTC."""
    serial: int = 0
    public_key: str = ""
    """The certified public key as an OpenSSH line (``ssh-ed25519 AAAA…``)."""

    def remaining(self, now: datetime | None = None) -> timedelta:
        """Time left before the certificate expires; negative once it has."""
        return self.valid_before - (now or datetime.now(UTC))

    @property
    def expired(self) -> bool:
        """True once the certificate is past its end (or not yet valid)."""
        now = datetime.now(UTC)
        return not self.valid_after <= now < self.valid_before

    def expires_soon(
        self, margin: timedelta = timedelta(hours=1), now: datetime | None = None
    ) -> bool:
        """True when less than ``margin`` is left (or it has already expired)."""
        return self.remaining(now) < margin


def _to_datetime(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return _FOREVER


def parse_certificate(text: str) -> CertInfo:
    """Read an OpenSSH user certificate (``ssh-ed25519-cert-v01@openssh.com AAAA…``)."""
    try:
        cert = serialization.load_ssh_public_identity(text.strip().encode())
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm) as exc:
        raise InvalidCertificate("The certificate cannot be read.") from exc
    if not isinstance(cert, serialization.SSHCertificate):
        raise InvalidCertificate("This is a plain public key, not a certificate.")
    if cert.type != serialization.SSHCertificateType.USER:
        raise InvalidCertificate("This is a host certificate, not a user certificate.")
    public = cert.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return CertInfo(
        key_id=cert.key_id.decode(errors="replace"),
        principals=tuple(p.decode(errors="replace") for p in cert.valid_principals),
        valid_after=_to_datetime(cert.valid_after),
        valid_before=_to_datetime(cert.valid_before),
        serial=cert.serial,
        public_key=public.decode(),
    )


def public_key_of(private_key: str) -> str:
    """The OpenSSH public key line of an unencrypted OpenSSH private key.

    Raises ``ValueError`` (or cryptography's ``UnsupportedAlgorithm``) for anything else.
    """
    key = serialization.load_ssh_private_key(private_key.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
