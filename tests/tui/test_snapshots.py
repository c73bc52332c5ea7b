"""SVG snapshots of every screen over FakeSuan, at 80×24 (the SSH minimum) and 120×36.

Deterministic: a fixed clock (ages read "0 s ago"), canned data, no blinking cursor
(inputs stop blinking under tests), every worker waited for before the picture.
Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after a deliberate
change, and look at the report before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from tests.tui.fake_core import PASSWORD, FakeClock, FakeSuan, screen_text, settle, until
from tui.app import SuanApp
from tui.screens.detail import JobDetailScreen
from tui.screens.login import SecondFactorScreen

Snap = Callable[..., bool]
Before = Callable[[Pilot[Any]], Awaitable[None]]


def app_for(suan: FakeSuan | None = None) -> SuanApp:
    return SuanApp(suan or FakeSuan(), clock=FakeClock())


def keys(*pressed: str) -> Before:
    """Settle, press keys one by one (settling after each), settle again."""

    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return before


def test_login(snap_compare: Snap) -> None:
    assert snap_compare(app_for(FakeSuan(logged_in=False)), run_before=keys())


def test_login_wrong_password(snap_compare: Snap) -> None:
    assert snap_compare(app_for(FakeSuan(logged_in=False)), run_before=keys(*"hunter2", "enter"))


def test_second_factor_waiting(snap_compare: Snap) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await until(
            pilot,
            lambda: getattr(pilot.app.screen, "stage", "") == "approval",
            what="the approval stage",
        )
        await pilot.pause()

    assert snap_compare(app_for(FakeSuan(logged_in=False)), run_before=before)


def test_second_factor_approved(snap_compare: Snap) -> None:
    suan = FakeSuan(logged_in=False)

    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, SecondFactorScreen))
        suan.identity.approval.set()
        await until(pilot, lambda: getattr(pilot.app.screen, "cert", None) is not None)
        await pilot.pause()

    assert snap_compare(app_for(suan), run_before=before)


def test_jobs(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys())


def test_jobs_everyone_wide(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("a"), terminal_size=(120, 36))


def test_jobs_filtered(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("slash", *"sweep"))


def test_jobs_read_only(snap_compare: Snap) -> None:
    assert snap_compare(app_for(FakeSuan(read_only=True)), run_before=keys())


def test_cancel_confirmation(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("space", "down", "space", "down", "space", "c"))


def test_cancel_confirmation_array(snap_compare: Snap) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("end", "up", "up", "up", "up")  # onto 1007_[3-6%2]
        await pilot.pause()
        await pilot.press("c")
        await settle(pilot)

    assert snap_compare(app_for(), run_before=before)


def test_cancel_result(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("space", "space", "c", "y"))


def test_partitions(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("2"))


def test_partition_detail(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("2", "down", "down", "down", "enter"))


def test_detail_pending(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("down", "down", "enter"))


def test_detail_finished_wide(snap_compare: Snap) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.push_screen(JobDetailScreen("989", view="history"))
        await settle(pilot)

    assert snap_compare(app_for(), run_before=before, terminal_size=(120, 36))


def test_history(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("3"))


def test_history_wide(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("3", "d"), terminal_size=(120, 36))


def test_log_viewer(snap_compare: Snap) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("o")
        await until(pilot, lambda: "step 3 loss=0.55" in screen_text(pilot.app))
        await pilot.pause()

    assert snap_compare(app_for(), run_before=before)


def test_help(snap_compare: Snap) -> None:
    assert snap_compare(app_for(), run_before=keys("question_mark"))
