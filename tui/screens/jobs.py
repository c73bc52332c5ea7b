"""Jobs (the default view): my queue, or everyone's, live.

Refreshed by a one-shot timer re-armed after each refresh (paused while hidden), with the
data's age on screen. Filter (``/``), sort (``s``), everyone (``a``), multi-select
(``space``, in the table), cancel (``c``/``delete``) after a confirmation that names every
job, then the verified result. When one of my jobs finishes, fails or times out the
terminal bell rings and a toast says so: consecutive refreshes are compared, and a job
that left the queue is looked up once with ``Suan.job``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from core.errors import NotFound
from core.slurm.models import FAILED_STATES, Job, JobState
from tui.base import REFRESH_GROUP, Refreshing, SuanInput
from tui.messages import CancelDone, JobEnded, JobsLoaded
from tui.screens.confirm import CancelResultScreen, ConfirmCancelScreen
from widgets.job_table import JobTable


def ended_jobs(
    previous: Sequence[Job], current: Sequence[Job], me: str
) -> tuple[list[Job], list[Job]]:
    """Compare two refreshes: (mine now finished in the queue, mine gone from the queue).

    Only jobs that were active before count; a pending array range (``1007_[3-6%2]``)
    that disappears has just started tasks, so it is not reported as gone.
    """
    now_by_key = {j.key: j for j in current}
    finished: list[Job] = []
    gone: list[Job] = []
    for old in previous:
        if old.user != me or not old.state.is_active:
            continue
        new = now_by_key.get(old.key)
        if new is None:
            if "[" not in old.job_id:
                gone.append(old)
        elif new.state.is_finished:
            finished.append(new)
    return finished, gone


class JobsScreen(Refreshing):
    """The queue as a live table."""

    CSS_PATH = "jobs.tcss"

    VIEW = "jobs"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash", "filter", "Filter", id="jobs.filter", tooltip="Filter the table (esc clears)"
        ),
        Binding("s", "sort", "Sort", id="jobs.sort", tooltip="Cycle the sort column"),
        Binding("a", "everyone", "All", id="jobs.everyone", tooltip="Toggle my jobs / everyone's"),
        Binding(
            "c,delete",
            "cancel_jobs",
            "Cancel",
            id="jobs.cancel",
            tooltip="Cancel the marked jobs (or the one under the cursor)",
        ),
        Binding("o", "log('stdout')", "Out", id="jobs.stdout", tooltip="Open the job's stdout"),
        Binding("e", "log('stderr')", "Err", id="jobs.stderr", tooltip="Open the job's stderr"),
        Binding(
            "r", "refresh_now", "Refresh", show=False, id="jobs.refresh", tooltip="Refresh now"
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            id="jobs.clear_filter",
            tooltip="Clear the filter",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.everyone = False
        self.jobs: list[Job] = []
        self._previous_mine: list[Job] | None = None
        self._cancelled_here: set[str] = set()
        """Jobs cancelled from this screen: their ending is no news to announce."""

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="jobs-status")
        yield JobTable(id="jobs-table")
        yield SuanInput(id="jobs-filter", placeholder="filter: id, name, state, partition…")

    def on_mount(self) -> None:
        self.query_one("#jobs-filter", SuanInput).display = False
        self.table.focus()

    @property
    def table(self) -> JobTable:
        """The job table."""
        return self.query_one("#jobs-table", JobTable)

    # --- refreshing ----------------------------------------------------------------

    def start_refresh(self) -> None:
        self.load(self.everyone)

    @work(exclusive=True, group=REFRESH_GROUP, exit_on_error=False, description="Reading the queue")
    async def load(self, everyone: bool) -> None:
        """squeue on every controller, through the facade."""
        jobs = await self.suan.jobs(everyone=everyone)
        self.post_message(JobsLoaded(jobs, everyone, self.now()))

    def on_jobs_loaded(self, message: JobsLoaded) -> None:
        if message.everyone != self.everyone:
            return  # an answer to a question no longer asked
        self.jobs = message.jobs
        table = self.table
        table.show_user = message.everyone
        table.set_jobs(message.jobs)
        self._notice_endings(message.jobs)
        self.refreshed(message.at)

    def _notice_endings(self, jobs: list[Job]) -> None:
        me = self.suan.profile.username
        mine = [j for j in jobs if j.user == me]
        if self._previous_mine is not None:
            finished, gone = ended_jobs(self._previous_mine, mine, me)
            finished = [j for j in finished if j.job_id not in self._cancelled_here]
            gone = [j for j in gone if j.job_id not in self._cancelled_here]
            for job in finished:
                self.post_message(JobEnded(job.job_id, job.name, job.state))
            for job in gone:
                self.look_up(job.job_id, job.name)
        self._previous_mine = mine

    @work(group="jobs.lookup", exit_on_error=False, description="Looking up a finished job")
    async def look_up(self, job_id: str, name: str) -> None:
        """A job left the queue: ask once how it ended."""
        try:
            found = await self.suan.job(job_id)
        except NotFound:
            self.post_message(JobEnded(job_id, name, None))
            return
        if found.state.is_finished:
            self.post_message(JobEnded(job_id, name, found.state))

    def on_job_ended(self, message: JobEnded) -> None:
        state = message.state
        what = state.value if state is not None else "left the queue"
        severity = "information"
        if state in FAILED_STATES:
            severity = "error"
        elif state is JobState.CANCELLED or state is None:
            severity = "warning"
        self.app.bell()
        self.app.notify(
            f"Job {message.job_id} ({message.name}) {what}.",
            title="Job ended",
            severity=severity,  # type: ignore[arg-type]
            markup=False,
            timeout=10,
        )

    def update_status(self) -> None:
        """Whose jobs, counts, sort, filter and the data's age."""
        jobs = self.jobs
        text = Text()
        text.append("Everyone's jobs" if self.everyone else "My jobs", style="bold")
        running = sum(1 for j in jobs if j.state is JobState.RUNNING)
        pending = sum(1 for j in jobs if j.state is JobState.PENDING)
        text.append(f" · {len(jobs)} ({running} running, {pending} pending)")
        table = self.query_one("#jobs-table", JobTable)
        selected = len(table.selected)
        if selected:
            text.append(f" · {selected} selected", style="bold yellow")
        if table.sort_column:
            arrow = "↓" if table.sort_reverse else "↑"
            text.append(f" · sorted by {table.sort_column} {arrow}")
        if table.filter_text:
            text.append(" · filter ")
            text.append(table.filter_text, style="bold")
        text.append(" · ")
        text.append(self.age_text(), style="dim")
        self.query_one("#jobs-status", Static).update(text)

    def action_refresh_now(self) -> None:
        """Refresh at once."""
        self.refresh_now()

    def action_everyone(self) -> None:
        """Toggle between my jobs and everyone's."""
        self.everyone = not self.everyone
        self.refresh_now()

    # --- filter and sort -----------------------------------------------------------

    def action_filter(self) -> None:
        """Open the filter field."""
        field = self.query_one("#jobs-filter", SuanInput)
        field.display = True
        field.focus()

    @on(SuanInput.Changed, "#jobs-filter")
    def _filter_changed(self, event: SuanInput.Changed) -> None:
        self.table.filter_text = event.value
        self.update_status()

    @on(SuanInput.Submitted, "#jobs-filter")
    def _filter_submitted(self) -> None:
        field = self.query_one("#jobs-filter", SuanInput)
        if not field.value:
            field.display = False
        self.table.focus()

    def action_clear_filter(self) -> None:
        """Clear the filter and close its field (esc)."""
        field = self.query_one("#jobs-filter", SuanInput)
        field.value = ""
        field.display = False
        self.table.filter_text = ""
        self.table.focus()
        self.update_status()

    def action_sort(self) -> None:
        """Cycle the sort column."""
        self.table.cycle_sort()
        self.update_status()

    # --- actions on jobs -------------------------------------------------------------

    def targets(self) -> list[Job]:
        """The marked jobs, or the one under the cursor."""
        table = self.table
        chosen = list(table.selected)
        if not chosen and table.cursor_job is not None:
            chosen = [table.cursor_job]
        return chosen

    def action_cancel_jobs(self) -> None:
        """Cancel the marked jobs (or the one under the cursor) after confirmation."""
        if self.suan_app.refuse_if_read_only("cancelling jobs"):
            return
        chosen = self.targets()
        if not chosen:
            self.notify("No job to cancel.", severity="warning")
            return
        me = self.suan.profile.username

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.cancel([j.job_id for j in chosen])

        self.app.push_screen(ConfirmCancelScreen(chosen, self.jobs, me), confirmed)

    @work(exclusive=True, group="jobs.cancel", exit_on_error=False, description="Cancelling")
    async def cancel(self, job_ids: list[str]) -> None:
        """scancel, then the facade confirms each job's state."""
        self._cancelled_here.update(job_ids)
        outcomes = await self.suan.cancel(job_ids)
        self.post_message(CancelDone(outcomes))

    def on_cancel_done(self, message: CancelDone) -> None:
        self.table.clear_selection()
        self.app.push_screen(CancelResultScreen(message.outcomes))
        self.refresh_now()

    def on_job_table_activated(self, message: JobTable.Activated) -> None:
        from tui.screens.detail import JobDetailScreen

        self.app.push_screen(JobDetailScreen(message.job.job_id, view=self.view_name))

    def action_log(self, which: str) -> None:
        """Open the stdout or stderr of the job under the cursor."""
        job = self.table.cursor_job
        if job is None:
            self.notify("No job under the cursor.", severity="warning")
            return
        from tui.screens.logs import LogScreen

        self.app.push_screen(LogScreen(job.job_id, which, view=self.view_name))
