"""Small formatting helpers shared by the screens: durations, times, remote text.

Remote text (job names, paths, reasons) only ever becomes ``rich.text.Text`` through
:func:`remote`, so it is never parsed as markup and carries no terminal escapes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.text import Text

from core.safetext import clean_line
from core.slurm.units import format_duration


def remote(text: str | None, style: str = "") -> Text:
    """Remote text made safe for display: escapes removed, controls visible, never markup."""
    return Text(clean_line(text or ""), style=style, no_wrap=False)


def duration(seconds: int | float | None) -> str:
    """Slurm-like duration: ``12:03``, ``3:04:05``, ``2-01:00:00``; ``—`` if unknown."""
    return format_duration(seconds, unknown="—")


def limit(seconds: int | None) -> str:
    """A time limit: ``UNLIMITED`` for None, else a duration."""
    return "UNLIMITED" if seconds is None else duration(seconds)


def remaining(delta: timedelta) -> str:
    """Time left in words: ``11 h 30 min``, ``25 min``, ``expired``."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours >= 48:
        return f"{hours // 24} d {hours % 24} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def age(seconds: float) -> str:
    """The age of data in words: ``3 s ago``, ``2 min ago``."""
    secs = max(0, int(seconds))
    if secs < 60:
        return f"{secs} s ago"
    if secs < 3600:
        return f"{secs // 60} min ago"
    return f"{secs // 3600} h ago"


def timestamp(when: datetime | None) -> str:
    """``2026-05-11 09:30:00 UTC``, or ``—``."""
    if when is None:
        return "—"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_time(when: datetime | None) -> str:
    """``05-11 09:30``, or ``—`` (for narrow table columns)."""
    if when is None:
        return "—"
    return when.astimezone(UTC).strftime("%m-%d %H:%M")


def memory(mb: float | None) -> str:
    """MiB as ``812M``, ``187G`` or ``2.9T``."""
    if mb is None:
        return "—"
    if mb >= 1024 * 1024:
        return f"{mb / 1024 / 1024:.1f}T"
    if mb >= 1024:
        return f"{mb / 1024:.0f}G"
    return f"{mb:.0f}M"


def percent(fraction: float | None) -> str:
    """``95.0%``, or ``—`` when not recorded."""
    return "—" if fraction is None else f"{fraction * 100:.1f}%"


def expand_array(task_text: str, limit_count: int = 50) -> list[str]:
    """Task ids of a pending array range: ``[3-6%2]`` → ``3 4 5 6``; ``1,4-5`` too.

    Stops after ``limit_count`` ids so a ``[1-100000]`` range cannot flood a dialog.
    """
    body = task_text.strip().strip("[]").split("%", 1)[0]
    out: list[str] = []
    for part in body.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo_text, hi_text = part.split("-", 1)
            step = 1
            if ":" in hi_text:
                hi_text, step_text = hi_text.split(":", 1)
                step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else 1
            if not (lo_text.isdigit() and hi_text.isdigit()):
                out.append(part)
                continue
            for i in range(int(lo_text), int(hi_text) + 1, step):
                out.append(str(i))
                if len(out) >= limit_count:
                    return out
        else:
            out.append(part)
        if len(out) >= limit_count:
            return out
    return out


def array_count(task_text: str) -> int:
    """How many tasks a pending range names, without expanding it."""
    body = task_text.strip().strip("[]").split("%", 1)[0]
    count = 0
    for part in body.split(","):
        part = part.strip()
        if "-" in part:
            lo_text, hi_text = part.split("-", 1)
            hi_text, _, step_text = hi_text.partition(":")
            step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else 1
            if lo_text.isdigit() and hi_text.isdigit():
                count += max(0, (int(hi_text) - int(lo_text)) // step + 1)
                continue
        if part:
            count += 1
    return count
