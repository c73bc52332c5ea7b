"""Identity against the stand-in: login with approval, token upkeep, renew, export, no leaks."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.certs import CertInfo, ClientCredentials, parse_certificate
from core.errors import ApiError, NotLoggedIn, SecondFactorUnbound, SuanError, WrongPassword
from core.hpc_api import HpcApi, TokenRejected
from core.identity import APPROVE_WHERE, Identity, LoginProgress
from core.secrets import SecretStore
from tests.api_standin import (
    PASSWORDS,
    StandIn,
    async_wait_for,
    make_ca,
    make_certificate,
    make_key,
)

PW = PASSWORDS["hpcuser"]


@dataclass(frozen=True)
class FakeProfile:
    """The profile fields Identity reads (core.config.Profile has them all)."""

    username: str
    api_url: str
    data_dir: Path
    secrets: str = "file"
    name: str = "unit"


@pytest.fixture
def profile(standin: StandIn, data_dir: Path) -> FakeProfile:
    return FakeProfile("hpcuser", standin.url, data_dir)


@pytest.fixture
def store(profile: FakeProfile) -> SecretStore:
    return SecretStore.for_profile(profile)


@pytest.fixture
def identity(profile: FakeProfile, api: HpcApi, store: SecretStore) -> Identity:
    return Identity(profile, api, store, tick=0.05)


async def _login_with_approval(
    identity: Identity, standin: StandIn, **kwargs: Any
) -> tuple[CertInfo, list[LoginProgress]]:
    events: list[LoginProgress] = []
    task = asyncio.create_task(identity.login(PW, on_progress=events.append, **kwargs))
    pending = await standin.await_pending("sign_cert")
    assert pending["user"] == identity.username
    standin.approve(pending["id"])
    return await asyncio.wait_for(task, 30), events


def _stored_token(store: SecretStore) -> str:
    raw = store.get("token")
    assert raw is not None
    token: str = json.loads(raw)["token"]
    return token


async def test_login_waits_for_approval_and_stores_everything(
    identity: Identity, standin: StandIn, store: SecretStore
) -> None:
    info, events = await _login_with_approval(identity, standin, valid_time=3 * 3600)
    assert info.principals == ("hpcuser",)
    assert not info.expired
    assert info.valid_before - info.valid_after == pytest.approx(
        parse_certificate(store.get("certificate") or "").valid_before - info.valid_after
    )
    assert 3 * 3600 - 60 < info.remaining().total_seconds() <= 3 * 3600

    stages = [e.stage for e in events]
    assert stages[0] == "token"
    assert stages[-1] == "done"
    # Stages come in order, each possibly repeated while waiting.
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == [
        "token",
        "key",
        "approval",
        "done",
    ]
    assert all(e.approve_where == APPROVE_WHERE == "交我办 app or email" for e in events)
    assert all(e.message for e in events)
    elapsed = [e.elapsed for e in events]
    assert elapsed == sorted(elapsed)

    assert store.get("private_key") is not None
    assert store.get("certificate") is not None
    assert _stored_token(store)
    assert identity.status() == info
    credentials = await identity.credentials()
    assert isinstance(credentials, ClientCredentials)
    assert parse_certificate(credentials.certificate) == info


async def test_progress_repeats_while_waiting_for_approval(
    identity: Identity, standin: StandIn
) -> None:
    events: list[LoginProgress] = []
    task = asyncio.create_task(identity.login(PW, on_progress=events.append))
    pending = await standin.await_pending("sign_cert")
    await async_wait_for(
        lambda: sum(e.stage == "approval" for e in events) >= 3, what="three approval ticks"
    )
    standin.approve(pending["id"])
    await asyncio.wait_for(task, 30)
    waits = [e for e in events if e.stage == "approval"]
    assert waits[-1].stage_elapsed > waits[0].stage_elapsed
    assert waits[-1].elapsed >= waits[-1].stage_elapsed


async def test_a_key_request_that_blocks_is_shown_as_waiting_for_approval(
    profile: FakeProfile, api: HpcApi, store: SecretStore, standin: StandIn
) -> None:
    standin.configure(approval_on=["gen_key"])
    identity = Identity(profile, api, store, tick=0.02, approval_hint_after=0.0)
    events: list[LoginProgress] = []
    task = asyncio.create_task(identity.login(PW, on_progress=events.append))
    pending = await standin.await_pending("gen_key")
    await async_wait_for(
        lambda: any(e.stage == "approval" for e in events), what="an approval event"
    )
    standin.approve(pending["id"])
    info = await asyncio.wait_for(task, 30)
    assert info.principals == ("hpcuser",)
    assert events[-1].stage == "done"


async def test_a_failing_progress_callback_does_not_break_the_login(
    identity: Identity, standin: StandIn
) -> None:
    standin.configure(auto_approve_seconds=0)

    def broken(_event: LoginProgress) -> None:
        raise RuntimeError("display gone")

    info = await identity.login(PW, on_progress=broken)
    assert info.principals == ("hpcuser",)


async def test_wrong_password_stores_nothing_and_is_not_retried(
    identity: Identity, standin: StandIn, store: SecretStore
) -> None:
    with pytest.raises(WrongPassword):
        await identity.login("wrong-password")
    assert standin.count("POST /token") == 1
    assert standin.count("POST /gen_key") == 0
    assert store.get("token") is None
    assert identity.status() is None


async def test_cancelling_the_login_while_waiting_stores_no_certificate(
    identity: Identity, standin: StandIn, store: SecretStore
) -> None:
    task = asyncio.create_task(identity.login(PW, on_progress=lambda _e: None))
    await standin.await_pending("sign_cert")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.get("certificate") is None
    assert store.get("private_key") is None
    await async_wait_for(lambda: standin.pending() == [], what="the request to go away")


async def test_denied_approval_stores_no_certificate(
    identity: Identity, standin: StandIn, store: SecretStore
) -> None:
    task = asyncio.create_task(identity.login(PW))
    await standin.await_pending("sign_cert")
    standin.deny()
    with pytest.raises(ApiError, match="denied"):
        await task
    assert store.get("certificate") is None


async def test_approval_timeout_is_honoured(identity: Identity, standin: StandIn) -> None:
    with pytest.raises(ApiError, match="did not answer") as info:
        await identity.login(PW, approval_timeout=0.5)
    assert not isinstance(info.value, WrongPassword)
    await async_wait_for(lambda: standin.pending() == [], what="the request to go away")


async def test_unbound_second_factor(identity: Identity, standin: StandIn) -> None:
    standin.set_mode("unbound")
    with pytest.raises(SecondFactorUnbound):
        await identity.login(PW)


async def test_token_is_refreshed_when_old(
    profile: FakeProfile, api: HpcApi, store: SecretStore, standin: StandIn
) -> None:
    now = [1_000_000.0]
    identity = Identity(profile, api, store, token_refresh_after=600, clock=lambda: now[0])
    standin.configure(auto_approve_seconds=0)
    await identity.login(PW)
    first = _stored_token(store)
    now[0] += 599
    assert await identity.token() == first
    assert standin.count("PATCH /token") == 0
    now[0] += 2
    second = await identity.token()
    assert second != first
    assert _stored_token(store) == second
    assert json.loads(store.get("token") or "")["obtained"] == now[0]
    assert standin.count("PATCH /token") == 1
    # The old token is dead; the new one works.
    with pytest.raises(TokenRejected):
        await api.get_user(first, "hpcuser")
    assert (await api.get_user(second, "hpcuser"))["uid"] == "hpcuser"


async def test_concurrent_token_calls_refresh_once(
    profile: FakeProfile, api: HpcApi, store: SecretStore, standin: StandIn
) -> None:
    now = [0.0]
    identity = Identity(profile, api, store, token_refresh_after=60, clock=lambda: now[0])
    standin.configure(auto_approve_seconds=0)
    await identity.login(PW)
    now[0] += 61
    tokens = await asyncio.gather(*(identity.token() for _ in range(4)))
    assert len(set(tokens)) == 1
    assert standin.count("PATCH /token") == 1


async def test_a_refused_refresh_means_not_logged_in(
    profile: FakeProfile, api: HpcApi, store: SecretStore, standin: StandIn
) -> None:
    identity = Identity(profile, api, store, token_refresh_after=0)
    standin.configure(auto_approve_seconds=0)
    await identity.login(PW)
    tokens_before = standin.count("POST /token")
    standin.set_mode("expired_token")
    with pytest.raises(NotLoggedIn, match="password"):
        await identity.token()
    assert store.get("token") is None
    assert standin.count("POST /token") == tokens_before  # never asks with a password


async def test_no_token_is_not_logged_in(identity: Identity) -> None:
    with pytest.raises(NotLoggedIn):
        await identity.token()


async def test_a_bare_token_from_elsewhere_is_refreshed(
    profile: FakeProfile, api: HpcApi, store: SecretStore, standin: StandIn
) -> None:
    bare = await api.get_token("hpcuser", PW)
    store.set("token", bare)
    identity = Identity(profile, api, store)
    fresh = await identity.token()
    assert fresh != bare
    assert standin.count("PATCH /token") == 1


async def test_renew_reuses_the_stored_token(
    identity: Identity, standin: StandIn, store: SecretStore
) -> None:
    standin.configure(auto_approve_seconds=0)
    first = await identity.login(PW)
    assert standin.count("POST /token") == 1
    second = await identity.renew()
    assert standin.count("POST /token") == 1
    assert second.serial != first.serial
    assert identity.status() == second


async def test_renew_without_token_needs_the_password(identity: Identity, standin: StandIn) -> None:
    standin.configure(auto_approve_seconds=0)
    with pytest.raises(NotLoggedIn):
        await identity.renew()
    info = await identity.renew(PW)
    assert info.principals == ("hpcuser",)
    assert standin.count("POST /token") == 1


async def test_renew_with_a_rejected_token(
    identity: Identity, standin: StandIn, store: SecretStore
) -> None:
    standin.configure(auto_approve_seconds=0)
    await identity.login(PW)
    standin.configure(token_ttl=0)  # every token is now dead on arrival
    with pytest.raises(NotLoggedIn):
        await identity.renew()
    assert store.get("token") is None
    standin.configure(token_ttl=3600)
    store.set("token", json.dumps({"token": "dead-token", "obtained": 9e18}))
    info = await identity.renew(PW)  # the dead token is replaced using the password
    assert info.principals == ("hpcuser",)
    assert standin.count("POST /token") == 2


async def test_logout_forgets_everything(
    identity: Identity, standin: StandIn, store: SecretStore
) -> None:
    standin.configure(auto_approve_seconds=0)
    await identity.login(PW)
    identity.logout()
    for name in ("token", "private_key", "certificate"):
        assert store.get(name) is None
    assert identity.status() is None
    with pytest.raises(NotLoggedIn):
        await identity.credentials()
    identity.logout()  # twice is fine


async def test_credentials_refuse_expired_unreadable_and_mismatched(
    identity: Identity, store: SecretStore, tmp_path: Path
) -> None:
    with pytest.raises(NotLoggedIn):
        await identity.credentials()
    ca = make_ca(tmp_path / "ca")
    private_key, _ = make_key(tmp_path / "k")
    store.set("private_key", private_key)

    store.set("certificate", "not a certificate")
    with pytest.raises(NotLoggedIn, match="cannot be read"):
        await identity.credentials()
    assert identity.status() is None

    old = make_certificate(ca, tmp_path / "k.pub", validity="20200101000000Z:20200102000000Z")
    store.set("certificate", old)
    with pytest.raises(NotLoggedIn, match="expired at 2020-01-02 00:00"):
        await identity.credentials()
    status = identity.status()
    assert status is not None
    assert status.expired

    other_key, _ = make_key(tmp_path / "other")
    store.set("private_key", other_key)
    store.set("certificate", make_certificate(ca, tmp_path / "k.pub"))
    with pytest.raises(NotLoggedIn, match="does not belong"):
        await identity.credentials()

    store.set("private_key", private_key)
    credentials = await identity.credentials()
    assert credentials.private_key == private_key


async def test_export_writes_openssh_files_with_safe_modes(
    identity: Identity, standin: StandIn, tmp_path: Path
) -> None:
    with pytest.raises(NotLoggedIn):
        identity.export(tmp_path / "nothing")
    standin.configure(auto_approve_seconds=0)
    info = await identity.login(PW)
    target = tmp_path / "out" / "ssh"
    old_umask = os.umask(0)
    try:
        paths = identity.export(target)
        paths_again = identity.export(target)  # overwriting keeps the modes
    finally:
        os.umask(old_umask)
    assert paths == paths_again
    names = [p.name for p in paths]
    assert names == ["id_ed25519", "id_ed25519.pub", "id_ed25519-cert.pub"]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert modes == {"id_ed25519": 0o600, "id_ed25519.pub": 0o644, "id_ed25519-cert.pub": 0o644}
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert sorted(p.name for p in target.iterdir()) == sorted(names)
    # OpenSSH's own tools accept them and agree with each other.
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(paths[0])], capture_output=True, text=True, check=True
    ).stdout
    assert derived.split()[:2] == paths[1].read_text().split()[:2]
    assert derived.split()[:2] == info.public_key.split()[:2]
    listing = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(paths[2])], capture_output=True, text=True, check=True
    ).stdout
    assert "hpcuser" in listing
    assert parse_certificate(paths[2].read_text()) == info


async def test_no_secret_reaches_a_log_record_or_an_error(
    profile: FakeProfile,
    api: HpcApi,
    store: SecretStore,
    standin: StandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    identity = Identity(profile, api, store, token_refresh_after=0, tick=0.01)
    errors: list[SuanError] = []
    wrong = "Wr0ng-Pa55word"
    try:
        await identity.login(wrong)
    except SuanError as exc:
        errors.append(exc)
    await _login_with_approval(identity, standin)
    token = _stored_token(store)
    new_token = await identity.token()  # a refresh
    for mode in ("internal_error", "expired_token", "unbound"):
        standin.set_mode(mode)
        for attempt in (identity.token(), identity.renew(PW), api.get_user(new_token, "x")):
            try:
                await attempt
            except SuanError as exc:
                errors.append(exc)
    standin.reset()
    assert len(errors) >= 7
    private_key = store.get("private_key") or ""
    key_lines = [line for line in private_key.splitlines() if "PRIVATE KEY" not in line]
    secrets = [PW, wrong, token, new_token, *key_lines]
    texts = [r.getMessage() for r in caplog.records]
    texts += [logging.Formatter().format(r) for r in caplog.records]
    texts += [f"{e} {e.message} {e.hint} {e!r}" for e in errors]
    texts.append(standin.log_text())
    assert any("certificate" in t for t in texts)  # the logs did say something
    for secret in secrets:
        assert secret
        for text in texts:
            assert secret not in text
