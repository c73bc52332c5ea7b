"""One colour per job state, shared by the job table, the job detail and the history views.

Running is green, waiting yellow, anything that failed red, finished work dim and
cancelled work magenta. Colours are plain ANSI names so they follow the terminal's
palette and Textual's ANSI theme.
"""

from __future__ import annotations

from rich.style import Style

from core.slurm.models import JobState

__all__ = ["STATE_ORDER", "state_label", "state_style"]

_GREEN = Style(color="green")
_YELLOW = Style(color="yellow")
_RED = Style(color="red", bold=True)
_DIM = Style(dim=True)
_MAGENTA = Style(color="magenta")
_CYAN = Style(color="cyan")
_BLUE = Style(color="blue")

_STYLES: dict[JobState, Style] = {
    JobState.RUNNING: _GREEN,
    JobState.COMPLETING: _CYAN,
    JobState.CONFIGURING: _CYAN,
    JobState.PENDING: _YELLOW,
    JobState.REQUEUED: _YELLOW,
    JobState.RESIZING: _YELLOW,
    JobState.SUSPENDED: _BLUE,
    JobState.STOPPED: _BLUE,
    JobState.PREEMPTED: _MAGENTA,
    JobState.CANCELLED: _MAGENTA,
    JobState.REVOKED: _MAGENTA,
    JobState.COMPLETED: _DIM,
    JobState.FAILED: _RED,
    JobState.TIMEOUT: _RED,
    JobState.OUT_OF_MEMORY: _RED,
    JobState.NODE_FAIL: _RED,
    JobState.BOOT_FAIL: _RED,
    JobState.DEADLINE: _RED,
    JobState.SPECIAL_EXIT: _RED,
    JobState.UNKNOWN: Style(),
}

# Short forms where the long name would eat a narrow table's width.
_LABELS: dict[JobState, str] = {
    JobState.OUT_OF_MEMORY: "OOM",
    JobState.CONFIGURING: "CONFIG",
    JobState.SPECIAL_EXIT: "SPEC_EXIT",
}

STATE_ORDER: dict[JobState, int] = {
    state: index
    for index, state in enumerate(
        [
            JobState.RUNNING,
            JobState.COMPLETING,
            JobState.CONFIGURING,
            JobState.PENDING,
            JobState.REQUEUED,
            JobState.RESIZING,
            JobState.SUSPENDED,
            JobState.STOPPED,
            JobState.PREEMPTED,
            JobState.FAILED,
            JobState.OUT_OF_MEMORY,
            JobState.TIMEOUT,
            JobState.NODE_FAIL,
            JobState.BOOT_FAIL,
            JobState.DEADLINE,
            JobState.SPECIAL_EXIT,
            JobState.CANCELLED,
            JobState.REVOKED,
            JobState.COMPLETED,
            JobState.UNKNOWN,
        ]
    )
}
"""Sort order for states: active work first, then failures, then the rest."""


def state_style(state: JobState) -> Style:
    """The Rich style for a job state."""
    return _STYLES.get(state, _STYLES[JobState.UNKNOWN])


def state_label(state: JobState) -> str:
    """The state's name as a table shows it (``OUT_OF_MEMORY`` → ``OOM``)."""
    return _LABELS.get(state, state.value)
