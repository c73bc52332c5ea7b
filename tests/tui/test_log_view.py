"""LogView: opens at the end, follows, searches, wraps, jumps to errors, keeps colours."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.color import Color
from rich.style import Style
from textual.binding import Binding
from textual.pilot import Pilot

from core.logs import MemoryFileAccess, RemoteFile
from tests.tui.hosts.log_view_host import LOG_PATH, LogViewHost
from widgets.ansi import SgrState, ansi_text, apply_sgr
from widgets.log_view import LogView

SIZE = (80, 24)
ESC = "\x1b"


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 10.0
) -> None:
    """Poll *condition* while the app runs; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.01)


def screen(view: LogView) -> list[str]:
    return [view.render_line(y).text.rstrip() for y in range(view.scrollable_content_region.height)]


def numbered(count: int, prefix: str = "line") -> bytes:
    return "".join(f"{prefix} {i} 训练\n" for i in range(count)).encode()


async def loaded(pilot: Pilot[Any], app: LogViewHost) -> LogView:
    view = app.view
    await wait_until(pilot, lambda: view.loaded or view.error is not None)
    await pilot.pause()
    return view


# --- ansi -------------------------------------------------------------------------------------


def test_apply_sgr_colours_and_attributes() -> None:
    state = apply_sgr(SgrState(), (1, 31))
    assert state.bold
    assert state.color == Color.from_ansi(1)
    state = apply_sgr(state, (22, 39, 44))
    assert not state.bold
    assert state.color is None
    assert state.bgcolor == Color.from_ansi(4)
    assert apply_sgr(state, (0,)) == SgrState()
    assert apply_sgr(SgrState(), (38, 5, 196)).color == Color.from_ansi(196)
    assert apply_sgr(SgrState(), (48, 2, 1, 2, 3)).bgcolor == Color.from_rgb(1, 2, 3)
    assert apply_sgr(SgrState(), (92,)).color == Color.from_ansi(10)
    assert apply_sgr(SgrState(), (103,)).bgcolor == Color.from_ansi(11)
    assert apply_sgr(SgrState(), (2, 3, 4, 7, 9)) == SgrState(
        dim=True, italic=True, underline=True, reverse=True, strike=True
    )
    undone = apply_sgr(
        SgrState(italic=True, underline=True, reverse=True, strike=True), (23, 24, 27, 29)
    )
    assert undone == SgrState()
    # Truncated extended colours and blink/conceal change nothing.
    assert apply_sgr(SgrState(), (38, 5)) == SgrState()
    assert apply_sgr(SgrState(), (5, 8)) == SgrState()
    assert apply_sgr(SgrState(), (58, 5, 1, 1)) == SgrState(bold=True)


def test_ansi_text_is_never_markup() -> None:
    text = ansi_text(f"[bold]x[/] {ESC}[31mred{ESC}[0m {ESC}[2Jplain\x07 10%\r100%")
    assert text.plain == "100%d]x[/] red plain^G 10%"
    red = [span for span in text.spans if text.plain[span.start : span.end] == "red"]
    assert red
    assert isinstance(red[0].style, Style)
    assert red[0].style.color == Color.from_ansi(1)
    assert "[bold]" in ansi_text("[bold]x[/]").plain


# --- opening --------------------------------------------------------------------------------


async def test_opens_at_the_end_reading_only_the_tail() -> None:
    content = numbered(2_000_000)  # ~38 MB
    app = LogViewHost(content)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        shown = screen(view)
        assert shown[-1] == "line 1999999 训练"
        assert shown[0] == f"line {2_000_000 - len(shown)} 训练"
        assert app.access.bytes_read <= 2 * RemoteFile.CHUNK_SIZE
        assert not view.remote.fully_indexed  # type: ignore[union-attr]
        status = app.statuses[-1]
        assert status.line == view.line_count - len(shown) + 1
        assert not status.complete


async def test_scrolling_up_indexes_more_and_keeps_the_text_in_place() -> None:
    app = LogViewHost(numbered(20_000), chunk_size=2048)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        known = view.line_count
        assert known < 20_000
        await pilot.press("pageup")
        await wait_until(pilot, lambda: "…" not in screen(view))
        top_text = screen(view)[0]
        for _ in range(5):
            await pilot.press("pageup")
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: "…" not in screen(view))
        assert view.line_count > known
        number = int(screen(view)[0].split()[1])
        assert number == int(top_text.split()[1]) - 5 * (view.scrollable_content_region.height)
        # g indexes everything (in a worker) and goes to the top; G back to the end.
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: screen(view)[0] == "line 0 训练")
        assert view.remote is not None
        assert view.remote.fully_indexed
        assert app.statuses[-1].complete
        assert app.statuses[-1].line == 1
        await pilot.press("G")
        await wait_until(pilot, lambda: screen(view)[-1] == "line 19999 训练")
        assert app.statuses[-1].total_lines_known == 20_000


async def test_a_missing_file_shows_an_error() -> None:
    app = LogViewHost(remote=RemoteFile(MemoryFileAccess(), "/nope/[bold]x[/].out"))
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        assert isinstance(view.error, KeyError)
        assert app.failures
        first = view.render_line(0).text
        assert first.startswith("Cannot read /nope/[bold]x[/].out")


async def test_empty_file() -> None:
    app = LogViewHost(b"")
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        assert view.line_count == 0
        assert all(line == "" for line in screen(view))


# --- colours and nasty text -------------------------------------------------------------------


async def test_colours_kept_other_escapes_neutralised() -> None:
    content = (
        f"{ESC}[31mERROR{ESC}[0m red word\n"
        f"{ESC}[2J{ESC}[Hcleared? no\n"
        f"{ESC}]0;title\x07osc gone\n"
        "[bold]markup[/bold] stays literal\n"
        "epoch 1 10%\r epoch 1 100%\n"
        "tab\there bell\x07\n"
        "训练作业 CJK\n"
    ).encode()
    app = LogViewHost(content)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        strips = [view.render_line(y) for y in range(7)]
        texts = [strip.text.rstrip() for strip in strips]
        assert texts == [
            "ERROR red word",
            "cleared? no",
            "osc gone",
            "[bold]markup[/bold] stays literal",
            " epoch 1 100%",
            "tab     here bell^G",
            "训练作业 CJK",
        ]
        for strip in strips:
            assert strip.cell_length == view.scrollable_content_region.width
            assert all("\x1b" not in segment.text for segment in strip)
        error = next(segment for segment in strips[0] if segment.text == "ERROR")
        assert error.style is not None
        assert error.style.color == Color.from_ansi(1)
        plain = next(segment for segment in strips[0] if "red word" in segment.text)
        assert plain.style is not None
        assert plain.style.color != Color.from_ansi(1)


# --- follow -------------------------------------------------------------------------------------


async def test_follow_appends_and_stays_at_the_end() -> None:
    app = LogViewHost(numbered(100), follow=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        assert app.statuses[-1].following
        app.access.append(LOG_PATH, b"new line one\nnew line tw")
        await wait_until(pilot, lambda: screen(view)[-1] == "new line tw")
        app.access.append(LOG_PATH, b"o\nthree\n")
        await wait_until(pilot, lambda: screen(view)[-2:] == ["new line two", "three"])
        assert view.line_count == 103
        # f stops following: appended data is not read any more.
        await pilot.press("f")
        assert not view.following
        reads = app.access.reads
        app.access.append(LOG_PATH, b"unseen\n")
        await pilot.pause(0.1)
        assert screen(view)[-1] == "three"
        assert app.access.reads == reads
        await pilot.press("f")
        await wait_until(pilot, lambda: screen(view)[-1] == "unseen")
        # Scrolling up stops following.
        await pilot.press("up")
        assert not view.following
        assert not app.statuses[-1].following


async def test_follow_survives_truncation() -> None:
    app = LogViewHost(numbered(50), follow=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        app.access.write(LOG_PATH, b"restarted\n")
        await wait_until(pilot, lambda: screen(view)[0] == "restarted")
        assert view.line_count == 1
        assert screen(view)[1:] == [""] * (len(screen(view)) - 1)


# --- search and errors ----------------------------------------------------------------------


async def test_find_next_previous_and_highlight() -> None:
    content = numbered(500) + b"the Needle here\n" + numbered(500, "more") + b"needle again\n"
    app = LogViewHost(content, chunk_size=1024)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        # From the screen (the end of the file) forwards: the match on screen first.
        assert await view.find("needle")
        assert view.current_match is not None
        assert view.current_match.text == "needle again"
        await pilot.press("n")  # wraps around to the top
        await app.workers.wait_for_complete()
        match = view.current_match
        assert match is not None
        assert match.text == "the Needle here"
        await wait_until(pilot, lambda: "the Needle here" in screen(view))
        row = next(y for y, text in enumerate(screen(view)) if text == "the Needle here")
        strip = view.render_line(row)
        highlight = view.get_component_rich_style("log-view--match")
        hit = [segment for segment in strip if segment.text == "Needle"]
        assert hit
        assert hit[0].style is not None
        assert hit[0].style.bgcolor == highlight.bgcolor
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert view.current_match is not None
        assert view.current_match.text == "needle again"
        assert "needle again" in screen(view)
        await pilot.press("N")
        await app.workers.wait_for_complete()
        assert view.current_match.text == "the Needle here"
        await pilot.press("N")  # backwards over the top: from the end again
        await app.workers.wait_for_complete()
        assert view.current_match.text == "needle again"
        assert not await view.find("NEEDLE")  # capitals: case-sensitive
        assert not await view.find("absent")
        assert await view.find("line 3 ")
        assert view.current_match.text == "line 3 训练"


async def test_jump_to_first_error() -> None:
    content = numbered(3000) + b"Traceback (most recent call last):\n" + numbered(3000, "after")
    app = LogViewHost(content, chunk_size=4096)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        await pilot.press("e")
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: "Traceback (most recent call last):" in screen(view))
        assert view.current_match is not None
        assert view.current_match.text.startswith("Traceback")
        clean = LogViewHost(numbered(10))
        async with clean.run_test(size=SIZE) as other:
            other_view = await loaded(other, clean)
            assert not await other_view.jump_to_first_error()


# --- wrap -----------------------------------------------------------------------------------------


async def test_wrap_toggle() -> None:
    long_line = "x" * 150 + "训" * 20 + "END"
    content = f"short\n{long_line}\nlast\n".encode()
    app = LogViewHost(content)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        width = view.scrollable_content_region.width
        assert screen(view)[:3] == ["short", "x" * width, "last"]
        assert view.virtual_size.width > width
        await pilot.press("w")
        assert view.wrap
        assert app.statuses[-1].wrap
        shown = screen(view)
        assert shown[0] == "short"
        assert shown[1] == "x" * width
        assert "".join(shown[1:4]).replace(" ", "").endswith("END")
        assert shown[4] == "last"
        for y in range(6):
            assert view.render_line(y).cell_length == width
        await pilot.press("w")
        assert screen(view)[:3] == ["short", "x" * width, "last"]


async def test_wrap_at_the_bottom_shows_the_last_line_whole() -> None:
    content = numbered(200) + ("y" * 400 + "TAIL").encode() + b"\n"
    app = LogViewHost(content, wrap=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await loaded(pilot, app)
        shown = screen(view)
        assert shown[-1].endswith("TAIL")
        assert shown[-7] == "line 199 训练"


async def test_bindings_have_ids() -> None:
    ids = {binding.id for binding in LogView.BINDINGS if isinstance(binding, Binding)}
    assert {"log_view.wrap", "log_view.follow", "log_view.first_error"} <= ids


# --- snapshots ---------------------------------------------------------------------------------

SNAPSHOT_LOG = (
    "".join(f"{ESC}[32mINFO{ESC}[0m step {i:4d} loss={1 / (i + 1):.4f}\n" for i in range(40))
    + f"{ESC}[33mWARN{ESC}[0m [bold]not markup[/bold] {ESC}[2J still here\n"
    + "训练作业 | 进度 10%\r训练作业 | 进度 100%\n"
    + f"{ESC}[1;31mERROR{ESC}[0m CUDA out of memory\n"
    + f"{ESC}[38;5;208mcolour 208{ESC}[0m {ESC}[48;2;40;40;120mtruecolour bg{ESC}[0m\n"
)


def test_snapshot_log_end_with_colours(snap_compare: Any) -> None:
    assert snap_compare(LogViewHost(SNAPSHOT_LOG.encode()), terminal_size=SIZE, run_before=_loaded)


def test_snapshot_log_search_highlight(snap_compare: Any) -> None:
    async def search(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        view = pilot.app.query_one(LogView)
        assert await view.find("step   1")

    assert snap_compare(LogViewHost(SNAPSHOT_LOG.encode()), terminal_size=SIZE, run_before=search)


async def _loaded(pilot: Pilot[Any]) -> None:
    view = pilot.app.query_one(LogView)
    await wait_until(pilot, lambda: view.loaded)
    await pilot.pause()


def test_snapshot_log_wrapped(snap_compare: Any) -> None:
    content = SNAPSHOT_LOG + "z" * 170 + "训练作业结束\n"
    assert snap_compare(
        LogViewHost(content.encode(), wrap=True), terminal_size=SIZE, run_before=_loaded
    )
