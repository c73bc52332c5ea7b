"""Partitions, grouped by node group; enter shows one partition's nodes and jobs.

Columns: state, nodes by state, CPUs alloc/idle/total, GPUs used/total, memory per node,
time limit; the site's hardware description of the highlighted partition under the
table. Refreshed like the job list (re-armed timer, paused while hidden).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Static

from core.slurm.models import Node, Partition
from tui import format as fmt
from tui.base import REFRESH_GROUP, Refreshing, SuanScreen
from tui.messages import PartitionJobsLoaded, PartitionsLoaded
from widgets.job_table import JobTable

_NODE_STATE_SHORT = {
    "allocated": "alloc",
    "mixed": "mix",
    "idle": "idle",
    "down": "down",
    "drained": "drain",
    "draining": "drng",
    "completing": "comp",
    "reserved": "resv",
    "maint": "maint",
}


def nodes_by_state(partition: Partition) -> Text:
    """``1 alloc 2 mix`` with the states coloured."""
    text = Text()
    for state, count in sorted(partition.nodes_by_state.items()):
        word = state.rstrip("*~#!%$@^-+").lower()
        short = _NODE_STATE_SHORT.get(word, word[:5])
        style = (
            "green"
            if word == "idle"
            else "red"
            if word.startswith(("down", "drain", "fail"))
            else "yellow"
        )
        if text:
            text.append(" ")
        text.append(f"{count} {short}", style=style)
    return text


def gpus(partition: Partition) -> str:
    """``2/8`` GPUs used of total, or ``—``."""
    if not partition.gpus_total:
        return "—"
    return f"{partition.gpus_used}/{partition.gpus_total}"


def ordered(partitions: Sequence[Partition], group_order: Sequence[str]) -> list[Partition]:
    """Partitions by node group in the site's order, default partition first in each."""
    rank = {g: i for i, g in enumerate(group_order)}
    return sorted(
        partitions, key=lambda p: (rank.get(p.group, len(rank)), not p.is_default, p.name)
    )


class PartitionsScreen(Refreshing):
    """Every partition of every controller, grouped by node group."""

    CSS_PATH = "partitions.tcss"

    VIEW = "partitions"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_now", "Refresh", id="partitions.refresh", tooltip="Refresh now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.partitions: list[Partition] = []

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="partitions-status")
        table: DataTable[Text | str] = DataTable(id="partitions-table", cursor_type="row")
        yield table
        yield Static(id="partitions-description")

    def on_mount(self) -> None:
        table = self.query_one("#partitions-table", DataTable)
        for label, width in (
            ("Group", 8),
            ("Partition", 11),
            ("State", 5),
            ("Nodes", 14),
            ("CPUs a/i/t", 11),
            ("GPUs", 4),
            ("Mem", 4),
            ("Limit", 7),
        ):
            table.add_column(label, width=width, key=label)
        table.focus()
        # Refreshing.on_mount (called after this one, by Textual) starts the first refresh.

    def action_refresh_now(self) -> None:
        """Refresh at once."""
        self.refresh_now()

    def start_refresh(self) -> None:
        self.load()

    @work(exclusive=True, group=REFRESH_GROUP, exit_on_error=False, description="Partitions")
    async def load(self) -> None:
        """sinfo on every controller, through the facade."""
        partitions = await self.suan.partitions()
        self.post_message(PartitionsLoaded(partitions, self.now()))

    def on_partitions_loaded(self, message: PartitionsLoaded) -> None:
        table = self.query_one("#partitions-table", DataTable)
        cursor = table.cursor_row
        groups = self.suan.site.groups
        self.partitions = ordered(message.partitions, list(groups))
        table.clear()
        previous_group = ""
        for p in self.partitions:
            label = groups[p.group].label if p.group in groups else p.group
            group_cell = Text(label, style="bold") if p.group != previous_group else Text("")
            previous_group = p.group
            name = Text(p.name + ("*" if p.is_default else ""))
            state = Text(p.state, style="green" if p.state == "up" else "bold red")
            table.add_row(
                group_cell,
                name,
                state,
                nodes_by_state(p),
                f"{p.cpus_alloc}/{p.cpus_idle}/{p.cpus_total}",
                gpus(p),
                fmt.memory(p.memory_mb),
                fmt.limit(p.time_limit),
                key=f"{p.cluster}:{p.name}",
            )
        if self.partitions:
            table.move_cursor(row=min(max(cursor, 0), len(self.partitions) - 1))
        self.refreshed(message.at)
        self.describe()

    def update_status(self) -> None:
        """Counts and the data's age."""
        text = Text()
        up = sum(1 for p in self.partitions if p.state == "up")
        text.append(f"{len(self.partitions)} partitions", style="bold")
        text.append(f" · {up} up · {len(self.partitions) - up} down · ")
        text.append(self.age_text(), style="dim")
        text.append(" · enter: nodes and jobs", style="dim")
        self.query_one("#partitions-status", Static).update(text)

    def current(self) -> Partition | None:
        """The partition under the cursor."""
        row = self.query_one("#partitions-table", DataTable).cursor_row
        return self.partitions[row] if 0 <= row < len(self.partitions) else None

    def describe(self) -> None:
        """The site's words about the highlighted partition."""
        p = self.current()
        text = Text()
        if p is not None:
            groups = self.suan.site.groups
            text.append(p.name, style="bold")
            label = groups[p.group].label if p.group in groups else p.group
            text.append(f" ({label}, cluster {p.cluster}): ", style="dim")
            text.append(fmt.remote(p.description or "no description in the site file"))
        self.query_one("#partitions-description", Static).update(text)

    @on(DataTable.RowHighlighted, "#partitions-table")
    def _highlighted(self) -> None:
        self.describe()

    @on(DataTable.RowSelected, "#partitions-table")
    def _selected(self) -> None:
        p = self.current()
        if p is not None:
            self.app.push_screen(PartitionDetailScreen(p))


class PartitionDetailScreen(SuanScreen[None]):
    """One partition: its description, its nodes and everyone's jobs in it."""

    CSS_PATH = "partitions.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="partition.back"),
        Binding(
            "r",
            "reload",
            "Reload",
            id="partition.reload",
            tooltip="Fetch the partition's jobs again",
        ),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="partition.next"),
    ]

    def __init__(self, partition: Partition) -> None:
        super().__init__(view="partitions")
        self.partition = partition

    def compose_body(self) -> Iterable[Widget]:
        yield Static(self._title(), id="partition-title")
        nodes: DataTable[Text | str] = DataTable(id="partition-nodes", cursor_type="row")
        yield nodes
        yield Static(Text("Jobs in this partition", style="bold"), id="partition-jobs-title")
        yield JobTable(id="partition-jobs", show_user=True)

    def _title(self) -> Text:
        p = self.partition
        text = Text()
        text.append(p.name, style="bold")
        text.append(f"  {p.state} · {p.nodes_total} nodes · limit {fmt.limit(p.time_limit)}\n")
        text.append(f"CPUs {p.cpus_alloc} alloc, {p.cpus_idle} idle of {p.cpus_total}")
        if p.gpus_total:
            text.append(f" · GPUs {p.gpus_used} used of {p.gpus_total}")
        text.append("\n")
        text.append(fmt.remote(p.description, "dim"))
        return text

    def on_mount(self) -> None:
        nodes = self.query_one("#partition-nodes", DataTable)
        for label, width in (
            ("Node", 10),
            ("State", 10),
            ("CPUs a/i/t", 12),
            ("Mem", 6),
            ("GRES", 12),
            ("Used", 16),
        ):
            nodes.add_column(label, width=width, key=label)
        for node in self.partition.nodes:
            nodes.add_row(*self._node_row(node), key=node.name)
        self.query_one("#partition-jobs", JobTable).focus()
        self.load()

    @staticmethod
    def _node_row(node: Node) -> list[Text | str]:
        return [
            fmt.remote(node.name),
            fmt.remote(node.state),
            f"{node.cpus_alloc}/{node.cpus_idle}/{node.cpus_total}",
            fmt.memory(node.memory_mb),
            fmt.remote(node.gres if node.gres not in ("", "(null)") else "—"),
            fmt.remote(node.gres_used or "—"),
        ]

    @work(exclusive=True, group="partition-jobs", exit_on_error=False, description="Jobs")
    async def load(self) -> None:
        """Everyone's jobs in this partition."""
        jobs = await self.suan.jobs(everyone=True, partition=self.partition.name)
        self.post_message(PartitionJobsLoaded(self.partition.name, jobs))

    def on_partition_jobs_loaded(self, message: PartitionJobsLoaded) -> None:
        self.query_one("#partition-jobs", JobTable).set_jobs(message.jobs)
        self.query_one("#partition-jobs-title", Static).update(
            Text(f"Jobs in this partition: {len(message.jobs)}", style="bold")
        )

    def on_job_table_activated(self, message: JobTable.Activated) -> None:
        from tui.screens.detail import JobDetailScreen

        self.app.push_screen(JobDetailScreen(message.job.job_id, view=self.view_name))

    def action_back(self) -> None:
        """Back to the partition list."""
        self.dismiss(None)

    def action_reload(self) -> None:
        """Fetch the jobs again."""
        self.load()
