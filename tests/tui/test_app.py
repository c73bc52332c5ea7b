"""Pilot tests of the app shell: login and second factor, renewal, views, help, palette,
key remapping from config, read-only mode and error reporting."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from textual.command import CommandPalette

from core.errors import NetworkError, NotLoggedIn
from core.service import Suan as RealSuan
from tests.testbed_env import TestbedEnv
from tests.tui.fake_core import (
    DOCS_SECURITY,
    PASSWORD,
    FakeClock,
    FakeSuan,
    record,
    screen_text,
    settle,
    until,
)
from tui.app import VIEWS, SuanApp, View, run
from tui.facade import SuanLike
from tui.screens.confirm import ConfirmCancelScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen
from tui.screens.jobs import JobsScreen
from tui.screens.login import LoginScreen, SecondFactorScreen
from tui.screens.logs import LogScreen
from tui.screens.partitions import PartitionsScreen
from tui.screens.storage import StorageScreen
from tui.screens.transfers import TransfersScreen

SIZE = (80, 24)


def make_app(suan: FakeSuan, clock: FakeClock | None = None) -> SuanApp:
    return SuanApp(suan, clock=clock or FakeClock())


async def type_password(pilot: object, app: SuanApp, password: str) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    assert isinstance(app.screen, LoginScreen)
    await pilot.press(*password)
    await pilot.press("enter")
    await pilot.pause()


# --- login ---------------------------------------------------------------------------


async def test_valid_stored_certificate_skips_login() -> None:
    suan = FakeSuan(logged_in=True)
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        assert suan.identity.logins == 0
        assert "cert 11 h 30 min" in screen_text(app)


async def test_login_with_second_factor_approved_later() -> None:
    suan = FakeSuan(logged_in=False)
    clock = FakeClock()
    app = make_app(suan, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        assert "hpcuser" in screen_text(app)
        await type_password(pilot, app, PASSWORD)
        await until(
            pilot,
            lambda: isinstance(app.screen, SecondFactorScreen) and app.screen.stage == "approval",
            what="the approval stage",
        )
        second = app.screen
        assert isinstance(second, SecondFactorScreen)
        text = screen_text(app)
        assert "交我办 app or email" in text
        assert "Waiting for your approval" in text
        # Time passes while the user finds their phone: the screen counts it.
        clock.advance(42)
        second.update_view()
        await pilot.pause()
        assert "0:42 elapsed" in screen_text(app)
        assert PASSWORD not in text
        # Worker descriptions show up in logs and error toasts: never with the password.
        assert all(PASSWORD not in w.description for w in app.workers)
        assert any(w.description == "Logging in" for w in app.workers)

        suan.identity.approval.set()
        await until(pilot, lambda: second.cert is not None, what="the certificate")
        await pilot.pause()
        text = screen_text(app)
        assert "Certificate valid from 2026-05-11 09:30:00 UTC" in text
        assert "until 2026-05-11 21:30:00 UTC" in text
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        assert app.logged_in
        assert suan.calls_of("jobs"), "the job list loads after login"


async def test_second_factor_can_be_cancelled() -> None:
    suan = FakeSuan(logged_in=False)
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await type_password(pilot, app, PASSWORD)
        await until(pilot, lambda: isinstance(app.screen, SecondFactorScreen))
        await until(pilot, lambda: getattr(app.screen, "stage", "") == "approval")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen))
        await until(pilot, lambda: suan.identity.cancelled == 1, what="the login task cancelled")
        assert "Login cancelled" in screen_text(app)
        assert suan.identity.cert is None
        assert not app.logged_in


async def test_wrong_password_is_worded_and_not_retried() -> None:
    suan = FakeSuan(logged_in=False)
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await type_password(pilot, app, "not-the-password")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        text = screen_text(app)
        assert "refused the password" in text
        assert "ban" in text
        assert "not-the-password" not in text
        assert suan.identity.logins == 1


async def test_unbound_second_factor_sends_to_the_docs() -> None:
    suan = FakeSuan(logged_in=False)
    suan.identity.mode = "unbound"
    app = make_app(suan)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await type_password(pilot, app, PASSWORD)
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        text = screen_text(app)
        assert "user have not set email or jAccount" in text
        assert DOCS_SECURITY in text


async def test_internal_error_shows_the_session_id() -> None:
    suan = FakeSuan(logged_in=False)
    suan.identity.mode = "internal_error"
    app = make_app(suan)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await type_password(pilot, app, PASSWORD)
        await settle(pilot)
        text = screen_text(app)
        assert "7f3a-42c1" in text
        assert "hpc@sjtu.edu.cn" in text


async def test_expired_certificate_asks_for_login() -> None:
    suan = FakeSuan(logged_in=True, cert_hours=1)
    clock = FakeClock()
    clock.advance(2 * 3600)
    app = make_app(suan, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        assert "expired" in screen_text(app)


async def test_certificate_close_to_expiry_offers_renewal_and_ctrl_r_renews() -> None:
    suan = FakeSuan(logged_in=True, cert_hours=0.5)
    app = make_app(suan)
    notes = record(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        assert "cert 30 min · ctrl+r" in screen_text(app)
        assert "Your certificate expires in 30 min. Press ctrl+r to renew it." in notes.messages()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, SecondFactorScreen))
        suan.identity.approval.set()
        await until(pilot, lambda: getattr(app.screen, "cert", None) is not None)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        assert suan.identity.renewals == 1
        assert "Certificate renewed" in notes.messages()
        assert app.cert_left() == timedelta(hours=12)


async def test_renewal_that_needs_the_password_goes_to_login() -> None:
    suan = FakeSuan(logged_in=True, cert_hours=0.5)
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        suan.identity.mode = "expired_token"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), what="login screen")
        assert "token has expired" in screen_text(app)


# --- views, help, palette ----------------------------------------------------------------


async def test_every_view_is_one_key_away() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        expected = {
            "1": JobsScreen,
            "2": PartitionsScreen,
            "3": HistoryScreen,
            "4": StorageScreen,
            "5": TransfersScreen,
        }
        assert [v.key for v in VIEWS] == list(expected)
        for key in ("2", "3", "1", "3"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, expected[key]), key


async def test_header_keeps_read_only_and_cert_when_views_are_added() -> None:
    app = make_app(FakeSuan(read_only=True))
    app.views = (
        *VIEWS,
        View("storage", "4", "Storage", JobsScreen),
        View("transfers", "5", "Transfers", JobsScreen),
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = screen_text(app).split("\n")[0]
        assert "READ-ONLY" in header
        assert "cert 11 h 30 min" in header
        assert "1 Jobs 2 3 4 5" in header


async def test_no_view_switch_before_login() -> None:
    app = make_app(FakeSuan(logged_in=False))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)


async def test_help_lists_the_keys_of_the_current_screen() -> None:
    app = make_app(FakeSuan())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        descriptions = {e.description for e in app.screen.entries}
        assert "Cancel the marked jobs (or the one under the cursor)" in descriptions
        keys = {e.description: e.keys for e in app.screen.entries}
        assert keys["Cancel the marked jobs (or the one under the cursor)"] == "c, del"
        await pilot.press("escape")
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        descriptions = {e.description for e in app.screen.entries}
        assert "Cycle the range: today, 7d, 30d" in descriptions
        assert "Cancel the marked jobs (or the one under the cursor)" not in descriptions


async def test_command_palette_switches_views() -> None:
    app = make_app(FakeSuan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"View: Partitions")
        await until(pilot, lambda: "View: Partitions" in screen_text(app), what="the command")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PartitionsScreen), what="partitions")


async def test_command_palette_offers_screen_actions() -> None:
    app = make_app(FakeSuan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("View: Jobs", "View: Partitions", "View: History", "Renew certificate"):
            assert title in titles
        for action in ("Filter", "Sort", "Cancel", "All", "Out", "Err"):
            assert action in titles, action


# --- config keys, read-only, errors ----------------------------------------------------


async def test_keys_from_config_remap_bindings() -> None:
    suan = FakeSuan(keys={"jobs.cancel": "x", "app.view.history": "h", "no.such": "z"})
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmCancelScreen)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmCancelScreen)
        await pilot.press("n")
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert app.keymap_problems == ["[keys] no.such: no key binding has this id"]


async def test_keymap_argument_wins_over_the_facade() -> None:
    app = SuanApp(FakeSuan(keys={"jobs.cancel": "x"}), keymap={"jobs.sort": "S"})
    assert app.user_keymap == {"jobs.sort": "S"}


async def test_read_only_refuses_cancel_visibly() -> None:
    suan = FakeSuan(read_only=True)
    app = make_app(suan)
    notes = record(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "READ-ONLY" in screen_text(app)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
        assert "Read-only mode: cancelling jobs is disabled" in notes.messages()
        assert notes.bells == 1
        assert suan.calls_of("cancel") == []


async def test_errors_are_worded_and_refresh_continues() -> None:
    suan = FakeSuan()
    suan.fail["jobs"] = NetworkError("pilogin (127.0.0.2:2222) cannot be reached.")
    app = make_app(suan)
    notes = record(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert (
            "Reading the queue failed",
            "pilogin (127.0.0.2:2222) cannot be reached.",
            "error",
        ) in notes.notes
        assert screen._timer is not None, "the next refresh is still scheduled"
        await pilot.press("r")
        await settle(pilot)
        assert len(screen.jobs) == 13


async def test_not_logged_in_during_use_asks_for_login() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        suan.fail["jobs"] = NotLoggedIn("Your certificate has expired.")
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "certificate has expired" in screen_text(app)


def test_run_closes_the_facade(monkeypatch: pytest.MonkeyPatch) -> None:
    suan = FakeSuan()
    started: list[SuanApp] = []

    async def fake_run_async(self: SuanApp, **_: object) -> None:
        started.append(self)

    monkeypatch.setattr(SuanApp, "run_async", fake_run_async)
    run(suan)
    assert started and started[0].suan is suan
    assert suan.closed


def _real_facade_fits(suan: RealSuan) -> SuanLike:
    """mypy (strict, run over tests) checks that core.service.Suan satisfies the contract."""
    return suan


def test_the_real_facade_has_every_method_the_tui_calls() -> None:
    import inspect

    for name, member in inspect.getmembers(SuanLike):
        if name.startswith("_") or not callable(member):
            continue
        real = getattr(RealSuan, name, None)
        assert real is not None, f"core.service.Suan has no {name}"
        assert inspect.iscoroutinefunction(real) == inspect.iscoroutinefunction(member), name
        wanted = [p for p in inspect.signature(member).parameters if p != "self"]
        have = inspect.signature(real).parameters
        for param in wanted:
            assert param in have, f"Suan.{name} has no parameter {param}"


# --- live: the real facade against the testbed ------------------------------------------


@pytest.mark.testbed
async def test_live_login_jobs_and_log_over_the_testbed(
    testbed: TestbedEnv, tmp_path: Path
) -> None:
    """The TUI over the real ``core.service.Suan``: login with the second factor approved
    through the API stand-in, the seeded queue, partitions, and a seeded job's log."""
    import dataclasses
    import json

    import httpx

    from core.config import load_config

    profile = load_config(testbed.config_path).profile("testbed")
    # A fresh data dir: this test's certificate never touches other tests' secrets.
    suan = RealSuan(dataclasses.replace(profile, data_dir=tmp_path / "data"))
    seeded = json.loads((testbed.root / "seeded.json").read_text())
    app = SuanApp(suan)
    try:
        async with app.run_test(size=(120, 36)) as pilot, httpx.AsyncClient() as client:
            await pilot.pause()
            assert isinstance(app.screen, LoginScreen)
            # Normal mode, no ban, nothing pending: whatever an earlier test left behind.
            await client.post(f"{testbed.control_url}/reset", json={})
            await pilot.press(*testbed.password(), "enter")
            await until(pilot, lambda: isinstance(app.screen, SecondFactorScreen), timeout=30)
            second = app.screen
            assert isinstance(second, SecondFactorScreen)
            # Approve what is pending for hpcuser until the certificate arrives (a stale
            # request left by another test is approved too, harmlessly).
            deadline = asyncio.get_running_loop().time() + 60
            while second.cert is None:
                assert asyncio.get_running_loop().time() < deadline, "no certificate"
                reply = await client.get(f"{testbed.control_url}/pending")
                for item in reply.json():
                    if item["user"] == "hpcuser":
                        assert "交我办 app or email" in screen_text(app)
                        await client.post(f"{testbed.control_url}/approve", json={"id": item["id"]})
                await pilot.pause(0.05)
            await pilot.pause()
            assert "Certificate valid from" in screen_text(app)
            await pilot.press("enter")
            screen = app.screen
            assert isinstance(screen, JobsScreen)
            await until(pilot, lambda: screen.loaded_at is not None, timeout=60, what="jobs")
            ids = {j.job_id for j in screen.jobs}
            assert seeded["pi_running"] in ids
            assert seeded["sy_running"] in ids
            assert {j.user for j in screen.jobs} == {"hpcuser"}
            assert "训练作业" in screen_text(app)

            await pilot.press("2")
            parts = app.screen
            assert isinstance(parts, PartitionsScreen)
            await until(pilot, lambda: parts.loaded_at is not None, timeout=60, what="sinfo")
            assert {"cpu", "debug", "huge", "arm128c256g", "small", "a100"} <= {
                p.name for p in parts.partitions
            }

            await pilot.press("1")
            await pilot.pause()
            target = seeded["pi_colour_log"]
            app.push_screen(LogScreen(target, "stdout", view="jobs"))
            await until(pilot, lambda: "ERROR" in screen_text(app), timeout=60, what="the log")
            text = screen_text(app)
            assert "\x1b" not in text
            assert "@" in text and ".out" in text
    finally:
        await suan.close()
