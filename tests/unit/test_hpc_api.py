"""HpcApi against the stand-in: every endpoint, every failure mode, and the request shapes."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.certs import parse_certificate, public_key_of
from core.errors import ApiError, NetworkError, SecondFactorUnbound, WrongPassword
from core.hpc_api import (
    SECURITY_DOCS,
    AddressBanned,
    HpcApi,
    TokenRejected,
    _reason,
    _session_id,
)
from tests.api_standin import PASSWORDS, StandIn, async_wait_for, running_standin

PW = PASSWORDS["hpcuser"]


async def _token(api: HpcApi, user: str = "hpcuser") -> str:
    return await api.get_token(user, PASSWORDS[user])


# -- request shapes (a recording transport) -------------------------------------------------


class Recorder:
    """A transport that records requests and answers like the API would."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/token" and request.method == "POST":
            return httpx.Response(200, text="Bearer tok-1\n")
        if path == "/token":
            return httpx.Response(200, text="tok-2")
        if path == "/gen_key":
            return httpx.Response(200, json={"private_key": "PRIV", "public_key": "PUB\n"})
        if path == "/sign_cert":
            return httpx.Response(200, text="CERT")
        return httpx.Response(200, json={"ok": True})


async def test_every_call_sends_the_documented_accept_header_and_body() -> None:
    recorder = Recorder()
    async with HpcApi(
        "http://api.test/", domain="pi", transport=httpx.MockTransport(recorder)
    ) as api:
        assert await api.get_token("u", "pw") == "tok-1"
        assert await api.refresh_token("tok-1") == "tok-2"
        assert await api.gen_key("tok-2", "u") == ("PRIV", "PUB")
        assert await api.sign_cert("tok-2", "u", "PUB", 3600) == "CERT\n"
        assert await api.get_user("tok-2", "u") == {"ok": True}
        assert await api.update_user("tok-2", "u", {"email": "e@x"}) == {"ok": True}
        assert await api.get_quota("account", "acct-hpc") == {"ok": True}
    seen = [
        (
            r.method,
            r.url.path,
            r.headers["Accept"],
            r.headers.get("Authorization"),
            json.loads(r.content) if r.content else None,
            dict(r.url.params),
        )
        for r in recorder.requests
    ]
    assert seen == [
        ("POST", "/token", "text/plain", None,
         {"domain": "pi", "operator": "u", "password": "pw"}, {}),
        ("PATCH", "/token", "text/plain", "Bearer tok-1", {}, {}),
        ("POST", "/gen_key", "application/json", "Bearer tok-2",
         {"domain": "pi", "hpc_user": "u"}, {}),
        ("POST", "/sign_cert", "text/plain", "Bearer tok-2",
         {"domain": "pi", "hpc_user": "u", "principals": ["u"], "public_key": "PUB",
          "valid_time": 3600}, {}),
        ("GET", "/user", "application/json", "Bearer tok-2", None,
         {"name": "u", "domain": "pi"}),
        ("PATCH", "/user", "application/json", "Bearer tok-2",
         {"domain": "pi", "hpc_user": "u", "email": "e@x"}, {}),
        ("GET", "/quota", "application/json", None, None,
         {"quota_type": "account", "name": "acct-hpc"}),
    ]  # fmt: skip


async def test_quota_kind_is_checked_before_any_request() -> None:
    async with HpcApi("http://api.test", transport=httpx.MockTransport(Recorder())) as api:
        with pytest.raises(ValueError, match="user"):
            await api.get_quota("group", "x")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Internal Server Error. Session ID: 3f2a-77c1-9e", "3f2a-77c1-9e"),
        ('{"message": "oops", "sessionId": "ABC123"}', "ABC123"),
        ('{"session_id": 991234}', "991234"),
        ("session-id=zz9-plural", "zz9-plural"),
        ("something broke", None),
    ],
)
def test_session_id_is_found_in_text_and_json(body: str, expected: str | None) -> None:
    assert _session_id(body) == expected


def test_refusal_reason_is_short_one_line_and_hides_secrets() -> None:
    text = _reason("bad\x1b[31m\npassword hunter2 " + "x" * 500, ("hunter2",))
    assert "hunter2" not in text
    assert "\n" not in text
    assert "\x1b" not in text
    assert len(text) <= 300


async def test_a_500_without_session_id_still_points_to_support() -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(502, text="bad gateway"))
    async with HpcApi("http://api.test", transport=transport) as api:
        with pytest.raises(ApiError) as info:
            await api.get_quota("user", "u")
    assert info.value.status == 502
    assert info.value.session_id is None
    assert "hpc@sjtu.edu.cn" in str(info.value)


async def test_unexpected_json_is_an_api_error() -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, text="[1, 2]"))
    async with HpcApi("http://api.test", transport=transport) as api:
        with pytest.raises(ApiError, match="not an object"):
            await api.get_quota("user", "u")
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, json={"public_key": "x"}))
    async with HpcApi("http://api.test", transport=transport) as api:
        with pytest.raises(ApiError, match="both keys"):
            await api.gen_key("t", "u")


# -- the stand-in ----------------------------------------------------------------------------


async def test_token_is_returned_without_the_bearer_prefix(api: HpcApi) -> None:
    token = await _token(api)
    assert token
    assert not token.lower().startswith("bearer")
    user = await api.get_user(token, "hpcuser")
    assert user["uidNumber"] == 5001
    assert user["home"] == "%H/home/acct-hpc/hpcuser"
    assert user["jAccount"] == "hpcuser"


async def test_wrong_password_is_refused_once_and_never_retried(
    api: HpcApi, standin: StandIn
) -> None:
    with pytest.raises(WrongPassword) as info:
        await api.get_token("hpcuser", "not-the-password")
    assert "not-the-password" not in str(info.value)
    assert "never retries" in str(info.value)
    assert standin.count("POST /token") == 1


async def test_unknown_user_is_a_wrong_password(api: HpcApi) -> None:
    with pytest.raises(WrongPassword):
        await api.get_token("nosuchuser", PW)


async def test_wrong_password_mode_refuses_the_right_password(
    api: HpcApi, standin: StandIn
) -> None:
    standin.set_mode("wrong_password")
    with pytest.raises(WrongPassword):
        await _token(api)
    assert standin.count("POST /token") == 1


async def test_repeated_wrong_passwords_ban_the_address_until_reset(
    api: HpcApi, standin: StandIn
) -> None:
    for _ in range(5):
        with pytest.raises(WrongPassword):
            await api.get_token("hpcuser", "guess")
    # Now even the right password is refused, and so is every other call.
    with pytest.raises(AddressBanned) as info:
        await _token(api)
    assert info.value.status == 403
    assert "hour" in str(info.value)
    with pytest.raises(ApiError):
        await api.get_quota("user", "hpcuser")
    assert standin.health()["banned"] == ["127.0.0.1"]
    standin.reset()
    assert await _token(api)


async def test_ban_threshold_is_configurable(api: HpcApi, standin: StandIn) -> None:
    standin.configure(ban_threshold=2)
    for _ in range(2):
        with pytest.raises(WrongPassword):
            await api.get_token("hpcuser", "guess")
    with pytest.raises(AddressBanned):
        await _token(api)


async def test_refresh_gives_a_new_token_and_kills_the_old(api: HpcApi) -> None:
    old = await _token(api)
    new = await api.refresh_token(old)
    assert new != old
    assert (await api.get_user(new, "hpcuser"))["uid"] == "hpcuser"
    with pytest.raises(TokenRejected) as info:
        await api.get_user(old, "hpcuser")
    assert old not in str(info.value)
    with pytest.raises(TokenRejected):
        await api.refresh_token(old)


async def test_tokens_expire_after_their_ttl(api: HpcApi, standin: StandIn) -> None:
    token = await _token(api)
    standin.configure(token_ttl=0)
    with pytest.raises(TokenRejected):
        await api.get_user(token, "hpcuser")


async def test_expired_token_mode_refuses_every_bearer_call(api: HpcApi, standin: StandIn) -> None:
    token = await _token(api)
    standin.set_mode("expired_token")
    for call in (
        api.get_user(token, "hpcuser"),
        api.refresh_token(token),
        api.gen_key(token, "hpcuser"),
    ):
        with pytest.raises(TokenRejected) as info:
            await call
        assert info.value.status == 401
    # /quota needs no token and still works.
    assert (await api.get_quota("user", "hpcuser"))["name"] == "hpcuser"


async def test_missing_or_bogus_token_is_rejected(standin: StandIn, api: HpcApi) -> None:
    with pytest.raises(TokenRejected):
        await api.get_user("bogus", "hpcuser")
    response = httpx.get(f"{standin.url}/user", params={"name": "hpcuser"})
    assert response.status_code == 401


async def test_gen_key_makes_an_ed25519_pair(api: HpcApi) -> None:
    token = await _token(api)
    private_key, public_key = await api.gen_key(token, "hpcuser")
    assert private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public_key.startswith("ssh-ed25519 ")
    assert public_key_of(private_key).split()[:2] == public_key.split()[:2]


async def test_a_token_acts_only_for_its_own_user(api: HpcApi) -> None:
    token = await _token(api)
    with pytest.raises(ApiError) as info:
        await api.gen_key(token, "otheruser")
    assert info.value.status == 403
    with pytest.raises(ApiError):
        await api.get_user(token, "otheruser")


async def test_sign_cert_waits_for_approval_and_honours_valid_time(
    api: HpcApi, standin: StandIn
) -> None:
    token = await _token(api)
    _, public_key = await api.gen_key(token, "hpcuser")
    task = asyncio.create_task(api.sign_cert(token, "hpcuser", public_key, 7200))
    pending = await standin.await_pending("sign_cert")
    assert pending["user"] == "hpcuser"
    assert pending["since"].endswith("+00:00")
    assert not task.done()
    assert standin.approve(pending["id"]) == [pending["id"]]
    cert = await asyncio.wait_for(task, 30)
    info = parse_certificate(cert)
    assert info.principals == ("hpcuser",)
    assert info.public_key.split()[:2] == public_key.split()[:2]
    # The stand-in backdates by 5 minutes against clock skew, as real CAs do.
    assert (info.valid_before - info.valid_after).total_seconds() == 7200 + 300
    assert standin.pending() == []


async def test_sign_cert_denied_is_a_refusal(api: HpcApi, standin: StandIn) -> None:
    token = await _token(api)
    _, public_key = await api.gen_key(token, "hpcuser")
    task = asyncio.create_task(api.sign_cert(token, "hpcuser", public_key, 3600))
    await standin.await_pending("sign_cert")
    assert len(standin.deny()) == 1
    with pytest.raises(ApiError) as info:
        await task
    assert info.value.status == 403
    assert "denied" in str(info.value)


async def test_sign_cert_can_be_cancelled_and_the_request_goes_away(
    api: HpcApi, standin: StandIn
) -> None:
    token = await _token(api)
    _, public_key = await api.gen_key(token, "hpcuser")
    task = asyncio.create_task(api.sign_cert(token, "hpcuser", public_key, 3600))
    await standin.await_pending("sign_cert")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The stand-in notices the closed connection and drops the approval request.
    await async_wait_for(lambda: standin.pending() == [], what="the request to go away")


async def test_sign_cert_gives_up_after_its_timeout(api: HpcApi, standin: StandIn) -> None:
    token = await _token(api)
    _, public_key = await api.gen_key(token, "hpcuser")
    with pytest.raises(ApiError) as info:
        await api.sign_cert(token, "hpcuser", public_key, 3600, timeout=0.5)
    assert not isinstance(info.value, NetworkError)
    assert "交我办" in str(info.value)


async def test_auto_approval(api: HpcApi, standin: StandIn) -> None:
    standin.configure(auto_approve_seconds=0)
    token = await _token(api)
    _, public_key = await api.gen_key(token, "hpcuser")
    cert = await api.sign_cert(token, "hpcuser", public_key, 3600)
    assert parse_certificate(cert).principals == ("hpcuser",)


async def test_gen_key_can_be_the_call_that_waits(api: HpcApi, standin: StandIn) -> None:
    standin.configure(approval_on=["gen_key"])
    token = await _token(api)
    task = asyncio.create_task(api.gen_key(token, "hpcuser"))
    pending = await standin.await_pending("gen_key")
    standin.approve(pending["id"])
    _, public_key = await asyncio.wait_for(task, 30)
    # sign_cert no longer waits.
    cert = await api.sign_cert(token, "hpcuser", public_key, 3600)
    assert parse_certificate(cert).principals == ("hpcuser",)


async def test_sign_cert_refuses_foreign_principals_and_bad_input(
    api: HpcApi, standin: StandIn
) -> None:
    standin.configure(auto_approve_seconds=0)
    token = await _token(api)
    _, public_key = await api.gen_key(token, "hpcuser")
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/plain"}
    base = {"domain": "pi", "hpc_user": "hpcuser", "public_key": public_key, "valid_time": 600}
    cases: list[tuple[dict[str, Any], int]] = [
        ({**base, "principals": ["otheruser"]}, 403),
        ({**base, "principals": ["hpcuser", "root"]}, 403),
        ({**base, "principals": []}, 403),
        ({**base, "principals": ["hpcuser"], "valid_time": 10}, 400),
        ({**base, "principals": ["hpcuser"], "valid_time": "600"}, 400),
        ({**base, "principals": ["hpcuser"], "public_key": "not a key"}, 400),
    ]
    async with httpx.AsyncClient(base_url=standin.url) as client:
        for body, status in cases:
            response = await client.post("/sign_cert", json=body, headers=headers)
            assert response.status_code == status, body
        with pytest.raises(ApiError) as info:
            await api.sign_cert(token, "hpcuser", "ssh-ed25519 AAAAnope", 600)
        assert info.value.status == 400


async def test_internal_error_carries_the_session_id(api: HpcApi, standin: StandIn) -> None:
    standin.set_mode("internal_error")
    with pytest.raises(ApiError) as info:
        await _token(api)
    error = info.value
    assert error.status == 500
    assert error.session_id
    assert error.session_id in error.message
    assert error.hint is not None
    assert "hpc@sjtu.edu.cn" in error.hint
    assert error.session_id in error.hint
    assert not isinstance(error, WrongPassword)
    with pytest.raises(ApiError) as info:
        await api.get_quota("user", "hpcuser")
    assert info.value.session_id


async def test_unbound_second_factor_sends_the_user_to_the_docs(
    api: HpcApi, standin: StandIn
) -> None:
    token = await _token(api)
    _, public_key = await api.gen_key(token, "hpcuser")
    standin.set_mode("unbound")
    with pytest.raises(SecondFactorUnbound) as info:
        await api.sign_cert(token, "hpcuser", public_key, 3600)
    assert info.value.hint is not None
    assert SECURITY_DOCS in info.value.hint
    assert 400 <= (info.value.status or 0) < 500


async def test_a_user_without_email_or_jaccount_is_unbound(api: HpcApi) -> None:
    token = await _token(api, "nobind")
    _, public_key = await api.gen_key(token, "nobind")
    with pytest.raises(SecondFactorUnbound):
        await api.sign_cert(token, "nobind", public_key, 3600)


async def test_update_user_waits_for_approval_then_applies(api: HpcApi, standin: StandIn) -> None:
    token = await _token(api, "otheruser")
    task = asyncio.create_task(
        api.update_user(token, "otheruser", {"email": "new@example.edu", "jAccount": "oth"})
    )
    pending = await standin.await_pending("update_user")
    assert pending["user"] == "otheruser"
    standin.approve(pending["id"])
    updated = await asyncio.wait_for(task, 30)
    assert updated["email"] == "new@example.edu"
    assert updated["jAccount"] == "oth"
    assert (await api.get_user(token, "otheruser"))["email"] == "new@example.edu"


async def test_update_user_password_change_and_refusal_hide_the_password(
    api: HpcApi, standin: StandIn
) -> None:
    token = await _token(api, "otheruser")
    response = httpx.patch(
        f"{standin.url}/user",
        json={"domain": "pi", "password": 12345},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    with pytest.raises(ApiError) as info:
        await api.update_user(token, "otheruser", {})
    assert info.value.status == 400
    standin.configure(auto_approve_seconds=0)
    new_password = "brand-new-pass-9"
    await api.update_user(token, "otheruser", {"password": new_password})
    try:
        assert await api.get_token("otheruser", new_password)
        with pytest.raises(WrongPassword):
            await _token(api, "otheruser")
    finally:
        await api.update_user(token, "otheruser", {"password": PASSWORDS["otheruser"]})


async def test_quota_measures_the_storage_tree(api: HpcApi, standin: StandIn) -> None:
    lustre = standin.storage / "lustre" / "home" / "acct-hpc"
    (lustre / "hpcuser" / "sub").mkdir(parents=True, exist_ok=True)
    (lustre / "hpcuser" / "sub" / "a.bin").write_bytes(b"x" * 1000)
    (lustre / "hpcuser" / "b.txt").write_bytes(b"y" * 24)
    (lustre / "otheruser").mkdir(parents=True, exist_ok=True)
    (lustre / "otheruser" / "c.bin").write_bytes(b"z" * 500)

    user = await api.get_quota("user", "hpcuser")
    assert user["name"] == "hpcuser"
    assert user["quota_type"] == "user"
    by_fs = {q["filesystem"]: q for q in user["quotas"]}
    assert set(by_fs) == {"lustre", "dssg", "archive", "vault"}
    assert by_fs["lustre"]["used_bytes"] == 1024
    assert by_fs["lustre"]["used_files"] == 4  # home, sub, a.bin, b.txt
    assert by_fs["lustre"]["limit_bytes"] == 10**12
    assert by_fs["dssg"]["used_bytes"] == 0
    assert by_fs["dssg"]["limit_bytes"] is None

    account = await api.get_quota("account", "acct-hpc")
    by_fs = {q["filesystem"]: q for q in account["quotas"]}
    assert by_fs["lustre"]["used_bytes"] == 1524
    assert by_fs["lustre"]["limit_bytes"] == 3 * 10**12


async def test_quota_refuses_unknown_names_and_missing_name(api: HpcApi, standin: StandIn) -> None:
    with pytest.raises(ApiError) as info:
        await api.get_quota("user", "nosuchuser")
    assert info.value.status == 404
    with pytest.raises(ApiError) as info:
        await api.get_quota("account", "acct-none")
    assert info.value.status == 404
    assert httpx.get(f"{standin.url}/quota", params={"quota_type": "user"}).status_code == 400
    assert httpx.get(f"{standin.url}/quota", params={"name": "hpcuser"}).status_code == 400


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_api_is_a_network_error() -> None:
    async with HpcApi(f"http://127.0.0.1:{_closed_port()}") as api:
        with pytest.raises(NetworkError) as info:
            await api.get_token("hpcuser", PW)
    assert PW not in str(info.value)
    assert info.value.exit_code == 7


async def test_control_endpoints_refuse_nonsense(standin: StandIn) -> None:
    async with httpx.AsyncClient(base_url=standin.control_url) as client:
        assert (await client.post("/mode", json={"mode": "chaos"})).status_code == 400
        assert (await client.post("/approve", json={"id": "nope"})).status_code == 404
        assert (await client.post("/config", json={"colour": "red"})).status_code == 400
        assert (await client.get("/nothing")).status_code == 404
        health = (await client.get("/health")).json()
    assert health["ok"] is True
    assert health["mode"] == "normal"
    assert health["pending"] == 0


async def test_reset_restores_mode_settings_and_drops_pending(
    api: HpcApi, standin: StandIn
) -> None:
    token = await _token(api)
    _, public_key = await api.gen_key(token, "hpcuser")
    standin.configure(token_ttl=5000)
    task = asyncio.create_task(api.sign_cert(token, "hpcuser", public_key, 3600))
    await standin.await_pending("sign_cert")
    standin.set_mode("unbound")
    standin.reset()
    with pytest.raises(ApiError):
        await task
    health = standin.health()
    assert health["mode"] == "normal"
    assert health["settings"]["token_ttl"] == 3600
    assert health["pending"] == 0


async def test_the_standin_logs_no_secret(api: HpcApi, standin: StandIn, tmp_path: Path) -> None:
    standin.configure(auto_approve_seconds=0)
    token = await _token(api)
    private_key, public_key = await api.gen_key(token, "hpcuser")
    await api.sign_cert(token, "hpcuser", public_key, 3600)
    with pytest.raises(WrongPassword):
        await api.get_token("hpcuser", "wrong-secret-guess")
    log = standin.log_text()
    assert "sign_cert" in log
    for secret in (PW, token, "wrong-secret-guess", private_key.splitlines()[1]):
        assert secret not in log


async def test_quota_limits_may_be_plain_byte_counts(tmp_path: Path) -> None:
    limits = {"user": {"lustre": 5 * 10**12, "dssg": {"bytes": 7, "files": 9}}, "account": {}}
    with running_standin(tmp_path / "api", extra_config={"quota_limits": limits}) as standin:
        async with HpcApi(standin.url) as api:
            user = await api.get_quota("user", "hpcuser")
            account = await api.get_quota("account", "acct-hpc")
    by_fs = {q["filesystem"]: q for q in user["quotas"]}
    assert (by_fs["lustre"]["limit_bytes"], by_fs["lustre"]["limit_files"]) == (5 * 10**12, None)
    assert (by_fs["dssg"]["limit_bytes"], by_fs["dssg"]["limit_files"]) == (7, 9)
    assert all(q["limit_bytes"] is None for q in account["quotas"])
