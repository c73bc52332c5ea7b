"""Reading OpenSSH user certificates and judging their validity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.certs import (
    CertInfo,
    ClientCredentials,
    InvalidCertificate,
    parse_certificate,
    public_key_of,
)
from tests.api_standin import make_ca, make_certificate, make_key


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    return make_ca(tmp_path / "ca")


@pytest.fixture
def key(tmp_path: Path) -> tuple[str, str, Path]:
    private_key, public_key = make_key(tmp_path / "id_ed25519")
    return private_key, public_key, tmp_path / "id_ed25519.pub"


def test_fields_are_read_exactly(ca: Path, key: tuple[str, str, Path]) -> None:
    _, public_key, pub_file = key
    text = make_certificate(
        ca,
        pub_file,
        principals=("hpcuser", "hpc robot"),
        validity="20200101000000Z:20200101120000Z",
        key_id="hpcuser@api 7",
        serial=4242,
    )
    info = parse_certificate(text)
    assert info.key_id == "hpcuser@api 7"
    assert info.principals == ("hpcuser", "hpc robot")
    assert info.valid_after == datetime(2020, 1, 1, 0, 0, tzinfo=UTC)
    assert info.valid_before == datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
    assert info.valid_after.utcoffset() == timedelta(0)
    assert info.serial == 4242
    assert info.public_key.split()[:2] == public_key.split()[:2]


def test_surrounding_whitespace_is_ignored(ca: Path, key: tuple[str, str, Path]) -> None:
    text = make_certificate(ca, key[2])
    assert parse_certificate(f"\n  {text}\n\n").principals == ("hpcuser",)


def test_remaining_expired_and_expires_soon(ca: Path, key: tuple[str, str, Path]) -> None:
    info = parse_certificate(make_certificate(ca, key[2], validity="-5m:+2h"))
    assert not info.expired
    assert timedelta(hours=1, minutes=59) < info.remaining() <= timedelta(hours=2)
    assert not info.expires_soon()
    assert info.expires_soon(timedelta(hours=3))
    later = info.valid_before - timedelta(minutes=30)
    assert info.remaining(later) == timedelta(minutes=30)
    assert info.expires_soon(now=later)
    assert info.remaining(info.valid_before + timedelta(seconds=5)) == timedelta(seconds=-5)


def test_past_and_future_certificates_are_not_valid(ca: Path, key: tuple[str, str, Path]) -> None:
    past = parse_certificate(
        make_certificate(ca, key[2], validity="20200101000000Z:20200102000000Z")
    )
    assert past.expired
    assert past.expires_soon()
    assert past.remaining() < timedelta(0)
    future = parse_certificate(make_certificate(ca, key[2], validity="+1d:+2d"))
    assert future.expired  # not yet valid: unusable now
    assert not future.expires_soon()


def test_forever_certificate(ca: Path, key: tuple[str, str, Path]) -> None:
    info = parse_certificate(make_certificate(ca, key[2], validity="always:forever"))
    assert info.valid_after == datetime(1970, 1, 1, tzinfo=UTC)
    assert info.valid_before.year == 9999
    assert not info.expired
    assert not info.expires_soon(timedelta(days=3650))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "not a certificate",
        "ssh-ed25519-cert-v01@openssh.com AAAAnotbase64!!",
        "ssh-ed25519-cert-v01@openssh.com AAAAC3NzaC1lZDI1NTE5AAAAIB5QoWGxGxOeLAupDpoo8E03",
        "\x00\x01",
    ],
)
def test_unreadable_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidCertificate):
        parse_certificate(text)


def test_a_plain_public_key_is_not_a_certificate(key: tuple[str, str, Path]) -> None:
    with pytest.raises(InvalidCertificate, match="plain public key"):
        parse_certificate(key[1])


def test_a_host_certificate_is_refused(ca: Path, key: tuple[str, str, Path]) -> None:
    text = make_certificate(ca, key[2], principals=("pilogin",), host=True)
    with pytest.raises(InvalidCertificate, match="host certificate"):
        parse_certificate(text)


def test_public_key_of_a_private_key(key: tuple[str, str, Path]) -> None:
    private_key, public_key, _ = key
    assert public_key_of(private_key).split()[:2] == public_key.split()[:2]
    with pytest.raises(ValueError):
        public_key_of("not a key")


def test_credentials_never_show_the_private_key(key: tuple[str, str, Path]) -> None:
    private_key = key[0]
    credentials = ClientCredentials(private_key=private_key, certificate="cert")
    body = private_key.splitlines()[1]
    assert body not in repr(credentials)
    assert body not in str(credentials)
    assert body not in f"{credentials!r} {[credentials]}"


def test_cert_info_is_a_frozen_value() -> None:
    now = datetime.now(UTC)
    info = CertInfo("id", ("u",), now - timedelta(hours=1), now + timedelta(hours=1))
    with pytest.raises(AttributeError):
        info.key_id = "other"  # type: ignore[misc]
    assert info == CertInfo("id", ("u",), info.valid_after, info.valid_before)
