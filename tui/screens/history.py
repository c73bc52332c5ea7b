"""History: finished jobs from sacct over a chosen range, filtered by state and name.

Ranges: ``today``, ``7d``, ``30d`` (``d`` cycles them), any ``Nd``/``Nh``/``Nw``, a day
``2026-05-01`` or ``2026-05-01..2026-05-10``. Any row opens in the detail screen (enter)
or its logs (``o``/``e``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static

from core.slurm.models import HistoryRecord
from tui import format as fmt
from tui.base import SuanInput, SuanScreen
from tui.messages import HistoryLoaded
from widgets.state_style import state_style

PRESETS = ("today", "7d", "30d")

_RELATIVE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)
_DAY = "%Y-%m-%d"


def parse_range(text: str, now: datetime) -> tuple[datetime, datetime | None]:
    """``today``/``7d``/``12h``/``2w``/``2026-05-01``/``2026-05-01..2026-05-10`` → (start, end).

    Raises ValueError with words a user can act on.
    """
    value = text.strip().lower()
    if value in ("", "today"):
        return now.replace(hour=0, minute=0, second=0, microsecond=0), None
    match = _RELATIVE.match(value)
    if match:
        count, unit = int(match.group(1)), match.group(2)
        hours = {"h": 1, "d": 24, "w": 24 * 7}[unit] * count
        return now - timedelta(hours=hours), None
    first, sep, last = value.partition("..")
    try:
        start = datetime.strptime(first.strip(), _DAY).replace(tzinfo=now.tzinfo)
        end = (
            datetime.strptime(last.strip(), _DAY).replace(tzinfo=now.tzinfo) + timedelta(days=1)
            if sep and last.strip()
            else None
        )
    except ValueError:
        raise ValueError(
            f"Cannot read the range {text!r}: use today, 7d, 30d, 12h, 2w, "
            "2026-05-01 or 2026-05-01..2026-05-10."
        ) from None
    if end is not None and end <= start:
        raise ValueError(f"The range {text!r} ends before it starts.")
    return start, end


class HistoryScreen(SuanScreen[None]):
    """sacct over a range; enter opens a job, ``o``/``e`` its logs."""

    CSS_PATH = "history.tcss"

    VIEW = "history"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "d",
            "cycle_range",
            "Range",
            id="history.range",
            tooltip="Cycle the range: today, 7d, 30d",
        ),
        Binding(
            "slash",
            "focus_filter('#history-name')",
            "Name",
            id="history.name",
            tooltip="Filter by name",
        ),
        Binding(
            "f",
            "focus_filter('#history-states')",
            "States",
            id="history.states",
            tooltip="Filter by states (FAILED,TIMEOUT…)",
        ),
        Binding("r", "reload", "Reload", id="history.reload", tooltip="Query sacct again"),
        Binding("o", "log('stdout')", "Out", id="history.stdout", tooltip="Open the job's stdout"),
        Binding("e", "log('stderr')", "Err", id="history.stderr", tooltip="Open the job's stderr"),
        Binding("escape", "leave_filter", "Table", show=False, id="history.table"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: list[HistoryRecord] = []
        self.loaded: HistoryLoaded | None = None
        self.problem = ""

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="history-filters"):
            yield Label("Range ")
            yield SuanInput(value="7d", id="history-range", placeholder="7d")
            yield Label(" State ")
            yield SuanInput(id="history-states", placeholder="FAILED,TIMEOUT")
            yield Label(" Name ")
            yield SuanInput(id="history-name", placeholder="part of a name")
        yield Static(id="history-status")
        table: DataTable[Text | str] = DataTable(id="history-table", cursor_type="row")
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#history-table", DataTable)
        # The name takes what the fixed columns leave (13 cells at 80 columns).
        name_width = max(13, self.app.size.width - 67)
        for label, width in (
            ("ID", 8),
            ("Name", name_width),
            ("State", 10),
            ("Exit", 4),
            ("Partition", 11),
            ("Ended", 11),
            ("Elapsed", 8),
        ):
            table.add_column(label, width=width, key=label)
        table.focus()
        self.set_interval(1.0, self.update_status)
        self.reload()

    def action_reload(self) -> None:
        """Query sacct again with the current range and filters."""
        self.reload()

    def reload(self) -> None:
        """Read the filters and start the query (a bad range is shown, not queried)."""
        range_text = self.query_one("#history-range", SuanInput).value
        try:
            start, end = parse_range(range_text, self.now())
        except ValueError as err:
            self.problem = str(err)
            self.update_status()
            return
        self.problem = ""
        states = [
            s.strip().upper()
            for s in self.query_one("#history-states", SuanInput).value.split(",")
            if s.strip()
        ]
        name = self.query_one("#history-name", SuanInput).value.strip() or None
        self.load(start, end, states, name)

    @work(exclusive=True, group="history", exit_on_error=False, description="Reading history")
    async def load(
        self, start: datetime, end: datetime | None, states: list[str], name: str | None
    ) -> None:
        """sacct through the facade."""
        records = await self.suan.history(start=start, end=end, states=states, name=name)
        self.post_message(HistoryLoaded(records, start, end, self.now()))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.loaded = message
        self.records = message.records
        table = self.query_one("#history-table", DataTable)
        table.clear()
        for r in message.records:
            table.add_row(
                r.job_id,
                fmt.remote(r.name),
                Text(r.state.value, style=state_style(r.state)),
                r.exit_code,
                fmt.remote(r.partition),
                fmt.short_time(r.end_time),
                fmt.duration(r.elapsed),
                key=f"{r.cluster}:{r.job_id}",
            )
        self.update_status()

    def update_status(self) -> None:
        """Count, range and age of the data (or the problem with the range)."""
        status = self.query_one("#history-status", Static)
        if self.problem:
            status.update(Text(self.problem, style="red"))
            return
        if self.loaded is None:
            status.update(Text("loading…", style="dim"))
            return
        m = self.loaded
        text = Text()
        text.append(f"{len(m.records)} jobs", style="bold")
        text.append(f" since {fmt.short_time(m.start)}")
        if m.end is not None:
            text.append(f" until {fmt.short_time(m.end)}")
        age = (self.now() - m.at).total_seconds()
        text.append(f" · updated {fmt.age(age)}", style="dim")
        status.update(text)

    @on(SuanInput.Submitted)
    def _filters_submitted(self) -> None:
        self.reload()
        self.query_one("#history-table", DataTable).focus()

    def action_cycle_range(self) -> None:
        """today → 7d → 30d → today."""
        field = self.query_one("#history-range", SuanInput)
        current = field.value.strip().lower()
        nxt = PRESETS[(PRESETS.index(current) + 1) % len(PRESETS)] if current in PRESETS else "7d"
        field.value = nxt
        self.reload()

    def action_focus_filter(self, selector: str) -> None:
        """Put the cursor in a filter field."""
        self.query_one(selector, SuanInput).focus()

    def action_leave_filter(self) -> None:
        """From a filter field back to the table."""
        self.query_one("#history-table", DataTable).focus()

    def current(self) -> HistoryRecord | None:
        """The record under the cursor."""
        table = self.query_one("#history-table", DataTable)
        if not self.records or table.cursor_row < 0 or table.cursor_row >= len(self.records):
            return None
        return self.records[table.cursor_row]

    @on(DataTable.RowSelected, "#history-table")
    def _open(self) -> None:
        record = self.current()
        if record is not None:
            from tui.screens.detail import JobDetailScreen

            self.app.push_screen(JobDetailScreen(record.job_id, view=self.view_name))

    def action_log(self, which: str) -> None:
        """Open the log of the record under the cursor."""
        record = self.current()
        if record is None:
            self.notify("No job under the cursor.", severity="warning")
            return
        from tui.screens.logs import LogScreen

        self.app.push_screen(LogScreen(record.job_id, which, view=self.view_name))
