"""A log viewer for files of any size behind a :class:`core.logs.RemoteFile`.

Modelled on toolong: it opens at the end (the tail is found by reading backwards, so
the last screen of a 1 GB log shows at once), the line index grows upwards in a worker
only as the user scrolls up, lines are read by range on demand and rendered through
LRU caches of ``Text`` and ``Strip`` keyed by byte offset (line numbers move when the
index grows upwards; offsets do not).

Log text is data: SGR colours are kept (:mod:`widgets.ansi`), every other escape is
neutralised and control characters shown, and carriage-return progress bars are
collapsed to their final state.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker

from core.logs import ERROR_RE, LogMatch, RemoteFile
from core.safetext import clean_line
from widgets.ansi import ansi_text

__all__ = ["LogView"]


def _search_regex(text: str) -> re.Pattern[str]:
    # Smart case, as in less and vim.
    flags = re.IGNORECASE if text == text.lower() else 0
    return re.compile(re.escape(text), flags)


class LogView(ScrollView, can_focus=True):
    """Scroll, follow, wrap and search a (remote, possibly huge) log file."""

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        & > .log-view--match {
            background: $warning 70%;
            color: $text;
        }
        & > .log-view--current-line {
            background: $accent 35%;
        }
        & > .log-view--placeholder {
            color: $text-muted;
        }
        & > .log-view--error {
            color: $error;
            text-style: bold;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--match",
        "log-view--current-line",
        "log-view--placeholder",
        "log-view--error",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "toggle_wrap", "Wrap", id="log_view.wrap"),
        Binding("f", "toggle_follow", "Follow", id="log_view.follow"),
        Binding("n", "next_match", "Next", id="log_view.next_match"),
        Binding("N", "previous_match", "Previous", show=False, id="log_view.previous_match"),
        Binding("e", "first_error", "First error", id="log_view.first_error"),
        Binding("g,home", "top", "Top", show=False, id="log_view.top"),
        Binding("G,end", "bottom", "Bottom", show=False, id="log_view.bottom"),
        Binding("up,k", "scroll_up", "Up", show=False, id="log_view.up"),
        Binding("down,j", "scroll_down", "Down", show=False, id="log_view.down"),
        Binding("pageup,b", "page_up", "Page up", show=False, id="log_view.page_up"),
        Binding("pagedown,space", "page_down", "Page down", show=False, id="log_view.page_down"),
    ]

    class StatusChanged(Message):
        """Where the view is: for a status bar. Only sent when something changed."""

        def __init__(
            self,
            log_view: LogView,
            line: int,
            total_lines_known: int,
            following: bool,
            wrap: bool,
            complete: bool = False,
        ) -> None:
            super().__init__()
            self.log_view = log_view
            self.line = line
            """1-based index of the top line on screen among the lines known."""
            self.total_lines_known = total_lines_known
            self.following = following
            self.wrap = wrap
            self.complete = complete
            """True once the whole file is indexed: ``line`` is then the line number."""

        @property
        def control(self) -> LogView:
            """The view that sent this."""
            return self.log_view

    class Failed(Message):
        """Reading the file failed (missing file, lost connection, ...)."""

        def __init__(self, log_view: LogView, error: Exception) -> None:
            super().__init__()
            self.log_view = log_view
            self.error = error

        @property
        def control(self) -> LogView:
            """The view that sent this."""
            return self.log_view

    following: reactive[bool] = reactive(False, init=False)
    """Poll the file for new data and stay at its end."""
    wrap: reactive[bool] = reactive(False, init=False)
    """Wrap long lines instead of scrolling sideways."""

    TAIL_SCREENS = 3
    """Screens of lines read when opening: enough to scroll a little before indexing."""

    def __init__(
        self,
        remote: RemoteFile | None = None,
        *,
        follow: bool = False,
        wrap: bool = False,
        interval: float = 1.0,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._remote = remote
        self._interval = interval
        self._texts: LRUCache[int, Text] = LRUCache(8192)
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(4096)
        self._wrapped: LRUCache[tuple[object, ...], list[Strip]] = LRUCache(2048)
        self._layout_key: tuple[object, ...] | None = None
        self._layout_rows: list[Strip | None] = []
        self._max_width = 0
        self._data_version = 0
        self._loaded = False
        self._error: Exception | None = None
        self._stick_end = True
        self._tail_offset: int | None = None
        self._fetch_pending = False
        self._fetch_worker: Worker[None] | None = None
        self._extend_worker: Worker[None] | None = None
        self._search_text = ""
        self._search: re.Pattern[str] | None = None
        self._search_gen = 0
        self._current: LogMatch | None = None
        self._last_status: tuple[int, int, bool, bool, bool] | None = None
        self._bottom_line_count = 0  # logical lines on screen when wrapped at the bottom
        self.set_reactive(LogView.following, follow)
        self.set_reactive(LogView.wrap, wrap)

    # --- public API -------------------------------------------------------------------

    @property
    def remote(self) -> RemoteFile | None:
        """The file shown."""
        return self._remote

    @property
    def loaded(self) -> bool:
        """True once the tail has been read and shown."""
        return self._loaded

    @property
    def error(self) -> Exception | None:
        """The last read error, if reading failed."""
        return self._error

    @property
    def line_count(self) -> int:
        """Lines known so far."""
        return self._remote.line_count if self._remote is not None else 0

    @property
    def top_line(self) -> int:
        """Index (among the known lines) of the line at the top of the screen."""
        if self.wrap and self._layout_rows and self._at_bottom():
            return max(0, self.line_count - self._screen_lines_at_bottom())
        return self.scroll_offset.y

    @property
    def current_match(self) -> LogMatch | None:
        """The line the last search or error jump landed on."""
        return self._current

    def open(self, remote: RemoteFile) -> None:
        """Show another file (from its end)."""
        self.workers.cancel_node(self)
        self._remote = remote
        self._reset_view()
        if self.is_mounted:
            self._start_loading()

    async def find(self, text: str, backwards: bool = False) -> bool:
        """Search for *text* from the current match (or the screen), wrapping around.

        Smart case: lower-case text matches either case. The matching line becomes the
        current line and is scrolled to; every occurrence on screen is highlighted.
        """
        remote = self._remote
        if remote is None or not text:
            return False
        if text != self._search_text:
            self._search_text = text
            self._search = _search_regex(text)
            self._search_gen += 1
            self._current = None  # a new search starts from the screen
        origin = self._search_origin(backwards)
        # The text, not the compiled regex: RemoteFile skips chunks without it quickly.
        match = await remote.find(text, origin, backwards)
        if match is None:
            # Wrap around, like vim: the rest of the file from the other end.
            if backwards:
                match = await remote.find(text, max(remote.end, origin), True, stop=origin)
            else:
                match = await remote.find(text, 0, stop=origin)
        if match is None:
            self.refresh()
            return False
        await self._go_to_match(match)
        return True

    async def jump_to_first_error(self) -> bool:
        """Scroll to the first line matching :data:`core.logs.ERROR_PATTERNS`."""
        remote = self._remote
        if remote is None:
            return False
        match = await remote.find(ERROR_RE, 0)
        if match is None:
            return False
        await self._go_to_match(match)
        return True

    # --- loading ----------------------------------------------------------------------

    def on_mount(self) -> None:
        if self._remote is not None:
            self._start_loading()

    def _start_loading(self) -> None:
        self.run_worker(self._load_tail(), group="log_open", exclusive=True, exit_on_error=False)

    def _reset_view(self) -> None:
        self._texts.clear()
        self._strips.clear()
        self._wrapped.clear()
        self._layout_key = None
        self._max_width = 0
        self._loaded = False
        self._error = None
        self._stick_end = True
        self._tail_offset = None
        self._current = None
        self._data_changed()

    async def _load_tail(self) -> None:
        remote = self._remote
        assert remote is not None
        count = max(50, self.scrollable_content_region.height * self.TAIL_SCREENS)
        try:
            lines = await remote.tail_lines(count)
        except Exception as error:  # any transport error ends up on screen, not in a crash
            self._fail(error)
            return
        first = remote.line_count - len(lines)
        for index, line in enumerate(lines, start=first):
            self._store(remote.line_start(index), line)
        self._remember_tail()
        self._loaded = True
        self._data_changed()
        self._scroll_to_end()
        self.refresh()
        self._post_status()
        if self.following:
            self._start_following()
        self._maybe_extend()

    def _fail(self, error: Exception) -> None:
        self._error = error
        self.set_reactive(LogView.following, False)
        self.workers.cancel_group(self, "log_follow")
        self.refresh()
        self.post_message(self.Failed(self, error))
        self._post_status()

    def _store(self, offset: int, line: str) -> None:
        text = ansi_text(line)
        self._texts[offset] = text
        width = text.cell_len
        if width > self._max_width:
            self._max_width = width

    def _remember_tail(self) -> None:
        remote = self._remote
        if remote is not None and remote.line_count:
            self._tail_offset = remote.line_start(remote.line_count - 1)

    def _data_changed(self) -> None:
        self._data_version += 1
        self._layout_key = None
        self._update_virtual_size()

    def _update_virtual_size(self) -> None:
        width = self.scrollable_content_region.width if self.is_mounted else 0
        lines = self.line_count
        if self.wrap:
            self.virtual_size = Size(width, lines)
        else:
            self.virtual_size = Size(max(self._max_width, width), lines)

    def _scroll_to_end(self) -> None:
        self._stick_end = True
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
        self._layout_key = None

    # --- fetching lines on demand -------------------------------------------------------

    def _visible_range(self) -> tuple[int, int]:
        height = max(1, self.scrollable_content_region.height)
        count = self.line_count
        if self.wrap and self._at_bottom():
            return max(0, count - 2 * height), count
        top = self.scroll_offset.y
        return max(0, top - height), min(count, top + 2 * height)

    def _want_lines(self) -> None:
        if not self._fetch_pending:
            self._fetch_pending = True
            self.call_later(self._start_fetch)

    def _start_fetch(self) -> None:
        self._fetch_pending = False
        if self._fetch_worker is not None and self._fetch_worker.is_running:
            return
        self._fetch_worker = self.run_worker(
            self._fetch_visible(), group="log_fetch", exit_on_error=False
        )

    async def _fetch_visible(self) -> None:
        remote = self._remote
        if remote is None:
            return
        first, last = self._visible_range()
        runs: list[list[tuple[int, int]]] = []
        previous = -2
        for index in range(first, last):
            span = remote.line_span(index)
            if span[0] in self._texts:
                continue
            if index != previous + 1 or not runs:
                runs.append([])
            runs[-1].append(span)
            previous = index
        if not runs:
            return
        try:
            for spans in runs:
                lines = await remote.read_spans(spans)
                for (offset, _), line in zip(spans, lines, strict=True):
                    self._store(offset, line)
        except Exception as error:  # shown, not raised: the view stays usable
            self._fail(error)
            return
        self._data_changed()
        self.refresh()

    # --- growing the index upwards ------------------------------------------------------

    def _maybe_extend(self) -> None:
        remote = self._remote
        if remote is None or not self._loaded or remote.fully_indexed:
            return
        height = max(1, self.scrollable_content_region.height)
        if self.scroll_offset.y > 2 * height:
            return
        if self._extend_worker is not None and self._extend_worker.is_running:
            return
        self._extend_worker = self.run_worker(
            self._extend(height), group="log_extend", exit_on_error=False
        )

    async def _extend(self, height: int) -> None:
        remote = self._remote
        assert remote is not None
        try:
            added = await remote.extend_up(max(1000, height * 10))
        except Exception as error:  # shown, not raised
            self._fail(error)
            return
        if added:
            self._shift(added)

    def _shift(self, added: int) -> None:
        """Lines were indexed above the window: keep the same text on screen."""
        self._data_changed()
        if not self._stick_end:
            self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True, force=True)
        else:
            self._scroll_to_end()
        self.refresh()
        self._post_status()

    async def _index_all_then(self, to_top: bool) -> None:
        remote = self._remote
        if remote is None:
            return
        try:
            await remote.index_all()
        except Exception as error:  # shown, not raised
            self._fail(error)
            return
        self._data_changed()
        if to_top:
            self.scroll_to(y=0, animate=False, immediate=True, force=True)
        self.refresh()
        self._post_status()

    # --- following ----------------------------------------------------------------------

    def watch_following(self, following: bool) -> None:
        if following:
            self._scroll_to_end()
            if self._loaded:
                self._start_following()
        else:
            self.workers.cancel_group(self, "log_follow")
        self._post_status()

    def _start_following(self) -> None:
        self.run_worker(self._follow(), group="log_follow", exclusive=True, exit_on_error=False)

    async def _follow(self) -> None:
        remote = self._remote
        if remote is None:
            return
        truncations = remote.truncations
        try:
            async for _data in remote.follow(self._interval):
                if remote.truncations != truncations:
                    # Offsets now point into new content: forget everything drawn.
                    truncations = remote.truncations
                    self._texts.clear()
                    self._strips.clear()
                    self._wrapped.clear()
                    self._max_width = 0
                    self._current = None
                elif self._tail_offset is not None:
                    # The last line may have grown: read it again.
                    self._texts.discard(self._tail_offset)
                self._remember_tail()
                self._data_changed()
                if self.following:
                    self._scroll_to_end()
                self._want_lines()
                self.refresh()
                self._post_status()
        except Exception as error:  # shown, not raised
            self._fail(error)

    # --- search helpers -----------------------------------------------------------------

    def _search_origin(self, backwards: bool) -> int:
        remote = self._remote
        assert remote is not None
        if self._current is not None:
            return self._current.offset if backwards else self._current.end + 1
        if remote.line_count == 0:
            return 0
        top = min(self.top_line, remote.line_count - 1)
        return remote.line_start(top)

    async def _go_to_match(self, match: LogMatch) -> None:
        remote = self._remote
        assert remote is not None
        await remote.index_to(match.offset)
        self._current = match
        self._stick_end = False
        self.following = False
        self._data_changed()
        index = remote.line_at_offset(match.offset)
        height = max(1, self.scrollable_content_region.height)
        self.scroll_to(y=max(0, index - height // 3), animate=False, immediate=True, force=True)
        self._layout_key = None
        self._want_lines()
        self.refresh()
        self._post_status()

    # --- status ------------------------------------------------------------------------

    def _post_status(self) -> None:
        remote = self._remote
        complete = remote is not None and remote.fully_indexed
        total = self.line_count
        line = min(self.top_line + 1, total) if total else 0
        status = (line, total, self.following, self.wrap, complete)
        if status != self._last_status:
            self._last_status = status
            self.post_message(self.StatusChanged(self, *status))

    # --- scrolling ---------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._layout_key = None
            self._maybe_extend()
            self._post_status()

    def _user_scrolled_up(self) -> None:
        self._stick_end = False
        if self.following:
            self.following = False

    def action_scroll_up(self) -> None:
        self._user_scrolled_up()
        self.scroll_to(y=self.scroll_y - 1, animate=False, immediate=True, force=True)
        self._maybe_extend()

    def action_scroll_down(self) -> None:
        self.scroll_to(y=self.scroll_y + 1, animate=False, immediate=True, force=True)

    def action_page_up(self) -> None:
        self._user_scrolled_up()
        height = max(1, self.scrollable_content_region.height)
        self.scroll_to(y=self.scroll_y - height, animate=False, immediate=True, force=True)
        self._maybe_extend()

    def action_page_down(self) -> None:
        height = max(1, self.scrollable_content_region.height)
        self.scroll_to(y=self.scroll_y + height, animate=False, immediate=True, force=True)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._user_scrolled_up()
        super()._on_mouse_scroll_up(event)

    def action_top(self) -> None:
        self._user_scrolled_up()
        remote = self._remote
        if remote is not None and not remote.fully_indexed:
            self.run_worker(
                self._index_all_then(True), group="log_extend", exclusive=True, exit_on_error=False
            )
        self.scroll_to(y=0, animate=False, immediate=True, force=True)

    def action_bottom(self) -> None:
        self._scroll_to_end()
        self.refresh()
        self._post_status()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_toggle_follow(self) -> None:
        self.following = not self.following

    def action_next_match(self) -> None:
        if self._search_text:
            self.run_worker(self.find(self._search_text), group="log_search", exclusive=True)

    def action_previous_match(self) -> None:
        if self._search_text:
            self.run_worker(
                self.find(self._search_text, backwards=True), group="log_search", exclusive=True
            )

    def action_first_error(self) -> None:
        self.run_worker(self.jump_to_first_error(), group="log_search", exclusive=True)

    def watch_wrap(self) -> None:
        self._strips.clear()
        self._data_changed()
        if self._stick_end:
            self._scroll_to_end()
        self.refresh()
        self._post_status()

    def on_resize(self, event: events.Resize) -> None:
        self._data_changed()
        if self._stick_end:
            self._scroll_to_end()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._wrapped.clear()
        self._layout_key = None

    # --- rendering ---------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self._error is not None:
            if y == 0:
                message = clean_line(f"Cannot read {self._path_label()}: {self._error}")
                style = base + self.get_component_rich_style("log-view--error")
                return Strip([Segment(message, style)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if self.wrap:
            return self._render_wrapped(y, width, base)
        remote = self._remote
        index = self.scroll_offset.y + y
        if remote is None or index >= remote.line_count:
            return Strip.blank(width, base)
        offset = remote.line_start(index)
        text = self._texts.get(offset)
        if text is None:
            self._want_lines()
            return self._placeholder(width, base)
        strip = self._line_strip(offset, text, base)
        scroll_x = self.scroll_offset.x
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _path_label(self) -> str:
        return self._remote.path if self._remote is not None else "log"

    def _placeholder(self, width: int, base: Style) -> Strip:
        style = base + self.get_component_rich_style("log-view--placeholder")
        return Strip([Segment("…", style)]).crop_extend(0, width, base)

    def _styled_text(self, offset: int, text: Text) -> Text:
        is_current = self._current is not None and self._current.offset == offset
        if self._search is None and not is_current:
            return text
        text = text.copy()
        if is_current:
            text.stylize(self.get_component_rich_style("log-view--current-line"))
        if self._search is not None:
            style = self.get_component_rich_style("log-view--match")
            for match in self._search.finditer(text.plain):
                if match.end() > match.start():
                    text.stylize(style, match.start(), match.end())
        return text

    def _line_strip(self, offset: int, text: Text, base: Style) -> Strip:
        is_current = self._current is not None and self._current.offset == offset
        key = (offset, len(text), self._search_gen, is_current)
        strip = self._strips.get(key)
        if strip is None:
            styled = self._styled_text(offset, text)
            segments = list(Segment.apply_style(styled.render(self.app.console), base))
            strip = Strip(segments, styled.cell_len)
            self._strips[key] = strip
        return strip

    def _wrapped_rows(self, index: int, width: int, base: Style) -> list[Strip | None]:
        remote = self._remote
        assert remote is not None
        offset = remote.line_start(index)
        text = self._texts.get(offset)
        if text is None:
            self._want_lines()
            return [None]
        is_current = self._current is not None and self._current.offset == offset
        key = (offset, len(text), self._search_gen, is_current, width)
        rows = self._wrapped.get(key)
        if rows is None:
            strip = self._line_strip(offset, text, base)
            length = strip.cell_length
            cuts = [*range(width, length, width), length]
            rows = [row.extend_cell_length(width, base) for row in strip.divide(cuts)]
            if not rows:
                rows = [Strip.blank(width, base)]
            self._wrapped[key] = rows
        return list(rows)

    def _at_bottom(self) -> bool:
        return self.line_count > 0 and self.scroll_offset.y >= self.max_scroll_y

    def _screen_lines_at_bottom(self) -> int:
        return self._bottom_line_count

    def _render_wrapped(self, y: int, width: int, base: Style) -> Strip:
        remote = self._remote
        if remote is None or width <= 0:
            return Strip.blank(max(width, 0), base)
        height = self.scrollable_content_region.height
        key = (self.scroll_offset.y, width, height, remote.line_count, self._data_version)
        if key != self._layout_key:
            self._layout_key = key
            self._layout_rows = self._wrap_layout(width, height, base)
        if y < len(self._layout_rows):
            row = self._layout_rows[y]
            return row if row is not None else self._placeholder(width, base)
        return Strip.blank(width, base)

    def _wrap_layout(self, width: int, height: int, base: Style) -> list[Strip | None]:
        count = self.line_count
        rows: list[Strip | None] = []
        if self._at_bottom():
            # Anchored at the bottom so the last line is always whole on screen.
            index = count - 1
            lines = 0
            while index >= 0 and len(rows) < height:
                rows[:0] = self._wrapped_rows(index, width, base)
                index -= 1
                lines += 1
            self._bottom_line_count = lines
            return rows[-height:] if height else []
        index = self.scroll_offset.y
        while index < count and len(rows) < height:
            rows.extend(self._wrapped_rows(index, width, base))
            index += 1
        return rows[:height]
