"""Confirmation of a cancellation, naming exactly the jobs, and the verified result.

The site asks clients to name exactly what will go before cancelling. An array task range
(``1007_[3-6%2]``) is spelled out task by task, and an array's master id names the tasks
of it that are in the queue, so "cancel 1007" never hides what it takes with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from core.slurm.models import CancelOutcome, Job, JobState
from tui import format as fmt
from tui.base import SuanModal
from widgets.state_style import state_style


def describe_target(job: Job, queue: Sequence[Job]) -> Text:
    """One line (or a few) naming what cancelling ``job`` takes."""
    line = Text()
    line.append(f"{job.job_id:<14}", style="bold")
    line.append(" ")
    line.append(fmt.remote(job.name))
    line.append("  ")
    line.append(job.state.value, style=state_style(job.state))
    line.append(f"  {job.partition} ({job.cluster})", style="dim")
    task = job.array_task_id or ""
    if task.startswith("[") or ("," in task or "-" in task):
        tasks = fmt.expand_array(task)
        count = fmt.array_count(task)
        master = job.array_job_id or job.job_id.split("_", 1)[0]
        plural = "s" if count != 1 else ""
        line.append(f"\n    array {master}, {count} pending task{plural}:\n    ")
        line.append(", ".join(f"{master}_{t}" for t in tasks))
        if count > len(tasks):
            line.append(f" … and {count - len(tasks)} more")
    elif "_" not in job.job_id:
        members = [j for j in queue if j.array_job_id == job.job_id and j.job_id != job.job_id]
        if members:
            line.append(
                f"\n    array master: also cancels {len(members)} queued task entries:\n    "
            )
            line.append(", ".join(j.job_id for j in members))
    return line


class ConfirmCancelScreen(SuanModal[bool]):
    """Names every job that will be cancelled; ``y`` confirms, ``n``/esc keeps them."""

    CSS_PATH = "dialogs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes, cancel them", id="confirm.yes"),
        Binding("n,escape", "refuse", "No", id="confirm.no"),
    ]

    def __init__(self, jobs: Sequence[Job], queue: Sequence[Job], me: str) -> None:
        super().__init__()
        self.jobs = list(jobs)
        self.queue = list(queue)
        self.me = me

    def compose(self) -> ComposeResult:
        count = len(self.jobs)
        with Vertical(id="confirm-box"):
            yield Static(
                Text(f"Cancel {count} job{'s' if count != 1 else ''}?", style="bold"),
                id="confirm-title",
            )
            with VerticalScroll(id="confirm-list"):
                for job in self.jobs:
                    yield Static(describe_target(job, self.queue), classes="confirm-job")
            others = sorted({j.user for j in self.jobs if j.user != self.me})
            if others:
                yield Static(
                    Text.assemble(
                        ("Not yours: ", "yellow"),
                        fmt.remote(", ".join(others)),
                        (" — Slurm will refuse those.", "yellow"),
                    )
                )
            running = sum(1 for j in self.jobs if j.state is JobState.RUNNING)
            if running:
                yield Static(
                    Text(f"{running} running: their work so far ends now.", style="yellow")
                )
            yield Static(
                Text.assemble(("y", "bold"), " cancel them   ", ("n / esc", "bold"), " keep them"),
                id="confirm-keys",
            )

    def action_confirm(self) -> None:
        """The user named these jobs: go ahead."""
        self.dismiss(True)

    def action_refuse(self) -> None:
        """Nothing is cancelled."""
        self.dismiss(False)


class CancelResultScreen(SuanModal[None]):
    """What became of each job, as verified with squeue/sacct after scancel."""

    CSS_PATH = "dialogs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,escape", "close", "Close", id="cancel_result.close"),
    ]

    def __init__(self, outcomes: Sequence[CancelOutcome]) -> None:
        super().__init__()
        self.outcomes = list(outcomes)

    def compose(self) -> ComposeResult:
        done = sum(1 for o in self.outcomes if o.cancelled)
        with Vertical(id="confirm-box"):
            yield Static(
                Text(f"Cancelled {done} of {len(self.outcomes)}", style="bold"),
                id="confirm-title",
            )
            with VerticalScroll(id="confirm-list"):
                for outcome in self.outcomes:
                    yield Static(outcome_line(outcome), classes="confirm-job")
            yield Static(Text.assemble(("enter / esc", "bold"), " close"), id="confirm-keys")

    def action_close(self) -> None:
        """Back to the list."""
        self.dismiss(None)


def outcome_line(outcome: CancelOutcome) -> Text:
    """``1001 cancelled (CANCELLED)`` or ``1020 NOT cancelled: Access/permission denied``."""
    line = Text()
    line.append(f"{outcome.job_id:<14}", style="bold")
    if outcome.cancelled:
        line.append(" cancelled", style="green")
    else:
        line.append(" NOT cancelled", style="bold red")
    if outcome.state is not None:
        line.append(f" ({outcome.state.value})", style=state_style(outcome.state))
    if outcome.message and not outcome.cancelled:
        line.append(": ")
        line.append(fmt.remote(outcome.message))
    return line
