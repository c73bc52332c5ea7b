"""The job queue as a line-API table that stays fast at 50,000 rows.

Rows are rendered on demand (``render_line`` → ``Strip``) and cached in an LRU keyed by
the job's key, its version, the column layout and the row's look (cursor, marked), so a
refresh where a few jobs changed re-renders just those rows. Updates go by job key and
keep the cursor on the same job, as dolphie does with its tables.

Everything shown came from the cluster and is rendered as plain text: job names are
passed through :func:`core.safetext.clean_line`, measured in terminal cells (CJK counts
two) and cut with an ellipsis on a cell boundary, so no name can style, move or misalign
anything.
"""

from __future__ import annotations

import contextlib
import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.safetext import clean_line
from core.slurm.models import Job, JobState
from core.slurm.units import format_duration as slurm_duration
from widgets.state_style import STATE_ORDER, state_label, state_style

__all__ = ["COLUMNS", "JobTable", "fit_cells", "format_duration"]

COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "user",
    "partition",
    "state",
    "elapsed",
    "limit",
    "nodes",
    "reason",
)
"""Column keys, in display order (``user`` only shows with ``show_user``)."""

_TITLES: dict[str, tuple[str, str]] = {
    # key: (title, short title for narrow columns)
    "id": ("JOBID", "ID"),
    "name": ("NAME", "NAME"),
    "user": ("USER", "USER"),
    "partition": ("PARTITION", "PART"),
    "state": ("STATE", "ST"),
    "elapsed": ("ELAPSED", "TIME"),
    "limit": ("LIMIT", "LIM"),
    "nodes": ("NODES", "N"),
    "reason": ("NODELIST(REASON)", "WHERE"),
}
_RIGHT_ALIGNED = frozenset({"elapsed", "limit", "nodes"})
_ELLIPSIS = "…"
# Columns dropped, in this order, when the terminal is too narrow for all of them.
_DROP_ORDER = ("limit", "nodes", "partition", "elapsed", "user")
_MIN_FLEX = 14
_STAT_KEYS = ("id", "user", "partition", "state", "reason", "name")
_GUTTER = 2  # "* " on marked rows


def format_duration(seconds: int | None) -> str:
    """Compact durations for the table: ``5:03``, ``2:05:03``, ``3-02:05`` (days), ``-``."""
    return slurm_duration(seconds, unknown="-", compact=True)


def fit_cells(text: str, width: int, *, right: bool = False) -> str:
    """Pad or cut *text* to exactly *width* terminal cells.

    Cutting keeps whole characters and ends with ``…``; a double-width character that
    would straddle the edge is replaced by padding, so columns stay aligned.
    """
    if width <= 0:
        return ""
    if text.isascii():
        length = len(text)
        if length <= width:
            pad = " " * (width - length)
            return pad + text if right else text + pad
        return text[: width - 1] + _ELLIPSIS
    length = cell_len(text)
    if length <= width:
        pad = " " * (width - length)
        return pad + text if right else text + pad
    out: list[str] = []
    used = 0
    for char in text:
        size = cell_len(char)
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + " " * (width - 1 - used) + _ELLIPSIS


def _id_key(job_id: str) -> tuple[int, int, str]:
    master, _, task = job_id.partition("_")
    number = int(master) if master.isdigit() else 1 << 62
    index = int(task) if task.isdigit() else -1
    return number, index, job_id


def _where(job: Job) -> str:
    if job.state is JobState.PENDING or not job.nodelist:
        reason = job.reason if job.reason and job.reason != "None" else ""
        return f"({reason})" if reason else job.nodelist
    return job.nodelist


# What a row shows, read in C: comparing these is far cheaper than comparing whole Jobs;
# when they are equal the row need not be drawn again.
_look = operator.attrgetter(
    "job_id",
    "name",
    "user",
    "partition",
    "state",
    "reason",
    "elapsed",
    "time_limit",
    "num_nodes",
    "nodelist",
)


class _Row:
    """A job and its version; cells are cleaned and measured only when first needed."""

    __slots__ = ("_cells", "_haystack", "job", "key", "look", "stats", "version")

    def __init__(self, job: Job, key: str, look: tuple[object, ...], version: int) -> None:
        self.job = job
        self.key = key
        self.look = look
        """What the row shows (see _look): equal looks need no new drawing."""
        self.version = version
        # Plain lengths for the layout (see JobTable._update_stats), in _STAT_KEYS order.
        self.stats = (
            len(job.job_id),
            len(job.user),
            len(job.partition),
            len(state_label(job.state)),
            len(_where(job)),
            len(job.name),
        )
        self._cells: dict[str, str] | None = None
        self._haystack: str | None = None

    @property
    def cells(self) -> dict[str, str]:
        """Display text per column key, cleaned of anything a terminal would act on."""
        if self._cells is None:
            job = self.job
            self._cells = {
                "id": clean_line(job.job_id),
                "name": clean_line(job.name),
                "user": clean_line(job.user),
                "partition": clean_line(job.partition),
                "state": state_label(job.state),
                "elapsed": format_duration(job.elapsed),
                "limit": format_duration(job.time_limit),
                "nodes": str(job.num_nodes),
                "reason": clean_line(_where(job)),
            }
        return self._cells

    @property
    def haystack(self) -> str:
        """What the filter searches, lower-cased."""
        if self._haystack is None:
            job = self.job
            self._haystack = "\0".join(
                (
                    job.job_id,
                    job.name,
                    job.partition,
                    job.state.value,
                    state_label(job.state),
                    job.user,
                    _where(job),
                )
            ).lower()
        return self._haystack


@dataclass(frozen=True, slots=True)
class _Column:
    key: str
    width: int
    title: str


_SORT_KEYS: dict[str, Callable[[_Row], Any]] = {
    "id": lambda row: _id_key(row.job.job_id),
    "name": lambda row: row.cells["name"].lower(),
    "user": lambda row: row.cells["user"],
    "partition": lambda row: row.cells["partition"],
    "state": lambda row: STATE_ORDER.get(row.job.state, 99),
    "elapsed": lambda row: -1 if row.job.elapsed is None else row.job.elapsed,
    "limit": lambda row: (1 << 62) if row.job.time_limit is None else row.job.time_limit,
    "nodes": lambda row: row.job.num_nodes,
    "reason": lambda row: row.cells["reason"].lower(),
}


class JobTable(ScrollView, can_focus=True):
    """The queue: one row per job, a header, a cursor, marked rows, filter and sort."""

    DEFAULT_CSS = """
    JobTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        & > .job-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .job-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .job-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .job-table--selected {
            background: $accent 30%;
            text-style: bold;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "job-table--header",
        "job-table--cursor",
        "job-table--selected",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="job_table.cursor_up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="job_table.cursor_down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="job_table.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="job_table.page_down"),
        Binding("home,g", "first", "First", show=False, id="job_table.first"),
        Binding("end,G", "last", "Last", show=False, id="job_table.last"),
        Binding("space", "toggle_select", "Mark", id="job_table.select"),
        Binding("enter", "activate", "Open", id="job_table.activate"),
        Binding("s", "cycle_sort", "Sort", id="job_table.sort"),
        Binding("S", "reverse_sort", "Reverse", show=False, id="job_table.reverse_sort"),
    ]

    class JobMessage(Message):
        """A message about one job of this table."""

        def __init__(self, job_table: JobTable, job: Job) -> None:
            super().__init__()
            self.job_table = job_table
            self.job = job

        @property
        def control(self) -> JobTable:
            """The table that sent this."""
            return self.job_table

    class Highlighted(JobMessage):
        """The cursor moved to another job."""

    class Activated(JobMessage):
        """The user pressed enter (or double-clicked) on a job."""

    filter_text: reactive[str] = reactive("", init=False)
    """Show only jobs whose id, name, partition, state, user or reason contain this."""
    show_user: reactive[bool] = reactive(False, init=False)
    """Show the USER column (when listing everyone's jobs)."""

    def __init__(
        self,
        jobs: Sequence[Job] = (),
        *,
        show_user: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._rows_by_key: dict[str, _Row] = {}
        self._view: list[_Row] = []  # filtered and sorted
        self._cursor = 0
        self._selected: set[str] = set()
        self._sort_column: str | None = None
        self._sort_reverse = False
        self._version = 0
        self._column_layouts: dict[tuple[int, bool], tuple[_Column, ...]] = {}
        self._layout_gen = 0  # part of every cached strip's key: bumped on layout changes
        self._stats: dict[str, int] = {}
        self._stat_counts: list[Counter[int]] = [Counter() for _ in _STAT_KEYS]
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)
        self._last_highlighted: str | None = None
        self.set_reactive(JobTable.show_user, show_user)
        if jobs:
            self.set_jobs(jobs)

    # --- public API -------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """Rows shown (after the filter)."""
        return len(self._view)

    @property
    def cursor_row(self) -> int:
        """Index of the cursor among the rows shown."""
        return self._cursor

    @property
    def cursor_job(self) -> Job | None:
        """The job under the cursor, if any."""
        if 0 <= self._cursor < len(self._view):
            return self._view[self._cursor].job
        return None

    @property
    def jobs(self) -> list[Job]:
        """The rows shown, in display order."""
        return [row.job for row in self._view]

    @property
    def selected(self) -> list[Job]:
        """Marked jobs that are still shown (hidden ones are never acted on), in order."""
        return [row.job for row in self._view if row.key in self._selected]

    @property
    def sort_column(self) -> str | None:
        """The column rows are sorted by (None: as received)."""
        return self._sort_column

    @property
    def sort_reverse(self) -> bool:
        """True when the sort is descending."""
        return self._sort_reverse

    def set_jobs(self, jobs: Sequence[Job]) -> None:
        """Replace the rows, by key: unchanged jobs keep their rendered rows and the cursor
        stays on the same job (or the same position if that job is gone).

        A job listed twice (same key) is shown once, as first given.
        """
        old_rows = self._rows_by_key
        new_rows: dict[str, _Row] = {}
        changed: list[_Row] = []
        dropped: list[_Row] = []
        for job in jobs:
            key = job.key
            if key in new_rows:
                continue
            old = old_rows.get(key)
            look = _look(job)
            if old is not None and old.look == look:
                # Every refresh parses new Job objects: keep the fresh data (submit time,
                # work dir, ...) but not a new drawing of a row that looks the same.
                old.job = job
                new_rows[key] = old
                continue
            self._version += 1
            row = new_rows[key] = _Row(job, key, look, self._version)
            changed.append(row)
            if old is not None:
                dropped.append(old)
        dropped.extend(old_rows[key] for key in old_rows.keys() - new_rows.keys())
        self._rows_by_key = new_rows
        self._selected &= new_rows.keys()
        self._update_stats(changed, dropped)
        self._rebuild()

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        """Sort by a column key (see :data:`COLUMNS`), or None for the order received."""
        if column is not None and column not in _SORT_KEYS:
            raise ValueError(f"unknown column {column!r}; columns: {', '.join(COLUMNS)}")
        self._sort_column = column
        self._sort_reverse = reverse
        self._rebuild()

    def cycle_sort(self) -> str | None:
        """Sort by the next visible column (after the last one: the order received)."""
        columns = [c.key for c in self._columns()] or list(COLUMNS)
        if self._sort_column is None:
            nxt: str | None = columns[0]
        elif self._sort_column in columns:
            position = columns.index(self._sort_column) + 1
            nxt = columns[position] if position < len(columns) else None
        else:
            nxt = columns[0]
        self.sort_by(nxt, reverse=False)
        return nxt

    def clear_selection(self) -> None:
        """Unmark every row."""
        if self._selected:
            self._selected.clear()
            self.refresh()

    def select_job(self, key: str, selected: bool = True) -> None:
        """Mark or unmark a job by key."""
        if selected and key in self._rows_by_key:
            self._selected.add(key)
        else:
            self._selected.discard(key)
        self.refresh()

    def move_cursor(self, row: int) -> None:
        """Put the cursor on row *row* (clamped) and scroll it into view."""
        count = len(self._view)
        self._cursor = max(0, min(row, count - 1)) if count else 0
        self._scroll_cursor_into_view()
        self.refresh()
        self._post_highlighted()

    # --- reactives ----------------------------------------------------------------------

    def watch_filter_text(self) -> None:
        self._rebuild()

    def watch_show_user(self) -> None:
        self._clear_layout()
        self.refresh()

    def _clear_layout(self) -> None:
        self._column_layouts.clear()
        self._layout_gen += 1

    # --- building the view --------------------------------------------------------------

    def _update_stats(self, added: list[_Row], dropped: list[_Row]) -> None:
        # Widths for the layout only, so plain lengths do (CJK may count half): cells are
        # fitted by their real cell width when drawn, whatever the column width is. A
        # histogram per column keeps the maxima up to date from the changed rows alone.
        for position, counts in enumerate(self._stat_counts):
            if added:
                counts.update(row.stats[position] for row in added)
            if dropped:
                counts.subtract(row.stats[position] for row in dropped)
        maxima = [
            max((value for value, n in counts.items() if n > 0), default=0)
            for counts in self._stat_counts
        ]
        stats = dict(zip(_STAT_KEYS, maxima, strict=True))
        if stats != self._stats:
            self._stats = stats
            self._clear_layout()

    def _rebuild(self) -> None:
        cursor_key = self._current_key()
        rows = list(self._rows_by_key.values())
        needle = self.filter_text.strip().lower()
        if needle:
            rows = [row for row in rows if needle in row.haystack]
        if self._sort_column is not None:
            # Ties keep a stable, meaningful order: by job id.
            rows.sort(key=_SORT_KEYS["id"], reverse=self._sort_reverse)
            rows.sort(key=_SORT_KEYS[self._sort_column], reverse=self._sort_reverse)
        self._view = rows
        cursor_row = self._rows_by_key.get(cursor_key) if cursor_key is not None else None
        if cursor_row is not None:
            # list.index compares by identity here (no __eq__): a C loop, fast at 50k.
            with contextlib.suppress(ValueError):
                self._cursor = rows.index(cursor_row)
        self._cursor = max(0, min(self._cursor, len(rows) - 1)) if rows else 0
        self._update_virtual_size()
        self._scroll_cursor_into_view()
        self.refresh()
        self._post_highlighted()

    def _current_key(self) -> str | None:
        if 0 <= self._cursor < len(self._view):
            return self._view[self._cursor].key
        return None

    def _update_virtual_size(self) -> None:
        width = self.scrollable_content_region.width if self.is_mounted else 0
        self.virtual_size = Size(width, len(self._view) + 1)

    def _post_highlighted(self) -> None:
        key = self._current_key()
        if key != self._last_highlighted:
            self._last_highlighted = key
            job = self.cursor_job
            if job is not None and self.is_attached:
                self.post_message(self.Highlighted(self, job))

    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        if not self.is_mounted:
            return
        visible = self._page_rows()
        top = self.scroll_offset.y
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True, force=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True, force=True)

    # --- layout -------------------------------------------------------------------------

    def _columns(self) -> tuple[_Column, ...]:
        width = self.scrollable_content_region.width if self.is_mounted else 80
        key = (width, self.show_user)
        layout = self._column_layouts.get(key)
        if layout is None:
            layout = self._column_layouts[key] = self._compute_layout(width)
        return layout

    def _compute_layout(self, width: int) -> tuple[_Column, ...]:
        stats = self._stats or dict.fromkeys(("id", "user", "partition", "state", "reason"), 0)
        fixed = {
            "id": min(max(stats["id"], 5), 14),
            "user": min(max(stats["user"], 4), 10),
            "partition": min(max(stats["partition"], 4), 11),
            "state": min(max(stats["state"], 5), 10),
            "elapsed": 8,
            "limit": 8,
            "nodes": 5,
        }
        keys = [k for k in COLUMNS if k != "user" or self.show_user]
        for drop in (None, *_DROP_ORDER):
            if drop is not None and drop in keys:
                keys.remove(drop)
            used = _GUTTER + sum(fixed[k] for k in keys if k in fixed) + (len(keys) - 1)
            if width - used >= _MIN_FLEX:
                break
        flex = max(2, width - used)
        reason_want = max(stats.get("reason", 0), 6)
        reason = min(reason_want, max(6, flex * 2 // 5))
        name = flex - reason
        if name > stats.get("name", 0) + 2 and reason < reason_want:
            # Names are short: give the spare room to the reasons.
            spare = name - max(stats.get("name", 0) + 2, 8)
            grow = min(spare, reason_want - reason)
            reason += grow
            name -= grow
        widths = {**fixed, "name": max(1, name), "reason": max(1, reason)}
        columns: list[_Column] = []
        for key in keys:
            col_width = widths[key]
            title, short = _TITLES[key]
            columns.append(_Column(key, col_width, title if len(title) <= col_width else short))
        return tuple(columns)

    # --- rendering ----------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_mount(self) -> None:
        self._update_virtual_size()
        self._last_highlighted = None
        self._post_highlighted()

    def on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._scroll_cursor_into_view()

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh()

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        columns = self._columns()
        base = self.rich_style
        if y == 0:
            return self._header_strip(columns, width, base)
        index = self.scroll_offset.y + y - 1
        if index >= len(self._view) or index < 0:
            return Strip.blank(width, base)
        row = self._view[index]
        is_cursor = index == self._cursor
        is_selected = row.key in self._selected
        key = (row.version, self._layout_gen, width, is_cursor, is_selected, self.has_focus)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._row_strip(row, columns, width, base, is_cursor, is_selected)
            self._strips[key] = strip
        return strip

    def _header_strip(self, columns: tuple[_Column, ...], width: int, base: Style) -> Strip:
        key = ("header", self._layout_gen, width, self._sort_column, self._sort_reverse)
        strip = self._strips.get(key)
        if strip is None:
            style = base + self.get_component_rich_style("job-table--header")
            titles: list[str] = []
            for column in columns:
                title = column.title
                if column.key == self._sort_column:
                    title += "↓" if self._sort_reverse else "↑"
                titles.append(fit_cells(title, column.width, right=column.key in _RIGHT_ALIGNED))
            text = fit_cells(" " * _GUTTER + " ".join(titles), width)
            strip = Strip([Segment(text, style)], width)
            self._strips[key] = strip
        return strip

    def _row_strip(
        self,
        row: _Row,
        columns: tuple[_Column, ...],
        width: int,
        base: Style,
        is_cursor: bool,
        is_selected: bool,
    ) -> Strip:
        row_style = base
        if is_selected:
            row_style += self.get_component_rich_style("job-table--selected")
        cursor_style = self.get_component_rich_style("job-table--cursor") if is_cursor else None
        gap_style = row_style if cursor_style is None else row_style + cursor_style
        segments: list[Segment] = [Segment("* " if is_selected else "  ", gap_style)]
        used = _GUTTER
        for position, column in enumerate(columns):
            if position:
                segments.append(Segment(" ", gap_style))
                used += 1
            right = column.key in _RIGHT_ALIGNED
            text = fit_cells(row.cells[column.key], column.width, right=right)
            style = row_style
            if column.key == "state" or row.job.state is JobState.COMPLETED:
                style = style + state_style(row.job.state)
            if cursor_style is not None:
                style = style + cursor_style
            segments.append(Segment(text, style))
            used += column.width
        if used < width:
            segments.append(Segment(" " * (width - used), gap_style))
        strip = Strip(segments, max(used, width))
        if used > width:
            strip = strip.crop(0, width)
        return strip

    # --- actions ------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - self._page_rows())

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + self._page_rows())

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._view) - 1)

    def action_toggle_select(self) -> None:
        job = self.cursor_job
        if job is None:
            return
        self.select_job(job.key, job.key not in self._selected)
        self.move_cursor(self._cursor + 1)

    def action_activate(self) -> None:
        job = self.cursor_job
        if job is not None:
            self.post_message(self.Activated(self, job))

    def action_cycle_sort(self) -> None:
        self.cycle_sort()

    def action_reverse_sort(self) -> None:
        self.sort_by(self._sort_column or "id", reverse=not self._sort_reverse)

    async def _on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = self.scroll_offset.y + event.y - 1
        if 0 <= index < len(self._view):
            self.move_cursor(index)
            if event.chain == 2:
                self.action_activate()
