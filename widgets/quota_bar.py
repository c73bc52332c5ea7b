"""A one-line quota gauge: who, a bar coloured by fill, used/limit with percent, files.

The quota comes from the HPC API, whose schema is not public: any figure may be missing,
so every part degrades to words (``no limit``, ``—``) instead of failing. The drawing
helpers (:func:`bar`, :func:`human_size`, :func:`fill_style`) are shared with the
transfers screen's progress bars.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from core.safetext import clean_line

__all__ = ["QuotaBar", "QuotaFigures", "bar", "fill_style", "human_count", "human_size"]

WARN_AT = 0.70
"""Fill from which a gauge turns yellow."""
FULL_AT = 0.90
"""Fill from which a gauge turns red: writes may start failing soon."""

_FULL = "█"
_EIGHTHS = " ▏▎▍▌▋▊▉"
_EMPTY = "░"


def human_size(n: int | None) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``3.0 TiB``; ``—`` if unknown."""
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


def human_count(n: int | None) -> str:
    """A count with a k/M suffix above ten thousand: ``9,999``, ``12.3k``, ``1.0M``."""
    if n is None:
        return "—"
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def fill_style(fraction: float | None) -> str:
    """The colour of a gauge filled to ``fraction``: green, yellow from 70 %, red from 90 %."""
    if fraction is None:
        return "dim"
    if fraction >= FULL_AT:
        return "bold red"
    if fraction >= WARN_AT:
        return "yellow"
    return "green"


def bar(fraction: float | None, width: int, style: str | None = None) -> Text:
    """A bar of ``width`` cells filled to ``fraction`` (eighths of a cell), ░ for the rest.

    ``None`` draws an empty, dim bar (nothing known). The fill is clamped to [0, 1] so an
    over-quota account still draws a full bar rather than overflowing the line.
    """
    width = max(0, width)
    if fraction is None:
        return Text(_EMPTY * width, style="dim")
    clamped = min(1.0, max(0.0, fraction))
    eighths = round(clamped * width * 8)
    full, part = divmod(eighths, 8)
    filled = _FULL * full + (_EIGHTHS[part] if part and full < width else "")
    text = Text(filled, style=style or fill_style(fraction))
    text.append(_EMPTY * (width - len(filled)), style="dim")
    return text


@dataclass(frozen=True)
class QuotaFigures:
    """What one gauge shows: a label and the figures (any may be unknown)."""

    label: str
    used_bytes: int | None = None
    limit_bytes: int | None = None
    used_files: int | None = None
    limit_files: int | None = None
    note: str = ""
    """Words shown instead of the figures (an error, "no quota reported")."""

    @property
    def fraction(self) -> float | None:
        """Used over limit, by bytes, or by files when bytes have no limit."""
        if self.used_bytes is not None and self.limit_bytes:
            return self.used_bytes / self.limit_bytes
        if self.used_files is not None and self.limit_files:
            return self.used_files / self.limit_files
        return None


class QuotaBar(Static):
    """``user hpcuser  ████░░░░  1.2 TiB / 3.0 TiB  40%  ·  12.3k / 1.0M files``.

    The bar takes the room the words leave, so the line fits any width.
    """

    DEFAULT_CSS = """
    QuotaBar { height: 1; width: 1fr; padding: 0 1; }
    """

    BAR_MIN = 6
    """Narrowest bar worth drawing; below it the bar is left out."""

    def __init__(self, figures: QuotaFigures | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.figures = figures or QuotaFigures("quota", note="loading…")

    def show(self, figures: QuotaFigures) -> None:
        """Show new figures."""
        self.figures = figures
        self.refresh(layout=False)

    def render(self) -> Text:
        return quota_line(self.figures, max(0, self.content_region.width or self.size.width))


def quota_line(figures: QuotaFigures, width: int) -> Text:
    """The gauge as one line of ``width`` cells (see :class:`QuotaBar`)."""
    label = Text(clean_line(figures.label), style="bold")
    label.append(" ")
    if figures.note:
        line = Text.assemble(label, Text(clean_line(figures.note), style="dim"))
        line.truncate(width, overflow="ellipsis")
        return line
    fraction = figures.fraction
    tail = Text()
    tail.append(" ")
    tail.append(human_size(figures.used_bytes))
    if figures.limit_bytes:
        tail.append(f" / {human_size(figures.limit_bytes)}")
    elif figures.used_bytes is not None:
        tail.append(" (no limit)", style="dim")
    if fraction is not None:
        tail.append(f" {fraction * 100:3.0f}%", style=fill_style(fraction))
    if figures.used_files is not None or figures.limit_files:
        tail.append(" · ", style="dim")
        tail.append(human_count(figures.used_files))
        if figures.limit_files:
            tail.append(f" / {human_count(figures.limit_files)}")
        tail.append(" files")
    room = width - label.cell_len - tail.cell_len
    line = Text.assemble(label)
    if room >= QuotaBar.BAR_MIN:
        line.append_text(bar(fraction, min(room, 40)))
    line.append_text(tail)
    line.truncate(width, overflow="ellipsis")
    return line
