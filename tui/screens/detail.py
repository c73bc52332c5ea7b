"""Job detail: scontrol's fields in readable groups, the pending reason in words, the
estimated start, dependencies, efficiency of a finished job and the batch script.

The job is fetched in a worker; the optional parts (estimate, efficiency, script) are
fetched after it and their failures are shown in place rather than hiding the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from core.errors import SuanError
from core.slurm.models import (
    Efficiency,
    HistoryRecord,
    JobDetail,
    JobState,
    StartEstimate,
)
from core.slurm.reasons import explain_reason
from tui import format as fmt
from tui.base import SuanScreen
from tui.messages import DetailLoaded
from widgets.state_style import state_style

#: scontrol fields already shown in a group (the rest go under "Other fields").
_SHOWN = frozenset(
    {
        "JobId",
        "JobName",
        "UserId",
        "Account",
        "Partition",
        "JobState",
        "Reason",
        "StdOut",
        "StdErr",
        "WorkDir",
        "Command",
        "Dependency",
        "SubmitTime",
        "StartTime",
        "EndTime",
        "TimeLimit",
        "RunTime",
        "NumNodes",
        "NumCPUs",
        "NodeList",
        "TRES",
        "ExitCode",
        "ArrayJobId",
        "ArrayTaskId",
    }
)


def explain(reason: str) -> str:
    """A pending reason in words, or Slurm's word when nothing better is known."""
    try:
        return explain_reason(reason) or reason
    except Exception:  # a reason text we cannot parse still deserves to be shown
        return reason


def _section(title: str, rows: Iterable[tuple[str, Text | str]]) -> RenderableType:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True, min_width=12)
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, value if isinstance(value, Text) else Text(value))
    return Group(Text(title, style="bold underline"), table, Text(""))


def render_detail(message: DetailLoaded) -> RenderableType:
    """Every group of the detail screen as one renderable (remote text as Text only)."""
    d = message.detail
    parts: list[RenderableType] = []
    state = Text(d.state.value, style=state_style(d.state))
    head = Text.assemble(("Job ", "bold"), (d.job_id, "bold"), "  ", fmt.remote(d.name, "bold"))
    parts.append(Group(head, Text("")))

    status_rows: list[tuple[str, Text | str]] = [("State", state)]
    if isinstance(d, JobDetail):
        if d.state is JobState.PENDING and d.reason and d.reason != "None":
            status_rows.append(("Waiting", fmt.remote(explain(d.reason))))
            status_rows.append(("Reason", fmt.remote(d.reason, "dim")))
        elif d.reason and d.reason != "None":
            status_rows.append(("Reason", fmt.remote(d.reason)))
    status_rows.append(("Exit code", d.exit_code or "—"))
    if message.estimate is not None:
        status_rows.append(("Est. start", _estimate(message.estimate)))
    parts.append(_section("Status", status_rows))

    where_rows: list[tuple[str, Text | str]] = [
        ("User", fmt.remote(d.user)),
        ("Account", fmt.remote(d.account)),
        ("Partition", fmt.remote(f"{d.partition}  (group {d.group}, cluster {d.cluster})")),
        ("Nodes", f"{d.num_nodes}  {d.nodelist or '—'}"),
        ("CPUs", str(d.num_cpus)),
    ]
    if isinstance(d, JobDetail):
        where_rows.append(("TRES", fmt.remote(d.tres or "—")))
        if d.array_job_id:
            where_rows.append(("Array", f"{d.array_job_id} task {d.array_task_id or '?'}"))
    parts.append(_section("Resources", where_rows))

    run_time = d.run_time if isinstance(d, JobDetail) else d.elapsed
    time_rows: list[tuple[str, Text | str]] = [
        ("Submitted", fmt.timestamp(d.submit_time)),
        ("Started", fmt.timestamp(d.start_time)),
        ("Ended", fmt.timestamp(d.end_time)),
        ("Run time", fmt.duration(run_time)),
        ("Time limit", fmt.limit(d.time_limit)),
    ]
    parts.append(_section("Times", time_rows))

    file_rows: list[tuple[str, Text | str]] = [("Work dir", fmt.remote(d.work_dir))]
    if isinstance(d, JobDetail):
        file_rows += [
            ("Stdout", fmt.remote(d.stdout)),
            ("Stderr", fmt.remote(d.stderr)),
            ("Command", fmt.remote(d.command)),
        ]
    else:
        file_rows.append(("Submit line", fmt.remote(d.submit_line)))
    parts.append(_section("Files", file_rows))

    if isinstance(d, JobDetail):
        dep = d.dependency if d.dependency and d.dependency != "(null)" else "none"
        parts.append(_section("Dependencies", [("Depends on", fmt.remote(dep))]))

    if message.efficiency is not None:
        parts.append(_section("Efficiency", _efficiency(message.efficiency)))

    if isinstance(d, JobDetail):
        other = [(k, fmt.remote(v)) for k, v in sorted(d.fields.items()) if k not in _SHOWN]
        if other:
            parts.append(_section("Other fields", other))

    if message.problems:
        parts.append(
            _section("Not available", [("", fmt.remote(p, "yellow")) for p in message.problems])
        )

    if message.script is not None:
        script = Text()
        for line in message.script.splitlines():
            script.append(fmt.remote(line))
            script.append("\n")
        parts.append(Group(Text("Batch script", style="bold underline"), script))
    return Group(*parts)


def _estimate(estimate: StartEstimate) -> Text:
    text = Text(fmt.timestamp(estimate.start_time))
    if estimate.nodes:
        text.append("  on ")
        text.append(fmt.remote(estimate.nodes))
    return text


def _efficiency(eff: Efficiency) -> list[tuple[str, Text | str]]:
    rows: list[tuple[str, Text | str]] = [
        (
            "CPU",
            f"{fmt.percent(eff.cpu_efficiency)}  "
            f"({eff.total_cpu_seconds:.0f} CPU·s of {eff.alloc_cpus} CPUs × "
            f"{fmt.duration(eff.elapsed)})",
        ),
        (
            "Memory",
            f"{fmt.percent(eff.memory_efficiency)}  "
            f"({fmt.memory(eff.max_rss_mb)} peak of {fmt.memory(eff.requested_mem_mb)})",
        ),
    ]
    if eff.gpus:
        rows.append(("GPU", f"{fmt.percent(eff.gpu_efficiency)} of {eff.gpus} GPUs"))
    return rows


class JobDetailScreen(SuanScreen[None]):
    """Everything about one job; ``o``/``e`` open its logs."""

    CSS_PATH = "detail.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="detail.back", tooltip="Back"),
        Binding("o", "log('stdout')", "Out", id="detail.stdout", tooltip="Open the job's stdout"),
        Binding("e", "log('stderr')", "Err", id="detail.stderr", tooltip="Open the job's stderr"),
        Binding("r", "reload", "Reload", id="detail.reload", tooltip="Fetch the job again"),
    ]

    def __init__(self, job_id: str, view: str = "") -> None:
        super().__init__(view=view)
        self.job_id = job_id
        self.loaded: DetailLoaded | None = None

    def compose_body(self) -> Iterable[Widget]:
        with VerticalScroll(id="detail-scroll"):
            yield Static(Text(f"Loading job {self.job_id}…", style="dim"), id="detail-body")

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").focus()
        self.load()

    @work(exclusive=True, group="detail", exit_on_error=False, description="Loading the job")
    async def load(self) -> None:
        """The job, then its optional parts; each optional failure is kept as words."""
        suan = self.suan
        detail = await suan.job(self.job_id)
        problems: list[str] = []
        estimate: StartEstimate | None = None
        efficiency: Efficiency | None = None
        script: str | None = None
        if detail.state is JobState.PENDING:
            try:
                estimate = await suan.start_estimate(self.job_id)
            except SuanError as err:
                problems.append(f"Estimated start: {err.message}")
        if isinstance(detail, HistoryRecord) or detail.state.is_finished:
            try:
                efficiency = await suan.efficiency(self.job_id)
            except SuanError as err:
                problems.append(f"Efficiency: {err.message}")
        try:
            script = await suan.batch_script(self.job_id)
        except SuanError as err:
            problems.append(f"Batch script: {err.message}")
        self.post_message(DetailLoaded(detail, estimate, efficiency, script, problems))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.loaded = message
        self.query_one("#detail-body", Static).update(render_detail(message))

    def action_back(self) -> None:
        """Back to where the job was chosen."""
        self.dismiss(None)

    def action_reload(self) -> None:
        """Fetch the job again."""
        self.load()

    def action_log(self, which: str) -> None:
        """Open the job's stdout or stderr in the log viewer."""
        from tui.screens.logs import LogScreen

        self.app.push_screen(LogScreen(self.job_id, which, view=self.view_name))
