"""The log viewer: a screen around ``widgets.log_view.LogView`` with a status line.

The status line shows the path, the node that reads it, line/total, FOLLOW and WRAP.
Keys: ``f`` follow, ``w`` wrap, ``/`` search then ``n``/``N``, ``e`` first error,
``g``/``G`` top/bottom (the view's own bindings), ``tab`` the other stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.widget import Widget
from textual.widgets import Static

from tui import format as fmt
from tui.base import SuanInput, SuanScreen
from tui.facade import Stream
from tui.messages import LogOpened
from widgets.log_view import LogView


class LogScreen(SuanScreen[None]):
    """One job's stdout or stderr."""

    CSS_PATH = "logs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="log.back"),
        Binding(
            "slash",
            "search",
            "Search",
            id="log.search",
            tooltip="Search, then n / N for next / previous",
        ),
        Binding(
            "tab",
            "other_stream",
            "Other stream",
            show=False,
            id="log.other",
            tooltip="Switch between stdout and stderr",
        ),
    ]

    def __init__(self, job_id: str, which: str = "stdout", *, view: str = "") -> None:
        super().__init__(view=view)
        self.job_id = job_id
        self.which: Stream = "stderr" if which == "stderr" else "stdout"
        self.path = ""
        self.node = ""
        self.position: tuple[int, int] = (0, 0)
        self.following = False
        self.wrap = False
        self.search_text = ""
        self.problem = ""
        self.follow_from_start = False

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="log-status")
        yield Container(id="log-body")
        yield SuanInput(id="log-search", placeholder="search (enter: find, esc: close)")

    def on_mount(self) -> None:
        self.query_one("#log-search", SuanInput).display = False
        self.update_status()
        self.open()

    @work(exclusive=True, group="log.open", exit_on_error=False, description="Opening the log")
    async def open(self) -> None:
        """Where the log is and who reads it, then the file itself (read by range)."""
        suan = self.suan
        paths: Any = await suan.log_paths(self.job_id)
        path = str(getattr(paths, self.which, "") or "")
        node = getattr(paths, "node", None) or getattr(paths, "group", "") or ""
        remote_file = await suan.open_log(self.job_id, self.which)
        # A running job's output still grows: follow it, as `tail -f` would.
        self.follow_from_start = bool(getattr(paths, "live", False))
        self.post_message(LogOpened(remote_file, path or remote_file.path, str(node)))

    async def on_log_opened(self, message: LogOpened) -> None:
        self.path = message.path
        self.node = message.node
        body = self.query_one("#log-body", Container)
        await body.remove_children()
        view = LogView(
            message.remote_file,
            follow=self.follow_from_start,
            interval=self.suan_app.log_poll_seconds,
            id="log-view",
        )
        await body.mount(view)
        view.focus()
        self.update_status()

    @property
    def view(self) -> LogView | None:
        """The log view once the file is open."""
        found = self.query("#log-view")
        return found.first(LogView) if found else None

    def on_log_view_status_changed(self, message: LogView.StatusChanged) -> None:
        self.position = (message.line, message.total_lines_known)
        self.following = message.following
        self.wrap = message.wrap
        self.update_status()

    def on_log_view_failed(self, message: LogView.Failed) -> None:
        self.problem = str(message.error) or type(message.error).__name__
        self.update_status()
        self.suan_app.report_error(message.error, doing=f"Reading {self.which}")

    def update_status(self) -> None:
        """Stream, line/total, FOLLOW, WRAP, search, then node and path (path cut first)."""
        text = Text()
        text.append(self.which, style="bold")
        line, total = self.position
        text.append(f" {line}/{total} ", style="dim")
        text.append(" FOLLOW ", style="bold reverse green" if self.following else "dim")
        text.append(" WRAP ", style="bold reverse" if self.wrap else "dim")
        if self.search_text:
            text.append(" /")
            text.append(fmt.remote(self.search_text, "bold"))
        if self.problem:
            text.append(" ")
            text.append(fmt.remote(self.problem, "bold red"))
        where = Text()
        if self.node:
            where.append(" @")
            where.append(fmt.remote(self.node))
        where.append(" ")
        where.append(fmt.remote(self.path or f"job {self.job_id}…"))
        width = (self.size.width or self.app.size.width) - 2  # the status line's padding
        room = width - text.cell_len
        if where.cell_len > room > 1:
            # Keep the end of the path (the file name), which says the most.
            plain = where.plain
            while plain and len(plain) > 1 and Text(plain).cell_len > room - 1:
                plain = plain[1:]
            where = Text("…" + plain, style="dim")
        text.append(where)
        self.query_one("#log-status", Static).update(text)

    def action_back(self) -> None:
        """Close the search field, or leave the viewer."""
        field = self.query_one("#log-search", SuanInput)
        if field.display:
            field.display = False
            if self.view is not None:
                self.view.focus()
            return
        self.dismiss(None)

    def action_search(self) -> None:
        """Open the search field."""
        field = self.query_one("#log-search", SuanInput)
        field.display = True
        field.value = self.search_text
        field.focus()

    @on(SuanInput.Submitted, "#log-search")
    async def _search_submitted(self, event: SuanInput.Submitted) -> None:
        field = self.query_one("#log-search", SuanInput)
        field.display = False
        self.search_text = event.value
        view = self.view
        if view is None:
            return
        view.focus()
        self.update_status()
        if event.value:
            self.find(event.value)

    @work(exclusive=True, group="log.find", exit_on_error=False, description="Searching")
    async def find(self, text: str) -> None:
        """Search forwards from the cursor (the view reads the file by range)."""
        view = self.view
        if view is not None and not await view.find(text):
            self.notify(f"Not found: {text}", severity="warning", markup=False)

    def action_other_stream(self) -> None:
        """Switch between stdout and stderr."""
        self.app.switch_screen(
            LogScreen(
                self.job_id,
                "stderr" if self.which == "stdout" else "stdout",
                view=self.view_name,
            )
        )
