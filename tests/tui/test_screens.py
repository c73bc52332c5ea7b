"""Pilot tests of the screens over FakeSuan: jobs (filter, everyone, cancel, refresh timer,
notifications), detail, history, partitions and the log viewer."""

from __future__ import annotations

from datetime import timedelta

from core.slurm.models import JobState
from tests.tui.fake_core import (
    NASTY_CJK,
    NASTY_MARKUP,
    NOW,
    FakeClock,
    FakeSuan,
    record,
    region_text,
    screen_text,
    settle,
    until,
)
from tui.app import SuanApp
from tui.screens.confirm import CancelResultScreen, ConfirmCancelScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.history import HistoryScreen, parse_range
from tui.screens.jobs import JobsScreen, ended_jobs
from tui.screens.logs import LogScreen
from tui.screens.partitions import PartitionDetailScreen, PartitionsScreen
from widgets.job_table import JobTable

SIZE = (80, 24)
BIG = (120, 36)


def make_app(suan: FakeSuan, clock: FakeClock | None = None) -> SuanApp:
    app = SuanApp(suan, clock=clock or FakeClock())
    app.log_poll_seconds = 0.05  # followed logs: poll fast so the test is quick
    return app


def jobs_screen(app: SuanApp) -> JobsScreen:
    screen = app.screen
    assert isinstance(screen, JobsScreen)
    return screen


def put_cursor_on(table: JobTable, job_id: str) -> None:
    ids = [j.job_id for j in table.jobs]
    table.move_cursor(ids.index(job_id))


# --- jobs ----------------------------------------------------------------------------


async def test_jobs_lists_mine_then_everyone() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        screen = jobs_screen(app)
        assert screen.table.row_count == 13
        assert {j.user for j in screen.table.jobs} == {"hpcuser"}
        await pilot.press("a")
        await settle(pilot)
        assert suan.calls_of("jobs")[-1]["everyone"] is True
        assert screen.table.row_count == 15
        assert screen.table.show_user
        assert "Everyone's jobs" in screen_text(app)
        assert "otheruser" in screen_text(app)


async def test_nasty_names_render_literally() -> None:
    app = make_app(FakeSuan())
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert NASTY_MARKUP in text
        assert NASTY_CJK in text
        assert "esccleared" in text, "the escape sequence is removed, the rest kept"
        assert "\x1b" not in text


async def test_filter_opens_narrows_and_esc_clears() -> None:
    app = make_app(FakeSuan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = jobs_screen(app)
        await pilot.press("slash")
        field = screen.query_one("#jobs-filter")
        assert field.display and field.has_focus
        await pilot.press(*"sweep")
        await pilot.pause()
        assert screen.table.filter_text == "sweep"
        assert [j.job_id for j in screen.table.jobs] == ["1007_1", "1007_2", "1007_[3-6%2]"]
        assert "filter sweep" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert screen.table.has_focus
        assert screen.table.row_count == 3, "the filter stays after enter"
        await pilot.press("escape")
        await pilot.pause()
        assert screen.table.filter_text == ""
        assert screen.table.row_count == 13
        assert not field.display


async def test_sort_cycles_and_is_shown() -> None:
    app = make_app(FakeSuan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = jobs_screen(app)
        await pilot.press("s")
        await pilot.pause()
        assert screen.table.sort_column == "id"
        screen.update_status()
        await pilot.press("s")
        await pilot.pause()
        screen.update_status()
        await pilot.pause()
        assert screen.table.sort_column == "name"
        assert "sorted by name" in screen_text(app)


async def test_cancel_confirmation_names_every_job_then_shows_the_result() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        screen = jobs_screen(app)
        table = screen.table
        put_cursor_on(table, "1002")
        await pilot.press("space")  # marks 1002, cursor moves on
        put_cursor_on(table, "1007_[3-6%2]")
        await pilot.press("space")
        put_cursor_on(table, "1010")
        await pilot.press("space")
        await pilot.pause()
        assert [j.job_id for j in table.selected] == ["1002", "1007_[3-6%2]", "1010"]
        await pilot.press("c")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmCancelScreen)
        text = region_text(app, "#confirm-box")
        assert "Cancel 3 jobs?" in text
        for job_id in ("1002", "1007_[3-6%2]", "1010"):
            assert job_id in text
        assert NASTY_CJK in text
        assert "array 1007, 4 pending tasks:" in text
        assert "1007_3, 1007_4, 1007_5, 1007_6" in text
        assert "1001" not in text, "an unmarked job is not named"
        await pilot.press("y")
        await settle(pilot)
        assert suan.calls_of("cancel") == [("1002", "1007_[3-6%2]", "1010")]
        assert isinstance(app.screen, CancelResultScreen)
        text = region_text(app, "#confirm-box")
        assert "Cancelled 3 of 3" in text
        assert text.count("cancelled (CANCELLED)") == 3
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        assert table.selected == []
        assert "1002" not in [j.job_id for j in table.jobs]


async def test_cancel_of_an_array_master_names_its_tasks_and_no_is_a_no() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        screen = jobs_screen(app)
        master = next(j for j in screen.table.jobs if j.job_id == "1007_1")
        from dataclasses import replace

        suan.queue.insert(0, replace(master, job_id="1007", array_task_id=None, name="sweep"))
        await pilot.press("r")
        await settle(pilot)
        put_cursor_on(screen.table, "1007")
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmCancelScreen)
        text = region_text(app, "#confirm-box")
        assert "array master: also cancels 3 queued task entries:" in text
        assert "1007_1, 1007_2, 1007_[3-6%2]" in text
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        assert suan.calls_of("cancel") == []


async def test_cancel_of_someone_elses_job_shows_the_refusal() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        screen = jobs_screen(app)
        put_cursor_on(screen.table, "1020")
        await pilot.press("c")
        await pilot.pause()
        assert "Not yours: otheruser" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        text = screen_text(app)
        assert "Cancelled 0 of 1" in text
        assert "NOT cancelled (RUNNING): Access/permission denied" in text


async def test_finished_failed_and_vanished_jobs_ring_and_toast() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    notes = record(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        suan.set_state("1002", JobState.FAILED)  # still listed, in a final state
        suan.finish("1001", JobState.COMPLETED)  # gone from the queue: looked up once
        suan.queue = [j for j in suan.queue if j.job_id != "1007_[3-6%2]"]  # tasks started
        await pilot.press("r")
        await settle(pilot)
        messages = notes.messages()
        assert f"Job 1002 ({NASTY_CJK}) FAILED." in messages
        assert "Job 1001 (train-resnet) COMPLETED." in messages
        assert "1007" not in messages
        assert notes.bells == 2
        severities = {m: s for _, m, s in notes.notes}
        assert severities[f"Job 1002 ({NASTY_CJK}) FAILED."] == "error"
        assert suan.calls_of("job") == ["1001"]
        # The next refresh does not announce them again.
        await pilot.press("r")
        await settle(pilot)
        assert notes.bells == 2


async def test_other_users_jobs_ending_are_not_announced() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    notes = record(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        suan.finish("1020", JobState.COMPLETED)
        await pilot.press("r")
        await settle(pilot)
        assert notes.bells == 0


def test_ended_jobs_compares_refreshes() -> None:
    from tests.tui.fake_core import sample_jobs

    before = sample_jobs()
    after = [j for j in before if j.job_id not in ("1001", "1020", "1007_[3-6%2]")]
    finished, gone = ended_jobs(before, after, "hpcuser")
    assert finished == []
    assert [j.job_id for j in gone] == ["1001"]


async def test_refresh_timer_rearms_and_pauses_while_hidden() -> None:
    suan = FakeSuan(refresh=2.0)
    clock = FakeClock()
    app = make_app(suan, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = jobs_screen(app)
        assert screen._timer is not None, "armed after the first refresh"
        first = len(suan.calls_of("jobs"))
        clock.advance(3)
        screen.update_status()
        await pilot.pause()
        assert "updated 3 s ago" in screen_text(app)
        await pilot.press("2")
        await settle(pilot)
        assert screen._timer is None, "no polling while the jobs view is hidden"
        await pilot.press("1")
        await settle(pilot)
        # Data older than the interval: refreshed on return, then re-armed.
        assert len(suan.calls_of("jobs")) == first + 1
        assert screen._timer is not None
        # The real timer fires after refresh_seconds and refreshes again.
        await until(pilot, lambda: len(suan.calls_of("jobs")) >= first + 2, timeout=10)


async def test_a_slow_refresh_never_overlaps() -> None:
    import asyncio

    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = jobs_screen(app)
        gate = asyncio.Event()
        suan.gates["jobs"] = gate
        await pilot.press("r")
        await pilot.pause()
        assert screen._timer is None, "no timer while a refresh is in flight"
        assert "refreshing" in screen_text(app)
        gate.set()
        await settle(pilot)
        assert screen._timer is not None


# --- detail --------------------------------------------------------------------------


async def test_detail_of_a_pending_job_explains_the_reason_and_estimates_start() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        put_cursor_on(jobs_screen(app).table, "1003")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, JobDetailScreen)
        text = screen_text(app)
        assert NASTY_MARKUP in text
        assert "Waiting" in text
        assert "Resources" in text
        assert "Est. start   2026-05-11 11:45:00 UTC" in text
        assert suan.calls_of("efficiency") == []
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)


async def test_detail_shows_dependencies_and_the_script() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot)
        put_cursor_on(jobs_screen(app).table, "1004")
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app)
        assert "afterok:1001(unfulfilled)" in text
        assert "Batch script" in text
        assert "echo '[bold]not markup[/]'" in text


async def test_detail_of_a_finished_job_shows_efficiency_and_survives_missing_parts() -> None:
    from core.errors import NotFound

    suan = FakeSuan()
    suan.fail["batch_script"] = NotFound("Accounting kept no script for job 989.")
    app = make_app(suan)
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(pilot)
        app.push_screen(JobDetailScreen("989"))
        await settle(pilot)
        text = screen_text(app)
        assert "FAILED" in text
        assert "3:0" in text
        assert "95.0%" in text
        assert "Accounting kept no script for job 989." in text


# --- history -------------------------------------------------------------------------


def test_parse_range() -> None:
    assert parse_range("today", NOW) == (NOW.replace(hour=0, minute=0), None)
    assert parse_range("7d", NOW) == (NOW - timedelta(days=7), None)
    assert parse_range("12h", NOW) == (NOW - timedelta(hours=12), None)
    start, end = parse_range("2026-05-01..2026-05-03", NOW)
    assert (start.day, end and end.day) == (1, 4)
    for bad in ("yesterdayish", "2026-05-03..2026-05-01"):
        try:
            parse_range(bad, NOW)
        except ValueError as err:
            assert bad in str(err)
        else:
            raise AssertionError(f"{bad} accepted")


async def test_history_ranges_filters_and_opening_a_row() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert [r.job_id for r in screen.records] == ["990", "989", "988", "987", "499990"]
        await pilot.press("d")  # 7d → 30d
        await settle(pilot)
        assert len(screen.records) == 6
        assert suan.calls_of("history")[-1]["start"] == NOW - timedelta(days=30)
        await pilot.press("d")  # → today
        await settle(pilot)
        assert [r.job_id for r in screen.records] == ["990", "989", "988"]
        await pilot.press("d", "f")  # → 7d, then the state filter
        await pilot.press(*"failed,timeout", "enter")
        await settle(pilot)
        assert [r.job_id for r in screen.records] == ["989", "987"]
        assert suan.calls_of("history")[-1]["states"] == ("FAILED", "TIMEOUT")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, JobDetailScreen)
        assert app.screen.job_id == "989"


async def test_history_bad_range_is_worded_not_queried() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        calls = len(suan.calls_of("history"))
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        field = screen.query_one("#history-range")
        field.focus()
        await pilot.press("ctrl+u", *"last week", "enter")
        await settle(pilot)
        assert "Cannot read the range 'last week'" in screen_text(app)
        assert len(suan.calls_of("history")) == calls


# --- partitions ----------------------------------------------------------------------


async def test_partitions_grouped_with_description_and_detail() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PartitionsScreen)
        assert [p.name for p in screen.partitions] == [
            "cpu",
            "debug",
            "huge",
            "arm128c256g",
            "small",
            "64c512g",
            "a100",
        ]
        text = screen_text(app)
        for words in ("π 2.0", "鲲鹏 ARM", "思源一号", "66/54/120", "2/8", "1 alloc 2 mix"):
            assert words in text, words
        assert "2×Xeon 6248, 40 cores" in text
        await pilot.press("down", "down")
        await pilot.pause()
        assert "huge (π 2.0, cluster pi): 80 cores, 3 TB" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, PartitionDetailScreen)
        assert suan.calls_of("jobs")[-1] == {"everyone": True, "partition": "huge"}
        text = screen_text(app)
        assert "huge001" in text
        assert "Jobs in this partition: 1" in text


async def test_partition_detail_lists_nodes_and_everyones_jobs() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app)
        for node in ("cas001", "cas002", "cas003"):
            assert node in text
        assert "otheruser" in text
        table = app.screen.query_one(JobTable)
        assert len(table.jobs) == 10
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PartitionsScreen)


# --- logs ----------------------------------------------------------------------------


async def test_log_opens_follows_and_shows_status() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("o")  # cursor on 1001, running
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        assert isinstance(screen, LogScreen)
        await until(pilot, lambda: "step 3 loss=0.55" in screen_text(app), what="the log tail")
        text = screen_text(app)
        assert "/lustre/home/acct-hpc/hpcuser/1001.out" in text
        assert "@pi" in text
        # A running job's log opens following, as `tail -f` would; `f` toggles it.
        await until(pilot, lambda: screen.following, what="FOLLOW from the start")
        suan.logs.append("/lustre/home/acct-hpc/hpcuser/1001.out", b"step 4 loss=0.41\n")
        await until(pilot, lambda: "step 4 loss=0.41" in screen_text(app), what="the new line")
        await pilot.press("f")
        await until(pilot, lambda: not screen.following, what="FOLLOW off")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)


async def test_log_search_and_stderr() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        await until(pilot, lambda: "warning: low disk space" in screen_text(app))
        assert "stderr" in screen_text(app)
        await pilot.press("tab")
        await until(pilot, lambda: "step 3 loss=0.55" in screen_text(app), what="stdout")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        assert screen.which == "stdout"
        await pilot.press("slash", *"checkpoint", "enter")
        await until(pilot, lambda: screen.search_text == "checkpoint")
        await until(pilot, lambda: "/checkpoint" in screen_text(app))


async def test_jobs_cancelled_here_are_not_announced_as_ended() -> None:
    suan = FakeSuan()
    app = make_app(suan)
    notes = record(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c", "y")
        await settle(pilot)
        assert suan.calls_of("cancel") == [("1001",)]
        await pilot.press("enter", "r")
        await settle(pilot)
        assert notes.bells == 0
        assert "Job ended" not in notes.messages()


def test_array_ranges_are_spelled_out() -> None:
    from tui.format import array_count, expand_array

    assert expand_array("[3-6%2]") == ["3", "4", "5", "6"]
    assert expand_array("1,4-5") == ["1", "4", "5"]
    assert expand_array("[1-9:4]") == ["1", "5", "9"]
    assert array_count("[1-9:4]") == 3
    assert array_count("[1-100000%5]") == 100000
    assert len(expand_array("[1-100000%5]")) == 50, "a huge range is not expanded in full"
