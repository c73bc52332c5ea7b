"""The storage explorer (view 4) and the transfers screen (view 5) over the fakes in
``tests/tui/fake_storage.py``: navigation, filter, sort, preview, writes with their
confirmations and explanations, read-only refusals, transfers list/cancel/forget, and SVG
snapshots at 80×24 and 120×36."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from core.config import Profile
from core.errors import ApiError, RemoteCommandError
from core.storage import Entry, PoolInfo, Preview, Quota
from core.transfers import FileTransferResult
from tests.testbed_env import TestbedEnv
from tests.tui.fake_core import NOW, FakeClock, record, region_text, screen_text, settle, until
from tests.tui.fake_storage import (
    ARCHIVE,
    DSSG,
    HOME,
    NASTY_FILES,
    VAULT,
    FakeStorageSuan,
    StorageHostApp,
    sample_pools,
    sample_quotas,
    storage_app,
)
from tui.screens.logs import LogScreen
from tui.screens.storage import (
    ConfirmDeleteScreen,
    FileLogScreen,
    InputDialog,
    StorageScreen,
    cold_note,
    destination_for,
    filter_entries,
    mtime_text,
    name_text,
    pool_of,
    preview_text,
    quota_for,
    sort_entries,
)
from tui.screens.transfers import (
    ConfirmTransferCancelScreen,
    LocalTransfers,
    TransfersScreen,
    local_row,
    ordered_rows,
    remote_row,
    short_id,
)
from widgets.quota_bar import QuotaFigures, bar, fill_style, human_count, human_size, quota_line

SIZE = (80, 24)
BIG = (120, 36)
PERMS = ("drwx", "-rw-", "lrwx")

Snap = Callable[..., bool]
Before = Callable[[Pilot[Any]], Awaitable[None]]


def entry(name: str, kind: str = "file", size: int = 0, mtime: int = 0) -> Entry:
    perms = {"dir": "drwxr-x---", "link": "lrwxrwxrwx"}.get(kind, "-rw-r--r--")
    return Entry(name, f"{HOME}/{name}", kind, size, mtime, perms, "hpcuser")


async def open_storage(pilot: Pilot[Any]) -> StorageScreen:
    await settle(pilot)
    await pilot.press("4")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, StorageScreen)
    return screen


async def open_transfers(pilot: Pilot[Any]) -> TransfersScreen:
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TransfersScreen)
    return screen


def put_cursor(screen: StorageScreen, name: str) -> None:
    names = [e.name for e in screen.shown]
    screen.table.move_cursor(row=names.index(name), animate=False)


async def on_entry(pilot: Pilot[Any], screen: StorageScreen, name: str) -> None:
    put_cursor(screen, name)
    await settle(pilot)


def top(app: StorageHostApp) -> Screen[Any]:
    """The screen on top (a call, so a type check on ``app.screen`` does not stick)."""
    return app.screen


def preview_of(screen: StorageScreen) -> str:
    return str(screen.query_one("#storage-preview", Static).render())


async def dialog_words(pilot: Pilot[Any], selector: str) -> str:
    """The words of a dialog once it is laid out (its keys line shown), lines joined."""
    app = pilot.app
    await until(
        pilot,
        lambda: (
            isinstance(app.screen, (InputDialog, ConfirmDeleteScreen, ConfirmTransferCancelScreen))
            and "esc" in region_text(app, selector)
        ),
        what=f"the dialog {selector}",
    )
    lines = region_text(app, selector).split("\n")
    return " ".join(" ".join(line.strip("█▀▄ ").split()) for line in lines).strip()


def table_lines(app: StorageHostApp) -> list[str]:
    return [line for line in screen_text(app).split("\n") if any(p in line for p in PERMS)]


# --- pure pieces ---------------------------------------------------------------------------


def test_human_sizes_and_counts() -> None:
    assert human_size(None) == "—"
    assert human_size(512) == "512 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(3 * 1024**4) == "3.0 TiB"
    assert human_size(2 * 1024**5) == "2.0 PiB"
    assert human_count(9999) == "9,999"
    assert human_count(123_456) == "123.5k"
    assert human_count(2_000_000) == "2.0M"


def test_bar_fill_and_colour_by_fill() -> None:
    assert fill_style(0.1) == "green"
    assert fill_style(0.75) == "yellow"
    assert fill_style(0.95) == "bold red"
    assert bar(0.5, 8).plain == "████░░░░"
    assert bar(1.7, 4).plain == "████", "over quota draws a full bar, not a longer one"
    assert bar(None, 3).plain == "░░░"
    assert bar(0.0625, 8).plain == "▌░░░░░░░", "half a cell is drawn in eighths"
    assert all(cell_len(bar(f / 10, 10).plain) == 10 for f in range(11))


def test_quota_line_words() -> None:
    figures = QuotaFigures("user hpcuser", 1024**4, 3 * 1024**4, 123_456, 1_000_000)
    line = quota_line(figures, 80)
    assert "user hpcuser" in line.plain
    assert "1.0 TiB / 3.0 TiB" in line.plain
    assert " 33%" in line.plain
    assert "123.5k / 1.0M files" in line.plain
    assert cell_len(line.plain) <= 80
    narrow = quota_line(figures, 40)
    assert "█" not in narrow.plain, "no room for a bar: the figures stay"
    assert cell_len(narrow.plain) <= 40
    unlimited = quota_line(QuotaFigures("account acct-hpc", 5 * 1024**3), 80).plain
    assert "5.0 GiB (no limit)" in unlimited
    error = quota_line(QuotaFigures("user [bold]x[/]", note="API says\x1b[2J no"), 80)
    assert error.plain == "user [bold]x[/] API says no"


def test_quota_for_picks_the_pool_and_reports_errors() -> None:
    pools = {p.name: p for p in sample_pools()}
    quotas = sample_quotas()
    user = quota_for(quotas, "user", pools["lustre"])
    assert user.label == "user hpcuser"
    assert user.limit_bytes == 3 * 1024**4
    assert quota_for(quotas, "account", pools["dssg"]).used_bytes == 100 * 1024**3
    assert quota_for(quotas, "user", pools["archive"]).note == "no quota reported for /archive"
    assert quota_for(None, "user", None).note == "loading…"
    failed = [Quota("", None, None, None, None, {}, "user", "hpcuser", "HTTP 500")]
    assert quota_for(failed, "user", pools["lustre"]).note == "HTTP 500"
    assert quota_for(failed, "account", pools["lustre"]).note == "no quota reported"


def test_pool_of_and_destinations() -> None:
    pools = sample_pools()
    assert pool_of(f"{HOME}/x", pools) is pools[0]
    assert pool_of("/archive", pools) is pools[2]
    assert pool_of("/lustrefake/x", pools) is None
    # From hot storage: the cold pool with the most free space (vault), same relative path.
    assert destination_for(f"{HOME}/run dir", pools[0], pools) == f"{VAULT}/run dir"
    assert destination_for(HOME, pools[0], pools) == VAULT
    # From cold storage: back to the hot pool.
    assert destination_for(f"{ARCHIVE}/old-results", pools[2], pools) == f"{HOME}/old-results"


def test_sort_filter_and_names() -> None:
    items = [
        entry("b.txt", size=10, mtime=5),
        entry("a dir", "dir", 4096, 1),
        entry("C.bin", size=99, mtime=9),
    ]
    assert [e.name for e in sort_entries(items, "name")] == ["a dir", "C.bin", "b.txt"]
    assert [e.name for e in sort_entries(items, "size")] == ["a dir", "C.bin", "b.txt"]
    assert [e.name for e in sort_entries(items, "mtime")] == ["C.bin", "b.txt", "a dir"]
    assert [e.name for e in filter_entries(items, "c.B")] == ["C.bin"]
    nasty = entry("[bold]x[/]\n\x1b[2J训练作业 very long name indeed")
    cell = name_text(nasty, 20)
    assert cell_len(cell.plain) == 20
    assert cell.plain.startswith("  [bold]x[/]^J训练")
    assert cell.plain.endswith("…")
    assert name_text(entry("d", "dir"), 10, marked=True).plain == "● d/      "
    assert mtime_text(int(NOW.timestamp()), NOW) == "05-11 09:30"
    assert mtime_text(int(datetime(2024, 1, 2, tzinfo=UTC).timestamp()), NOW) == "2024-01-02"


def test_preview_and_cold_note_words() -> None:
    head = "[b]x[/b]\n\x1b]0;t\x07ok\tend\n"
    text = preview_text(Preview(f"{HOME}/n.txt", 30, head, False, True))
    assert "[b]x[/b]" in text.plain
    assert "\x1b" not in text.plain
    assert "(head)" in text.plain
    binary = preview_text(Preview(f"{HOME}/m.bin", 2048, None, True, True)).plain
    assert "binary file: not shown" in binary
    assert "2.0 KiB" in binary
    pools = {p.name: p for p in sample_pools()}
    assert cold_note(pools["lustre"]) is None
    archive = cold_note(pools["archive"])
    assert archive is not None
    assert "read-only on the login nodes" in archive.plain
    assert "data, sydata" in archive.plain
    union = cold_note(pools["union"])
    assert union is not None
    assert "merged view" in union.plain
    nowhere = PoolInfo("x", "/x", "cold", (), (), "/x/u", True, None, None, None)
    note = cold_note(nowhere)
    assert note is not None
    assert "no node" in note.plain


def test_transfer_rows() -> None:
    from tests.tui.fake_storage import sample_transfers

    statuses = sample_transfers()
    rows = [remote_row(s) for s in statuses]
    assert rows[0].rate == "95.37MB/s"
    assert rows[0].fraction == 0.45
    assert rows[1].fraction == 1.0 and rows[1].rate == "—"
    assert short_id("20260511-090300-000003") == "090300-000003"
    assert short_id("up-1") == "up-1"
    clock = [100.0]
    registry = LocalTransfers(monotonic=lambda: clock[0], wall=lambda: 0.0)
    local = registry.start("upload", "/tmp/a", HOME)
    registry.progress(local)(512, 2048)
    clock[0] = 102.0
    row = local_row(local, clock[0])
    assert row.fraction == 0.25
    assert row.rate == "256B/s"
    assert row.eta == "0:06"
    assert [r.key for r in ordered_rows([*rows, row])][:2] == [rows[0].key, "local:up-1"]
    registry.finish(local, FileTransferResult(Path("/tmp/a"), HOME, 2048, 0, None, 4.0, "data"))
    done = local_row(local, 200.0)
    assert done.state == "finished"
    assert done.rate == "512B/s"
    assert done.eta == "—"


# --- the explorer ------------------------------------------------------------------------------


async def test_lists_home_with_nasty_names_literally_and_aligned() -> None:
    app = storage_app()
    async with app.run_test(size=BIG) as pilot:
        screen = await open_storage(pilot)
        assert screen.path == HOME
        text = screen_text(app)
        for name in NASTY_FILES:
            shown = name.replace("\n", "^J")
            assert shown in text, shown
        assert "\x1b" not in text
        lines = table_lines(app)
        assert len(lines) == 13
        starts = [min(line.index(p) for p in PERMS if p in line) for line in lines]
        columns = {cell_len(line[:start]) for line, start in zip(lines, starts, strict=True)}
        assert len(columns) == 1, "the permission column starts at the same cell on every row"
        assert "user hpcuser" in text
        assert "account acct-hpc" in text
        assert " 93%" in text, "the account quota, nearly full"
        assert "/vault cold ✗" in text, "the missing personal directory is marked"


async def test_enter_up_home_and_pool_switch() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        await on_entry(pilot, screen, "run dir")
        await pilot.press("enter")
        await settle(pilot)
        assert screen.path == f"{HOME}/run dir"
        assert [e.name for e in screen.shown] == ["986.out"]
        await pilot.press("backspace")
        await settle(pilot)
        assert screen.path == HOME
        assert screen.current() is not None and screen.current().name == "run dir"  # type: ignore[union-attr]
        await pilot.press("h")
        await settle(pilot)
        assert screen.path == "/lustre/home/acct-hpc"
        await pilot.press("tilde")
        await settle(pilot)
        assert screen.path == HOME
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen.path == DSSG
        assert [e.name for e in screen.shown] == ["sy-project"]
        assert "/dssg hot · seen by sy" in screen_text(app)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert screen.path == HOME, "back where I was"
        for _ in range(3):
            await pilot.press("right_square_bracket")
            await settle(pilot)
        assert screen.path == VAULT
        assert screen.missing
        assert "does not exist yet" in preview_of(screen)
        assert "m creates it (through a data node: data, sydata)" in preview_of(screen)


async def test_up_stops_at_the_mount() -> None:
    app = storage_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        notes = record(app)
        for _ in range(4):
            await pilot.press("backspace")
            await settle(pilot)
        assert screen.path == "/lustre"
        assert "Already at the top of the pool." in notes.messages()


async def test_filter_narrows_and_esc_clears() -> None:
    app = storage_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        await pilot.press("slash", *".txt")
        await pilot.pause()
        assert screen.filter_text == ".txt"
        assert all(".txt" in e.name for e in screen.shown)
        assert len(screen.shown) == 5
        assert "5 shown · filter .txt · by name" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert screen.table.has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert screen.filter_text == ""
        assert len(screen.shown) == 13


async def test_sort_cycles_name_size_mtime() -> None:
    app = storage_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        assert screen.shown[0].name == "data"
        await pilot.press("s")
        await pilot.pause()
        assert screen.listing_sort == "size"
        assert screen.shown[0].name == "model.bin"
        assert "· by size" in screen_text(app)
        await pilot.press("s")
        await pilot.pause()
        assert screen.shown[0].name == "notes.txt", "the newest first"
        await pilot.press("s")
        await pilot.pause()
        assert screen.listing_sort == "name"


async def test_preview_text_literally_and_binary_as_such() -> None:
    app = storage_app()
    async with app.run_test(size=BIG) as pilot:
        screen = await open_storage(pilot)
        await on_entry(pilot, screen, "notes.txt")
        shown = preview_of(screen)
        assert "[bold red]pwn[/] $(id)" in shown
        assert "cleared" in shown and "\x1b" not in shown
        assert "bell^G end" in shown
        assert "[bold red]pwn[/] $(id)" in screen_text(app)
        await on_entry(pilot, screen, "model.bin")
        assert "binary file: not shown" in preview_of(screen)
        await on_entry(pilot, screen, "latest")
        assert "-> run dir" in preview_of(screen)


async def test_open_in_the_viewer() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_storage(pilot)
        await on_entry(pilot, screen, "run dir")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, FileLogScreen), what="the viewer")
        viewer = app.screen
        assert isinstance(viewer, LogScreen)
        await until(pilot, lambda: "Error: out of memory" in screen_text(app), what="the file")
        assert ("open_file", f"{HOME}/run dir/986.out") in suan.calls
        assert "file" in screen_text(app).split("\n")[1]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_binary_is_not_opened() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        notes = record(app)
        await on_entry(pilot, screen, "model.bin")
        await pilot.press("o")
        await pilot.pause()
        assert app.screen is screen
        assert "model.bin is a binary file" in notes.messages()
        assert not suan.calls_of("open_file")


async def test_mkdir_here() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        notes = record(app)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, InputDialog)
        assert "read-only on the login nodes" not in screen_text(app), "hot: no cold note"
        await pilot.press(*"new $(dir)", "enter")
        await settle(pilot)
        assert f"{HOME}/new $(dir)" in suan.storage_fake.tree
        assert suan.storage_fake.calls_of("mkdir")[-1] == (f"{HOME}/new $(dir)", False, "pilogin")
        assert screen.current() is not None and screen.current().name == "new $(dir)"  # type: ignore[union-attr]
        assert "Created /lustre/home/acct-hpc/hpcuser/new $(dir)" in notes.messages()


async def test_cold_write_is_explained_and_goes_through_a_data_node() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_storage(pilot)
        for _ in range(3):  # lustre → dssg → archive → vault (missing)
            await pilot.press("right_square_bracket")
            await settle(pilot)
        assert screen.path == VAULT and screen.missing
        await pilot.press("m")
        await pilot.pause()
        dialog = await dialog_words(pilot, "#storage-dialog")
        assert "/vault is cold storage" in dialog
        assert "read-only on the login nodes" in dialog
        assert "data, sydata" in dialog
        await pilot.press("enter")  # prefilled with my missing directory
        await settle(pilot)
        assert suan.storage_fake.calls_of("mkdir")[0] == (VAULT, True, "data")
        assert not screen.missing
        assert "/vault cold ✗" not in screen_text(app)


async def test_rename_prefills_the_name() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        await on_entry(pilot, screen, "with space.txt")
        await pilot.press("r")
        await pilot.pause()
        field = app.screen.query_one("#storage-dialog-input")
        assert getattr(field, "value", None) == "with space.txt"
        await pilot.press("ctrl+u", *"-renamed 'x'.txt", "enter")
        await settle(pilot)
        tree = suan.storage_fake.tree
        assert f"{HOME}/-renamed 'x'.txt" in tree
        assert f"{HOME}/with space.txt" not in tree
        assert screen.current() is not None and screen.current().name == "-renamed 'x'.txt"  # type: ignore[union-attr]


async def test_rename_of_a_name_with_a_newline_starts_empty() -> None:
    app = storage_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        await on_entry(pilot, screen, "new\nline.txt")
        await pilot.press("r")
        await pilot.pause()
        assert getattr(app.screen.query_one("#storage-dialog-input"), "value", None) == ""
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_delete_confirmation_names_exactly_what_goes() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_storage(pilot)
        await on_entry(pilot, screen, "data")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDeleteScreen)
        box = await dialog_words(pilot, "#confirm-box")
        assert "Delete 1 item?" in box
        assert f"{HOME}/data/ (directory, 5 entries inside, 6.0 KiB)" in box
        assert "In total: 6 entries, 6.0 KiB." in box
        await pilot.press("n")
        await settle(pilot)
        assert f"{HOME}/data" in suan.storage_fake.tree
        assert not suan.storage_fake.calls_of("delete")
        notes = record(app)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert suan.storage_fake.calls_of("delete") == [(f"{HOME}/data",)]
        assert not [p for p in suan.storage_fake.tree if p.startswith(f"{HOME}/data")]
        assert "data" not in [e.name for e in screen.shown]
        assert "Deleted data: 6 entries, 6.0 KiB." in notes.messages()


async def test_delete_marked_entries_lists_each() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_storage(pilot)
        await on_entry(pilot, screen, "$(touch pwned)")
        await pilot.press("space")
        await on_entry(pilot, screen, "-rf")
        await pilot.press("space")
        await pilot.pause()
        assert screen.marked == {f"{HOME}/$(touch pwned)", f"{HOME}/-rf"}
        assert "2 marked" in screen_text(app)
        await pilot.press("delete")
        await settle(pilot)
        box = await dialog_words(pilot, "#confirm-box")
        assert "Delete 2 items?" in box
        assert f"{HOME}/$(touch pwned) (file, 14 B)" in box
        assert f"{HOME}/-rf (file, 15 B)" in box
        assert "In total: 2 entries, 29 B." in box
        await pilot.press("y")
        await settle(pilot)
        assert suan.storage_fake.calls_of("delete_plan") == [
            (f"{HOME}/$(touch pwned)", f"{HOME}/-rf")
        ]
        assert f"{HOME}/-rf" not in suan.storage_fake.tree
        assert not screen.marked


async def test_read_only_refuses_every_write_with_a_toast() -> None:
    suan = FakeStorageSuan(read_only=True)
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        notes = record(app)
        await on_entry(pilot, screen, "notes.txt")
        for key in ("m", "r", "d", "c", "M", "u"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen, f"{key} opened a dialog in read-only mode"
        words = notes.messages()
        for what in ("creating directories", "renaming", "deleting", "copying data"):
            assert f"Read-only mode: {what} is disabled" in words
        assert "moving data" in words and "uploading" in words
        assert notes.bells == 6
        writes = ("mkdir", "rename", "delete_plan", "delete")
        assert not [c for c in suan.storage_fake.calls if c[0] in writes]
        assert not suan.transfers_fake.calls_of("copy")
        assert "· read-only" in screen_text(app)


async def test_copy_to_cold_storage_prefills_and_explains() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_storage(pilot)
        notes = record(app)
        await on_entry(pilot, screen, "data")
        await pilot.press("c")
        await pilot.pause()
        dialog = await dialog_words(pilot, "#storage-dialog")
        assert "Copy data to" in dialog
        assert "Cold destination /vault" in dialog
        assert "data, sydata" in dialog
        assert getattr(app.screen.query_one("#storage-dialog-input"), "value", None) == VAULT
        await pilot.press("enter")
        await settle(pilot)
        assert suan.transfers_fake.calls_of("copy") == [((f"{HOME}/data",), VAULT, False)]
        assert "Transfer 20260511-091100-0000011 (copy) started on data" in notes.messages()


async def test_move_from_a_subdirectory_keeps_the_relative_path() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        await on_entry(pilot, screen, "data")
        await pilot.press("enter")
        await settle(pilot)
        await on_entry(pilot, screen, "sub")
        await pilot.press("M")
        await pilot.pause()
        assert getattr(app.screen.query_one("#storage-dialog-input"), "value", None) == (
            f"{VAULT}/data"
        )
        await pilot.press("enter")
        await settle(pilot)
        assert suan.transfers_fake.calls_of("copy") == [
            ((f"{HOME}/data/sub",), f"{VAULT}/data", True)
        ]


async def test_upload_and_download(tmp_path: Path) -> None:
    local = tmp_path / "局部 file.txt"
    local.write_bytes(b"uploaded\n")
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        await pilot.press("u")
        await pilot.pause()
        await pilot.press(*str(local), "enter")
        await settle(pilot)
        assert suan.storage_fake.tree[f"{HOME}/局部 file.txt"].content == b"uploaded\n"
        registry = LocalTransfers.of(app)
        assert [(e.kind, e.state, e.done) for e in registry.entries] == [("upload", "finished", 9)]
        await on_entry(pilot, screen, "notes.txt")
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("ctrl+u", *str(tmp_path), "enter")
        await settle(pilot)
        assert (tmp_path / "notes.txt").read_bytes().startswith(b"[bold red]pwn[/]")
        assert registry.entries[0].kind == "download"
        assert registry.entries[0].state == "finished"


async def test_failed_upload_is_reported_and_recorded(tmp_path: Path) -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await open_storage(pilot)
        notes = record(app)
        await pilot.press("u")
        await pilot.pause()
        await pilot.press(*str(tmp_path / "missing"), "enter")
        await settle(pilot)
        entry = LocalTransfers.of(app).entries[0]
        assert entry.state == "failed"
        assert "no such file" in entry.message
        assert "Uploading failed" in notes.messages()


async def test_listing_and_quota_failures_are_shown() -> None:
    suan = FakeStorageSuan()
    suan.storage_fake.fail["quotas"] = ApiError("The HPC API failed (session ID 7f3a).")
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_storage(pilot)
        assert "The HPC API failed (session ID 7f3a)." in screen_text(app)
        notes = record(app)
        suan.storage_fake.fail["list_dir"] = RemoteCommandError("Cannot list: connection lost")
        await on_entry(pilot, screen, "run dir")
        await pilot.press("enter")
        await settle(pilot)
        assert "Cannot list: connection lost" in notes.messages()
        assert "Cannot list this directory" in preview_of(screen)
        await pilot.press("backspace")
        await settle(pilot)
        assert screen.path == HOME and not screen.problem


# --- transfers ---------------------------------------------------------------------------------


async def test_transfers_list_states_and_detail() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_transfers(pilot)
        assert [r.state for r in screen.rows] == ["running", "finished", "failed"]
        text = screen_text(app)
        assert "3 transfers · 1 running · 1 failed · 1 finished" in text
        assert "███▋░░░░  45%  95.37MB/s   0:10:27" in text
        assert suan.transfers_fake.calls_of("list") == [True], "the first load reads the nodes"
        screen.table.move_cursor(row=2, animate=False)
        await pilot.pause()
        detail = str(screen.query_one("#transfers-detail", Static).render())
        assert "failed (exit 23)" in detail
        assert f"from {HOME}/$(touch pwned)" in detail
        assert "link_stat failed" in detail and "\x1b" not in detail
        await pilot.press("r")
        await settle(pilot)
        assert suan.transfers_fake.calls_of("list") == [True, True]


async def test_transfers_refresh_on_a_rearmed_timer() -> None:
    suan = FakeStorageSuan(refresh=1.0)
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        await open_transfers(pilot)
        await until(
            pilot, lambda: len(suan.transfers_fake.calls_of("list")) >= 2, what="a timer refresh"
        )
        assert suan.transfers_fake.calls_of("list")[:2] == [True, False]


async def test_cancel_a_running_transfer_after_confirmation() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_transfers(pilot)
        notes = record(app)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmTransferCancelScreen)
        box = await dialog_words(pilot, "#confirm-box")
        assert "Cancel transfer 20260511-090300-000003?" in box
        assert f"from {HOME}/data" in box
        assert "rsync stops" in box
        await pilot.press("n")
        await settle(pilot)
        assert not suan.transfers_fake.calls_of("cancel")
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert suan.transfers_fake.calls_of("cancel") == ["20260511-090300-000003"]
        assert "Transfer 20260511-090300-000003 is now cancelled." in notes.messages()
        assert [r.state for r in screen.rows] == ["cancelled", "finished", "failed"]
        screen.table.move_cursor(row=1)
        await pilot.press("x")
        await pilot.pause()
        assert top(app) is screen
        assert "is finished: nothing to stop" in notes.messages()


async def test_forget_finished_but_not_running() -> None:
    suan = FakeStorageSuan()
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_transfers(pilot)
        notes = record(app)
        await pilot.press("F")
        await pilot.pause()
        assert "still running: cancel it first (x)" in notes.messages()
        assert not suan.transfers_fake.calls_of("forget")
        screen.table.move_cursor(row=1)
        await pilot.press("F")
        await settle(pilot)
        assert suan.transfers_fake.calls_of("forget") == ["20260511-090200-000002"]
        assert [r.state for r in screen.rows] == ["running", "failed"]
        assert "Forgot transfer 20260511-090200-000002." in notes.messages()


async def test_transfers_read_only_refuses() -> None:
    suan = FakeStorageSuan(read_only=True)
    app = storage_app(suan)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_transfers(pilot)
        notes = record(app)
        await pilot.press("x")
        await pilot.pause()
        screen.table.move_cursor(row=1)
        await pilot.press("F")
        await pilot.pause()
        assert app.screen is screen
        assert "cancelling transfers is disabled" in notes.messages()
        assert "forgetting transfers is disabled" in notes.messages()
        assert not suan.transfers_fake.calls_of("cancel")
        assert not suan.transfers_fake.calls_of("forget")


async def test_local_upload_progress_shows_and_can_be_cancelled(tmp_path: Path) -> None:
    local = tmp_path / "big.dat"
    local.write_bytes(b"x" * 4096)
    suan = FakeStorageSuan()
    suan.transfers_fake.upload_gate = asyncio.Event()
    app = storage_app(suan)
    async with app.run_test(size=BIG) as pilot:
        await open_storage(pilot)
        await pilot.press("u")
        await pilot.pause()
        await pilot.press(*str(local), "enter")
        registry = LocalTransfers.of(app)
        await until(pilot, lambda: bool(registry.entries) and registry.entries[0].done == 2048)
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, TransfersScreen), what="view 5")
        screen = app.screen
        assert isinstance(screen, TransfersScreen)
        await until(pilot, lambda: "local:up-1" in [r.key for r in screen.rows], what="the row")
        assert screen.rows[0].key == "local:up-1", "running transfers first, this one newest"
        await until(pilot, lambda: " 50%" in screen_text(app), what="the progress bar")
        screen.table.move_cursor(row=0)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmTransferCancelScreen)
        assert ".part file stays" in await dialog_words(pilot, "#confirm-box")
        await pilot.press("y")
        await until(pilot, lambda: registry.entries[0].state == "cancelled", what="cancelled")
        await settle(pilot)
        assert f"{HOME}/big.dat" not in suan.storage_fake.tree
        await until(
            pilot,
            lambda: any(r.state == "cancelled" and r.local for r in screen.rows),
            what="the cancelled row",
        )
        row = next(r for r in screen.rows if r.local)
        screen.table.move_cursor(row=screen.rows.index(row))
        await pilot.press("F")
        await pilot.pause()
        assert not registry.entries


# --- snapshots ---------------------------------------------------------------------------------


def storage_at(entry_name: str | None = None, *keys: str) -> Before:
    async def before(pilot: Pilot[Any]) -> None:
        screen = await open_storage(pilot)
        if entry_name is not None:
            await on_entry(pilot, screen, entry_name)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return before


async def _transfers_with_a_local_upload(pilot: Pilot[Any]) -> None:
    registry = LocalTransfers.of(pilot.app)
    registry.monotonic = lambda: 100.0
    registry.wall = lambda: NOW.timestamp()
    registry.start("upload", "/home/me/训练 data.tar", f"{HOME}/incoming")
    registry.entries[0].started = 90.0
    registry.progress(registry.entries[0])(3 * 1024**2, 8 * 1024**2)
    await open_transfers(pilot)


def test_snapshot_storage(snap_compare: Snap) -> None:
    assert snap_compare(storage_app(), terminal_size=SIZE, run_before=storage_at("notes.txt"))


def test_snapshot_storage_wide(snap_compare: Snap) -> None:
    assert snap_compare(storage_app(), terminal_size=BIG, run_before=storage_at("notes.txt"))


def test_snapshot_storage_delete_confirmation(snap_compare: Snap) -> None:
    before = storage_at("data", "d")
    assert snap_compare(storage_app(), terminal_size=SIZE, run_before=before)


def test_snapshot_storage_cold_mkdir(snap_compare: Snap) -> None:
    before = storage_at(None, "right_square_bracket", "right_square_bracket", "m")
    assert snap_compare(storage_app(), terminal_size=BIG, run_before=before)


def test_snapshot_transfers(snap_compare: Snap) -> None:
    assert snap_compare(
        storage_app(), terminal_size=SIZE, run_before=_transfers_with_a_local_upload
    )


def test_snapshot_transfers_wide(snap_compare: Snap) -> None:
    assert snap_compare(storage_app(), terminal_size=BIG, run_before=_transfers_with_a_local_upload)


# --- live: the explorer over the real facade on the testbed ----------------------------------


def listed(screen: StorageScreen, path: str) -> bool:
    """``path`` is in the screen's listing."""
    return path in [e.path for e in screen.entries]


def idle(screen: StorageScreen) -> bool:
    """No worker of the screen is running."""
    return not any(w.node is screen and w.is_running for w in screen.app.workers)


def gone(screen: StorageScreen, path: str) -> bool:
    """``path`` left the listing and the screen is idle."""
    return not listed(screen, path) and idle(screen)


@pytest.fixture(scope="module")
def live_profile_in(testbed: TestbedEnv, tmp_path_factory: pytest.TempPathFactory) -> Profile:
    """hpcuser logged in for real (password, approval through the stand-in, certificate)."""
    from tests.integration.conftest import live_profile, login

    profile = live_profile(testbed, tmp_path_factory.mktemp("suan-tui-storage"))
    asyncio.run(login(testbed, profile))
    return profile


@pytest.mark.testbed
async def test_live_mkdir_and_delete_in_hot_and_cold_pools(live_profile_in: Profile) -> None:
    from core.service import Suan

    suan = Suan(live_profile_in)
    tag = uuid.uuid4().hex[:8]
    name = f"-tui $(touch x) 训练 [b]{tag} 'q'"
    made: list[str] = []
    app = StorageHostApp(suan, clock=FakeClock())
    try:
        async with app.run_test(size=BIG) as pilot:
            await until(pilot, lambda: app.logged_in, timeout=30, what="the app")
            await pilot.press("4")
            await until(pilot, lambda: isinstance(app.screen, StorageScreen), what="view 4")
            screen = app.screen
            assert isinstance(screen, StorageScreen)
            notes = record(app)
            home = await suan.home()
            await until(
                pilot, lambda: screen.path == home and bool(screen.pools), timeout=30, what="home"
            )
            assert [p.mount for p in screen.pools] == [
                "/lustre", "/dssg", "/archive", "/vault", "/union"
            ]  # fmt: skip
            for pool_step in (0, 2):  # hot /lustre, then cold /archive (through a data node)
                for _ in range(pool_step):
                    await pilot.press("right_square_bracket")
                await until(
                    pilot,
                    lambda: (
                        screen.pool is not None
                        and screen.path == screen.pool.personal_dir
                        and idle(screen)
                    ),
                    timeout=30,
                    what="the pool's directory",
                )
                pool = screen.pool
                assert pool is not None
                path = f"{screen.path}/{name}"
                made.append(path)
                await pilot.press("m")
                words = await dialog_words(pilot, "#storage-dialog")
                assert ("read-only on the login nodes" in words) == (pool.kind != "hot")
                await pilot.press(*name, "enter")
                await until(
                    pilot,
                    partial(listed, screen, path),
                    timeout=30,
                    what=f"the new directory in {pool.mount} ({notes.messages()})",
                )
                assert name in screen_text(app), "the name is shown literally"
                put_cursor(screen, name)
                await pilot.press("d")
                words = await dialog_words(pilot, "#confirm-box")
                assert "Delete 1 item?" in words
                assert "(directory, 0 entries inside" in words
                confirm = top(app)
                assert isinstance(confirm, ConfirmDeleteScreen)
                assert confirm.plan.paths == (path,)
                await pilot.press("y")
                await until(
                    pilot,
                    partial(gone, screen, path),
                    timeout=30,
                    what="the directory gone",
                )
                assert not await (await suan.storage()).exists(path)
                made.remove(path)
    finally:
        storage = await suan.storage()
        for path in made:
            if await storage.exists(path):
                await storage.delete(await storage.delete_plan([path]))
        await suan.close()
