"""A tiny app hosting a JobTable, for Pilot and snapshot tests."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App, ComposeResult

from core.slurm.models import Job
from widgets.job_table import JobTable


class JobTableHost(App[None]):
    """One focused JobTable filling the screen; records the messages it posts."""

    CSS = "JobTable { height: 1fr; }"

    def __init__(self, jobs: Sequence[Job] = (), *, show_user: bool = False) -> None:
        super().__init__()
        self._jobs = list(jobs)
        self._show_user = show_user
        self.highlighted: list[Job] = []
        self.activated: list[Job] = []

    def compose(self) -> ComposeResult:
        yield JobTable(self._jobs, show_user=self._show_user)

    def on_mount(self) -> None:
        self.query_one(JobTable).focus()

    def on_job_table_highlighted(self, message: JobTable.Highlighted) -> None:
        self.highlighted.append(message.job)

    def on_job_table_activated(self, message: JobTable.Activated) -> None:
        self.activated.append(message.job)

    @property
    def table(self) -> JobTable:
        """The table under test."""
        return self.query_one(JobTable)
