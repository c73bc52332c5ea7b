"""Transfers (view 5): copies and moves between pools, and this machine's up/downloads.

Copies between pools run detached on a data node (``core.transfers``); this screen lists
them with their state and rsync's last progress line, refreshed by the same re-armed
one-shot timer as the job list (paused while hidden). Uploads and downloads started from
the storage explorer run in this app: they live in a :class:`LocalTransfers` registry per
app and are redrawn twice a second while one is moving. ``x`` cancels a running transfer
after a confirmation naming it, ``F`` forgets a finished one.
"""

from __future__ import annotations

import builtins
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker

from core.safetext import clean_line
from core.transfers import FileTransferResult, TransferStatus
from tui import format as fmt
from tui.base import REFRESH_GROUP, Refreshing, SuanModal
from widgets.job_table import fit_cells
from widgets.quota_bar import bar, human_size

ProgressCallback = Callable[[int, int], None]


class TransfersLike(Protocol):
    """The parts of ``core.transfers.Transfers`` the TUI uses."""

    async def copy(
        self, sources: Sequence[str], dest: str, *, move: bool = False
    ) -> TransferStatus: ...

    async def list(self, *, include_remote: bool = False) -> builtins.list[TransferStatus]: ...

    async def cancel(self, transfer_id: str) -> TransferStatus: ...

    async def forget(self, transfer_id: str) -> None: ...

    async def upload(
        self, local: Path | str, remote: str, *, progress: ProgressCallback | None = None
    ) -> FileTransferResult: ...

    async def download(
        self, remote: str, local: Path | str, *, progress: ProgressCallback | None = None
    ) -> FileTransferResult: ...


class TransfersFacade(Protocol):
    """What the transfers screen needs from ``core.service.Suan``."""

    @property
    def read_only(self) -> bool: ...

    async def transfers(self) -> TransfersLike: ...


# --- uploads and downloads running in this app ------------------------------------------------


@dataclass
class LocalTransfer:
    """One upload or download running (or run) in this app."""

    id: str
    kind: str  # "upload" | "download"
    source: str
    dest: str
    started: float  # monotonic seconds
    created: float  # Unix time, for ordering with the remote transfers
    total: int = 0
    done: int = 0
    state: str = "running"  # running | finished | failed | cancelled
    message: str = ""
    node: str = ""
    seconds: float | None = None
    """How long it took, once finished."""
    worker: Worker[Any] | None = field(default=None, repr=False, compare=False)

    @property
    def fraction(self) -> float | None:
        """Bytes done over the total (None before the size is known)."""
        if self.state == "finished":
            return 1.0
        return self.done / self.total if self.total else None

    def rate(self, now: float) -> float | None:
        """Average bytes per second so far (or over the whole transfer once finished)."""
        elapsed = self.seconds if self.seconds is not None else now - self.started
        if elapsed <= 0 or self.done <= 0:
            return None
        return self.done / elapsed

    def eta(self, now: float) -> float | None:
        """Seconds left at the average rate, while running."""
        rate = self.rate(now)
        if self.state != "running" or not rate or not self.total:
            return None
        return max(0.0, (self.total - self.done) / rate)


class LocalTransfers:
    """The uploads and downloads of one app, shared by the storage and transfers screens.

    Progress callbacks run on the app's loop (SFTP is async), so updating a counter here is
    cheap; screens redraw on their own timer by comparing :attr:`version`.
    """

    _registry: ClassVar[weakref.WeakKeyDictionary[App[Any], LocalTransfers]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.entries: list[LocalTransfer] = []
        self.monotonic = monotonic
        self.wall = wall
        self.version = 0
        """Bumped on every change, so a screen redraws only when something moved."""
        self._count = 0

    @classmethod
    def of(cls, app: App[Any]) -> LocalTransfers:
        """The registry of ``app`` (made on first use)."""
        found = cls._registry.get(app)
        if found is None:
            found = cls._registry[app] = cls()
        return found

    def start(self, kind: str, source: str, dest: str) -> LocalTransfer:
        """Record a new transfer as running."""
        self._count += 1
        entry = LocalTransfer(
            f"{kind[:2]}-{self._count}", kind, source, dest, self.monotonic(), self.wall()
        )
        self.entries.insert(0, entry)
        self.version += 1
        return entry

    def progress(self, entry: LocalTransfer) -> ProgressCallback:
        """The callback that moves ``entry`` forward."""

        def moved(done: int, total: int) -> None:
            entry.done, entry.total = done, total
            self.version += 1

        return moved

    def finish(self, entry: LocalTransfer, result: FileTransferResult) -> None:
        """The transfer ended well."""
        entry.state = "finished"
        entry.done = entry.total = result.size
        entry.node = result.node
        entry.seconds = result.seconds
        entry.worker = None
        self.version += 1

    def fail(self, entry: LocalTransfer, state: str, message: str) -> None:
        """The transfer failed or was cancelled."""
        entry.state = state
        entry.message = message
        entry.seconds = self.monotonic() - entry.started
        entry.worker = None
        self.version += 1

    def get(self, transfer_id: str) -> LocalTransfer | None:
        """One entry by id."""
        return next((e for e in self.entries if e.id == transfer_id), None)

    def remove(self, transfer_id: str) -> None:
        """Forget a finished entry."""
        self.entries = [e for e in self.entries if e.id != transfer_id]
        self.version += 1

    @property
    def running(self) -> int:
        """How many are moving now."""
        return sum(1 for e in self.entries if e.state == "running")


# --- rows --------------------------------------------------------------------------------------

STATE_STYLES = {
    "running": "bold yellow",
    "finished": "green",
    "failed": "bold red",
    "lost": "bold red",
    "cancelled": "magenta",
    "unknown": "dim",
}

KIND_SHORT = {"copy": "copy", "move": "move", "upload": "up", "download": "down"}


@dataclass(frozen=True)
class Row:
    """One line of the table, from a remote transfer or a local one."""

    key: str
    id: str
    kind: str
    state: str
    node: str
    fraction: float | None
    rate: str
    eta: str
    sources: tuple[str, ...]
    dest: str
    created: float
    exit_status: int | None = None
    message: str = ""
    local: bool = False
    bytes_done: int | None = None
    bytes_total: int | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"


def remote_row(status: TransferStatus) -> Row:
    """A row for a copy or move on a data node."""
    record = status.record
    progress = status.progress
    fraction = progress.percent / 100 if progress is not None else None
    if status.state == "finished":
        fraction = 1.0
    running = status.state == "running"
    return Row(
        key=record.id,
        id=record.id,
        kind=record.kind,
        state=status.state,
        node=record.node,
        fraction=fraction,
        rate=progress.rate if progress is not None and running else "—",
        eta=progress.eta if progress is not None and running else "—",
        sources=tuple(record.sources),
        dest=record.dest,
        created=record.created,
        exit_status=status.exit_status,
        message=status.message,
        bytes_done=progress.bytes if progress is not None else None,
    )


def local_row(entry: LocalTransfer, now: float) -> Row:
    """A row for an upload or download of this app."""
    rate = entry.rate(now)
    eta = entry.eta(now)
    return Row(
        key=f"local:{entry.id}",
        id=entry.id,
        kind=entry.kind,
        state=entry.state,
        node=entry.node or "—",
        fraction=entry.fraction,
        rate=human_size(int(rate)).replace(" ", "") + "/s" if rate else "—",
        eta=fmt.duration(eta) if eta is not None else "—",
        sources=(entry.source,),
        dest=entry.dest,
        created=entry.created,
        message=entry.message,
        local=True,
        bytes_done=entry.done,
        bytes_total=entry.total or None,
    )


def ordered_rows(rows: Iterable[Row]) -> list[Row]:
    """Running first, then newest first."""
    return sorted(rows, key=lambda r: (not r.running, -r.created))


def short_id(transfer_id: str) -> str:
    """``20260511-093000-a1b2c3`` → ``093000-a1b2c3`` (the date is in the detail pane)."""
    if len(transfer_id) == 22 and transfer_id[8] == "-":
        return transfer_id[9:]
    return transfer_id


def progress_cell(fraction: float | None, width: int = 8) -> Text:
    """A bar and a percent, ``████░░░░  45%``, or a dash when nothing is known."""
    if fraction is None:
        return Text("—", style="dim")
    text = bar(fraction, width, style="green" if fraction >= 1 else "cyan")
    text.append(f" {fraction * 100:3.0f}%")
    return text


def route(row: Row) -> str:
    """``a, b → dest`` as plain text (cleaned)."""
    first = clean_line(row.sources[0]) if row.sources else "?"
    more = f" +{len(row.sources) - 1}" if len(row.sources) > 1 else ""
    return f"{first}{more} → {clean_line(row.dest)}"


# --- messages ----------------------------------------------------------------------------------


@dataclass
class TransfersLoaded(Message):
    """A fresh list from ``Transfers.list``."""

    statuses: list[TransferStatus]
    at: datetime


@dataclass
class TransferActed(Message):
    """A cancel or forget went through: words for a toast."""

    words: str


# --- dialogs -----------------------------------------------------------------------------------


def describe_row(row: Row) -> Text:
    """Every fact about one transfer, remote text cleaned (for the detail pane and dialogs)."""
    text = Text()
    text.append(row.id, style="bold")
    text.append(f"  {row.kind}  ")
    text.append(row.state, style=STATE_STYLES.get(row.state, ""))
    if row.exit_status is not None:
        text.append(f" (exit {row.exit_status})", style="dim")
    where = "this machine" if row.local and not row.node.strip("—") else row.node
    text.append(f"  on {where}", style="dim")
    if not row.local:
        text.append(f"  started {datetime.fromtimestamp(row.created, UTC):%m-%d %H:%M}")
    if row.bytes_done is not None:
        done = human_size(row.bytes_done)
        total = f" of {human_size(row.bytes_total)}" if row.bytes_total else ""
        text.append(f"  {done}{total}", style="dim")
    for source in row.sources:
        text.append("\n  from ", style="dim")
        text.append(clean_line(source))
    text.append("\n  to   ", style="dim")
    text.append(clean_line(row.dest))
    if row.message:
        text.append("\n  ")
        text.append(clean_line(row.message), style="red" if row.state != "running" else "")
    return text


class ConfirmTransferCancelScreen(SuanModal[bool]):
    """Names the transfer that will stop; ``y`` stops it, ``n``/esc keeps it."""

    CSS_PATH = "dialogs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes, stop it", id="transfer_cancel.yes"),
        Binding("n,escape", "refuse", "No", id="transfer_cancel.no"),
    ]

    def __init__(self, row: Row) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text(f"Cancel transfer {self.row.id}?", style="bold"), id="confirm-title")
            with VerticalScroll(id="confirm-list"):
                yield Static(describe_row(self.row), classes="confirm-job")
            if self.row.local:
                words = (
                    f"The {self.row.kind} stops; the .part file stays, "
                    "and a new attempt resumes it."
                )
            else:
                words = "rsync stops; what it copied so far stays (--partial)."
                if self.row.kind == "move":
                    words += " Sources not yet moved stay where they are."
            yield Static(Text(words, style="yellow"))
            yield Static(
                Text.assemble(("y", "bold"), " stop it   ", ("n / esc", "bold"), " keep it going"),
                id="confirm-keys",
            )

    def action_confirm(self) -> None:
        """The user named this transfer: stop it."""
        self.dismiss(True)

    def action_refuse(self) -> None:
        """Nothing is stopped."""
        self.dismiss(False)


# --- the screen --------------------------------------------------------------------------------

_COLUMNS: tuple[tuple[str, int], ...] = (
    ("ID", 13),
    ("Kind", 4),
    ("State", 9),
    ("Progress", 13),
    ("Rate", 10),
    ("ETA", 7),
    ("Node", 6),
)
_ROUTE_MIN = 20


class TransfersScreen(Refreshing):
    """Every transfer this profile knows, live, and this app's uploads and downloads."""

    CSS_PATH = "transfers.tcss"

    VIEW = "transfers"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "x",
            "cancel_transfer",
            "Cancel",
            id="transfers.cancel",
            tooltip="Stop the running transfer under the cursor (asks first)",
        ),
        Binding(
            "F",
            "forget",
            "Forget",
            id="transfers.forget",
            tooltip="Forget the finished transfer under the cursor (its records, not its data)",
        ),
        Binding(
            "r",
            "refresh_now",
            "Refresh",
            id="transfers.refresh",
            tooltip="Refresh now, also reading the records on the data nodes",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[TransferStatus] = []
        self.rows: list[Row] = []
        self._include_remote = True
        self._local_version = -1
        self._route_width = 0

    @property
    def local(self) -> LocalTransfers:
        """This app's uploads and downloads."""
        return LocalTransfers.of(self.app)

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="transfers-status")
        table: DataTable[Text | str] = DataTable(id="transfers-table", cursor_type="row")
        yield table
        yield Static(id="transfers-detail")

    def on_mount(self) -> None:
        self.table.focus()
        # Uploads and downloads move between refreshes; no I/O happens in this tick.
        self.set_interval(0.5, self._tick_local)

    @property
    def table(self) -> DataTable[Text | str]:
        """The transfer table."""
        return cast("DataTable[Text | str]", self.query_one("#transfers-table", DataTable))

    # --- refreshing ----------------------------------------------------------------------

    def start_refresh(self) -> None:
        self.load(self._include_remote)
        # The data nodes' records are read on the first load and on an explicit refresh;
        # timer refreshes ask only about the transfers already known.
        self._include_remote = False

    @work(exclusive=True, group=REFRESH_GROUP, exit_on_error=False, description="Transfers")
    async def load(self, include_remote: bool) -> None:
        """The state of every known transfer, through the facade."""
        transfers = await cast(TransfersFacade, self.suan).transfers()
        statuses = await transfers.list(include_remote=include_remote)
        self.post_message(TransfersLoaded(statuses, self.now()))

    def on_transfers_loaded(self, message: TransfersLoaded) -> None:
        self.statuses = message.statuses
        self.render_rows()
        self.refreshed(message.at)

    def _tick_local(self) -> None:
        if self.local.version != self._local_version:
            self.render_rows()

    def on_resize(self) -> None:
        self.render_rows()

    def render_rows(self) -> None:
        """Rebuild the table from the last list and the local registry, keeping the cursor."""
        local = self.local
        self._local_version = local.version
        now = local.monotonic()
        rows = [remote_row(s) for s in self.statuses]
        rows += [local_row(e, now) for e in local.entries]
        self.rows = ordered_rows(rows)
        table = self.table
        current = self.current()
        cursor_key = current.key if current is not None else None
        width = table.size.width or self.app.size.width
        fixed = sum(w + 2 for _, w in _COLUMNS)
        route_width = max(_ROUTE_MIN, width - fixed - 3)
        if route_width != self._route_width or not table.columns:
            self._route_width = route_width
            table.clear(columns=True)
            for label, col_width in _COLUMNS:
                table.add_column(label, width=col_width, key=label)
            table.add_column("From → To", width=route_width, key="route")
        else:
            table.clear()
        for row in self.rows:
            table.add_row(
                row.id if row.local else short_id(row.id),
                KIND_SHORT.get(row.kind, row.kind[:4]),
                Text(row.state, style=STATE_STYLES.get(row.state, "")),
                progress_cell(row.fraction),
                row.rate,
                row.eta,
                fit_cells(clean_line(row.node), 6),
                Text(fit_cells(route(row), route_width)),
                key=row.key,
            )
        keys = [r.key for r in self.rows]
        if cursor_key in keys:
            table.move_cursor(row=keys.index(cursor_key), animate=False)
        self.update_status()
        self.describe()

    def current(self) -> Row | None:
        """The transfer under the cursor."""
        if not self.is_mounted:
            return None
        row = self.table.cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def update_status(self) -> None:
        """Counts by state and the data's age."""
        rows = self.rows
        text = Text()
        text.append(f"{len(rows)} transfers", style="bold")
        for state in ("running", "failed", "finished"):
            count = sum(1 for r in rows if r.state == state)
            if count:
                text.append(" · ")
                text.append(f"{count} {state}", style=STATE_STYLES[state])
        text.append(" · ")
        text.append(self.age_text(), style="dim")
        self.query_one("#transfers-status", Static).update(text)

    def describe(self) -> None:
        """The highlighted transfer in full under the table."""
        row = self.current()
        detail = self.query_one("#transfers-detail", Static)
        if row is None:
            detail.update(
                Text(
                    "No transfers yet. In the storage view (4): c copies, M moves, "
                    "u uploads, D downloads.",
                    style="dim",
                )
            )
        else:
            detail.update(describe_row(row))

    @on(DataTable.RowHighlighted, "#transfers-table")
    def _highlighted(self) -> None:
        self.describe()

    # --- actions -------------------------------------------------------------------------

    def action_refresh_now(self) -> None:
        """Refresh at once, also reading the data nodes' records."""
        self._include_remote = True
        self.refresh_now()

    def action_cancel_transfer(self) -> None:
        """Stop the running transfer under the cursor, after a confirmation."""
        if self.suan_app.refuse_if_read_only("cancelling transfers"):
            return
        row = self.current()
        if row is None:
            self.notify("No transfer under the cursor.", severity="warning")
            return
        if not row.running:
            self.notify(
                f"Transfer {row.id} is {row.state}: nothing to stop (F forgets it).",
                severity="warning",
                markup=False,
            )
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.cancel(row)

        self.app.push_screen(ConfirmTransferCancelScreen(row), confirmed)

    def cancel(self, row: Row) -> None:
        """Stop ``row``: a local one by cancelling its worker, a remote one on its node."""
        if row.local:
            entry = self.local.get(row.id)
            if entry is not None and entry.worker is not None:
                entry.worker.cancel()
                self.local.fail(entry, "cancelled", "cancelled by you")
            self.render_rows()
            self.notify(f"Transfer {row.id} cancelled.", markup=False)
            return
        self.cancel_remote(row.id)

    @work(exclusive=True, group="transfers.act", exit_on_error=False, description="Cancelling")
    async def cancel_remote(self, transfer_id: str) -> None:
        """tmux kill-session on the data node, through the facade."""
        transfers = await cast(TransfersFacade, self.suan).transfers()
        status = await transfers.cancel(transfer_id)
        self.post_message(TransferActed(f"Transfer {transfer_id} is now {status.state}."))

    def action_forget(self) -> None:
        """Forget the finished transfer under the cursor (records only, never data)."""
        if self.suan_app.refuse_if_read_only("forgetting transfers"):
            return
        row = self.current()
        if row is None:
            self.notify("No transfer under the cursor.", severity="warning")
            return
        if row.running:
            self.notify(
                f"Transfer {row.id} is still running: cancel it first (x).",
                severity="warning",
                markup=False,
            )
            return
        if row.local:
            self.local.remove(row.id)
            self.render_rows()
            self.notify(f"Forgot transfer {row.id}.", markup=False)
            return
        self.forget(row.id)

    @work(exclusive=True, group="transfers.act", exit_on_error=False, description="Forgetting")
    async def forget(self, transfer_id: str) -> None:
        """Drop the records here and on the data node."""
        transfers = await cast(TransfersFacade, self.suan).transfers()
        await transfers.forget(transfer_id)
        self.post_message(TransferActed(f"Forgot transfer {transfer_id}."))

    def on_transfer_acted(self, message: TransferActed) -> None:
        self.notify(message.words, markup=False)
        self.refresh_now()
