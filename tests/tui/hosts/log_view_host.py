"""A tiny app hosting a LogView over an in-memory file, for Pilot and snapshot tests."""

from __future__ import annotations

from textual.app import App, ComposeResult

from core.logs import MemoryFileAccess, RemoteFile
from widgets.log_view import LogView

LOG_PATH = "/lustre/home/acct-hpc/hpcuser/slurm-1001.out"


class LogViewHost(App[None]):
    """One focused LogView filling the screen; records its status messages."""

    CSS = "LogView { height: 1fr; }"

    def __init__(
        self,
        content: bytes = b"",
        *,
        follow: bool = False,
        wrap: bool = False,
        chunk_size: int = RemoteFile.CHUNK_SIZE,
        interval: float = 0.01,
        remote: RemoteFile | None = None,
    ) -> None:
        super().__init__()
        self.access = MemoryFileAccess({LOG_PATH: content})
        self.remote = remote or RemoteFile(self.access, LOG_PATH, chunk_size=chunk_size)
        self._follow = follow
        self._wrap = wrap
        self._interval = interval
        self.statuses: list[LogView.StatusChanged] = []
        self.failures: list[Exception] = []

    def compose(self) -> ComposeResult:
        yield LogView(self.remote, follow=self._follow, wrap=self._wrap, interval=self._interval)

    def on_mount(self) -> None:
        self.view.focus()

    def on_log_view_status_changed(self, message: LogView.StatusChanged) -> None:
        self.statuses.append(message)

    def on_log_view_failed(self, message: LogView.Failed) -> None:
        self.failures.append(message.error)

    @property
    def view(self) -> LogView:
        """The view under test."""
        return self.query_one(LogView)
