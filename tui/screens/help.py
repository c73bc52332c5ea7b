"""Help: the keys of the screen it was opened from, as they are bound right now.

It lists the live bindings (after ``[keys]`` remapping), so what it says is what works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from tui.base import SuanModal


@dataclass(frozen=True)
class KeyHelp:
    """One line of help: the keys, what they do, and which part of the screen owns them."""

    keys: str
    description: str
    owner: str


class HelpScreen(SuanModal[None]):
    """The keys of one screen, grouped by owner (screen, widget, app)."""

    CSS_PATH = "dialogs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close"),
    ]

    def __init__(self, title: str, entries: Sequence[KeyHelp]) -> None:
        super().__init__()
        self.title_text = title
        self.entries = list(entries)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_column(style="dim")
        for entry in self.entries:
            table.add_row(Text(entry.keys), Text(entry.description), Text(entry.owner))
        with Vertical(id="help-box"):
            yield Static(Text(f"Keys: {self.title_text}", style="bold"), id="help-title")
            with VerticalScroll(id="help-list"):
                yield Static(table)
            yield Static(Text("esc close · ctrl+p command palette", style="dim"))

    def action_close(self) -> None:
        """Back to the screen."""
        self.dismiss(None)
