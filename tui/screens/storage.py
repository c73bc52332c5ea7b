"""The storage explorer (view 4): pools, quotas, a directory table, a preview, careful writes.

Top to bottom: a status line (the path, counts, sort, filter), the pools side by side
(``[``/``]`` switch; the user's directory in each, missing ones shown as such), the
current pool's facts (kind, who sees it, where it is writable, free space), the user's and
the account's quota gauges, then the directory table beside (or, on a narrow terminal,
above) a preview of the highlighted file.

Every name, path and file line came from the cluster: it is cleaned with
``core.safetext.clean_line`` and rendered as ``rich.text.Text``, never as markup, and names
are cut to their column by terminal cells so CJK and control characters cannot misalign a
row. Writes (mkdir, rename, delete, copy/move, upload) are refused in read-only mode with
a toast; a write to a cold pool is explained up front (it runs on a data node) rather than
discovered as an error. Deleting asks first, naming exactly what goes
(``DeletePlan.describe()``: entries and sizes for directories).
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

from rich.cells import cell_len
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from core.errors import NotFound, SuanError
from core.logs import RemoteFile
from core.safetext import clean_line
from core.storage import DeletePlan, Entry, PoolInfo, Preview, Quota
from core.transfers import FileTransferResult, ProgressCallback
from tui.base import SuanInput, SuanModal, SuanScreen
from tui.messages import LogOpened
from tui.screens.logs import LogScreen
from tui.screens.transfers import LocalTransfers, TransfersLike
from widgets.job_table import fit_cells
from widgets.quota_bar import QuotaBar, QuotaFigures, human_size

PREVIEW_BYTES = 16 * 1024
"""How much of a file the preview reads: a screenful of lines, cheap on a slow link."""
PREVIEW_LINES = 200
"""Lines of the head shown at most."""
NARROW = 100
"""Below this width the preview goes under the table instead of beside it."""

SORTS: tuple[str, ...] = ("name", "size", "mtime")
"""The sort orders ``s`` cycles through."""


class StorageLike(Protocol):
    """The parts of ``core.storage.Storage`` the explorer uses."""

    @property
    def home(self) -> str: ...

    def personal_dir(self, pool: str) -> str: ...

    async def list_dir(self, path: str) -> list[Entry]: ...

    async def preview(self, path: str, max_bytes: int = ...) -> Preview: ...

    async def pools_overview(self) -> list[PoolInfo]: ...

    async def quotas(self) -> list[Quota]: ...

    async def mkdir(self, path: str, *, parents: bool = False) -> None: ...

    async def rename(self, src: str, dst: str) -> None: ...

    async def delete_plan(self, paths: Sequence[str]) -> DeletePlan: ...

    async def delete(self, plan: DeletePlan) -> None: ...


class StorageFacade(Protocol):
    """What the explorer needs from ``core.service.Suan``."""

    @property
    def read_only(self) -> bool: ...

    async def storage(self) -> StorageLike: ...

    async def transfers(self) -> TransfersLike: ...

    def open_file(self, path: str) -> RemoteFile: ...


# --- pure helpers ------------------------------------------------------------------------------


def pool_of(path: str, pools: Sequence[PoolInfo]) -> PoolInfo | None:
    """The pool holding ``path`` (the longest mount that is a prefix of it)."""
    best: PoolInfo | None = None
    for pool in pools:
        mount = pool.mount.rstrip("/") or "/"
        if (path == mount or path.startswith(mount + "/")) and (
            best is None or len(mount) > len(best.mount)
        ):
            best = pool
    return best


def sort_entries(entries: Iterable[Entry], order: str) -> list[Entry]:
    """Directories first, then by name; or largest first; or newest first."""
    items = list(entries)
    if order == "size":
        return sorted(items, key=lambda e: (-e.size, e.name))
    if order == "mtime":
        return sorted(items, key=lambda e: (-e.mtime, e.name))
    return sorted(items, key=lambda e: (not e.is_dir, e.name))


def filter_entries(entries: Iterable[Entry], text: str) -> list[Entry]:
    """Entries whose (shown) name contains ``text``, ignoring case."""
    needle = text.casefold()
    return [e for e in entries if needle in clean_line(e.name).casefold()]


def name_text(entry: Entry, width: int, marked: bool = False) -> Text:
    """The name cell: a mark, the cleaned name cut to ``width`` cells, styled by kind."""
    shown = clean_line(entry.name)
    style = ""
    if entry.kind == "dir":
        shown += "/"
        style = "bold blue"
    elif entry.kind == "link":
        shown += " -> " + clean_line(entry.target or "?")
        style = "cyan"
    elif entry.kind == "file" and "x" in entry.permissions[1:4]:
        style = "green"
    elif entry.kind == "other":
        style = "magenta"
    text = Text("● " if marked else "  ", style="bold yellow")
    text.append(fit_cells(shown, max(1, width - 2)), style=style)
    return text


def size_text(entry: Entry) -> str:
    """A file's size; directories show a dash (their size is not their content's)."""
    return "—" if entry.kind == "dir" else human_size(entry.size)


def mtime_text(mtime: int, now: datetime) -> str:
    """``05-11 09:30`` this year, ``2024-05-01`` before (like ``ls``), in UTC."""
    when = datetime.fromtimestamp(mtime, UTC)
    if when.year == now.astimezone(UTC).year:
        return when.strftime("%m-%d %H:%M")
    return when.strftime("%Y-%m-%d")


def write_nodes(pool: PoolInfo) -> str:
    """``data, sydata``: where the pool can be written."""
    return ", ".join(pool.writable_on) or "nowhere"


def cold_note(pool: PoolInfo | None) -> Text | None:
    """Why a write to a cold (or union) pool works the way it does, or None for hot pools."""
    if pool is None or pool.kind == "hot":
        return None
    what = "cold storage" if pool.kind == "cold" else "the merged view of cold storage"
    text = Text()
    text.append(f"{pool.mount} is {what}: ", style="bold")
    if pool.writable_on:
        text.append(
            f"read-only on the login nodes, so suan makes this change through a data node "
            f"({write_nodes(pool)}). Copy data to hot storage before a job uses it."
        )
    else:
        text.append("no node of this site may write it.")
    return text


def pool_strip(pools: Sequence[PoolInfo], current: str, width: int) -> Text:
    """The pools side by side: ``/lustre hot │ /dssg hot │ /archive cold │ /vault cold ✗``."""
    text = Text()
    for i, pool in enumerate(pools):
        if i:
            text.append(" │ ", style="dim")
        chosen = pool.name == current
        text.append(f" {pool.mount} ", style="bold reverse" if chosen else "bold")
        text.append(f"{pool.kind}", style="dim" if pool.kind == "hot" else "cyan")
        if pool.error:
            text.append(" ?", style="bold red")
        elif pool.personal_exists is False:
            text.append(" ✗", style="bold yellow")
    text.append("   [ ] switch", style="dim")
    text.truncate(width, overflow="ellipsis")
    return text


def pool_facts(pool: PoolInfo) -> Text:
    """One pool's facts: kind, who sees it, where it is writable, free space, my directory."""
    text = Text()
    text.append(pool.mount, style="bold")
    text.append(f" {pool.kind}")
    text.append(" · seen by ", style="dim")
    text.append(" ".join(pool.visible_to) or "—")
    text.append(" · writable on ", style="dim")
    text.append(write_nodes(pool) if set(pool.writable_on) else "nowhere")
    if pool.error:
        text.append(" · ", style="dim")
        text.append(clean_line(pool.error), style="bold red")
    elif pool.free_bytes is not None:
        text.append(" · ", style="dim")
        text.append(f"{human_size(pool.free_bytes)} free")
        if pool.total_bytes:
            text.append(f" of {human_size(pool.total_bytes)}", style="dim")
    text.append(" · ~ ", style="dim")
    text.append(clean_line(pool.personal_dir))
    if pool.personal_exists is False:
        text.append(" (missing)", style="bold yellow")
    return text


def quota_for(quotas: Sequence[Quota] | None, kind: str, pool: PoolInfo | None) -> QuotaFigures:
    """The gauge of ``kind`` ("user" or "account") for the current pool."""
    label = "user" if kind == "user" else "account"
    if quotas is None:
        return QuotaFigures(label, note="loading…")
    mine = [q for q in quotas if q.kind == kind]
    if mine and all(q.error for q in mine):
        return QuotaFigures(f"{label} {mine[0].subject}", note=mine[0].error or "")
    if not mine:
        return QuotaFigures(label, note="no quota reported")
    subject = mine[0].subject
    if pool is not None:
        name = pool.name.lower()
        mount = pool.mount.lower()
        match = [
            q
            for q in mine
            if q.filesystem and (name in q.filesystem.lower() or mount in q.filesystem.lower())
        ]
        if not match and all(q.filesystem for q in mine):
            return QuotaFigures(f"{label} {subject}", note=f"no quota reported for {pool.mount}")
        mine = match or mine
    q = mine[0]
    return QuotaFigures(
        f"{label} {subject}",
        q.used_bytes,
        q.limit_bytes,
        q.used_files,
        q.limit_files,
    )


def preview_text(preview: Preview, max_lines: int = PREVIEW_LINES) -> Text:
    """The head of a file as literal text, each line cleaned; binary files only described."""
    text = Text()
    text.append(clean_line(posixpath.basename(preview.path)), style="bold")
    text.append(f"  {human_size(preview.size)}", style="dim")
    if preview.binary or preview.text is None:
        text.append("\n\nbinary file: not shown", style="italic yellow")
        return text
    lines = preview.text.splitlines()
    cut = len(lines) > max_lines
    if preview.truncated or cut:
        text.append("  (head)", style="dim")
    text.append("\n")
    for line in lines[:max_lines]:
        text.append("\n")
        text.append(clean_line(line))
    if not lines:
        text.append("\n(empty file)", style="dim")
    return text


def entry_text(entry: Entry, now: datetime) -> Text:
    """What the preview pane says about a directory or link."""
    text = Text()
    text.append(clean_line(entry.name) + ("/" if entry.is_dir else ""), style="bold")
    text.append(f"\n{entry.kind} · {entry.permissions} · {clean_line(entry.owner)}")
    text.append(f" · {mtime_text(entry.mtime, now)}")
    if entry.target is not None:
        text.append("\n-> ")
        text.append(clean_line(entry.target))
    if entry.is_dir:
        text.append("\n\nenter opens it", style="dim")
    return text


def relative_to(path: str, base: str) -> str | None:
    """``path`` relative to ``base`` ("" when equal), or None if it is not under it."""
    if path == base:
        return ""
    if path.startswith(base.rstrip("/") + "/"):
        return path[len(base.rstrip("/")) + 1 :]
    return None


def destination_for(cwd: str, current: PoolInfo | None, pools: Sequence[PoolInfo]) -> str:
    """Where a copy of something in ``cwd`` goes by default: the same relative path in
    another pool. From hot storage, the cold pool with the most free space (the site's rule);
    from cold storage, the user's hot pool (the first hot pool, home's)."""
    if current is None:
        return cwd
    if current.kind == "hot":
        cold = [p for p in pools if p.kind == "cold"]
        cold.sort(key=lambda p: -(p.free_bytes or 0))
        target = cold[0] if cold else None
    else:
        target = next((p for p in pools if p.kind == "hot"), None)
    if target is None:
        return cwd
    rel = relative_to(cwd, current.personal_dir)
    if rel is None:
        rel = relative_to(cwd, current.mount) or ""
        return posixpath.join(target.mount, rel) if rel else target.personal_dir
    return posixpath.join(target.personal_dir, rel) if rel else target.personal_dir


# --- messages ----------------------------------------------------------------------------------


@dataclass
class PlacesLoaded(Message):
    """The user's home and the pools."""

    home: str
    pools: list[PoolInfo]


@dataclass
class QuotasLoaded(Message):
    """Quota lines from the API (None when asking failed)."""

    quotas: list[Quota] | None
    error: str = ""


@dataclass
class DirListed(Message):
    """A directory's entries, or why it could not be listed."""

    path: str
    entries: list[Entry]
    error: BaseException | None = None


@dataclass
class PreviewLoaded(Message):
    """The head of a file (or why it could not be read)."""

    path: str
    preview: Preview | None
    error: str = ""


@dataclass
class DeletePlanned(Message):
    """What a delete would remove, ready to be confirmed."""

    plan: DeletePlan


@dataclass
class WriteDone(Message):
    """A write went through: words for a toast, and what to reload."""

    words: str
    select: str | None = None
    reload_pools: bool = False


# --- dialogs -----------------------------------------------------------------------------------


class InputDialog(SuanModal[str | None]):
    """A title, a few lines of explanation and one field; enter answers, esc cancels."""

    CSS_PATH = "storage.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="storage_dialog.cancel"),
    ]

    def __init__(
        self,
        title: str | Text,
        *,
        value: str = "",
        placeholder: str = "",
        notes: Sequence[Text] = (),
    ) -> None:
        super().__init__()
        self.title_text = title if isinstance(title, Text) else Text(title, style="bold")
        self.value = value
        self.placeholder = placeholder
        self.notes = list(notes)

    def compose(self) -> ComposeResult:
        with Vertical(id="storage-dialog"):
            yield Static(self.title_text, id="storage-dialog-title")
            for note in self.notes:
                yield Static(note, classes="storage-dialog-note")
            yield SuanInput(self.value, placeholder=self.placeholder, id="storage-dialog-input")
            yield Static(
                Text.assemble(("enter", "bold"), " go ahead   ", ("esc", "bold"), " cancel"),
                id="storage-dialog-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#storage-dialog-input", SuanInput).focus()

    @on(SuanInput.Submitted, "#storage-dialog-input")
    def _submitted(self, event: SuanInput.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        """Nothing happens."""
        self.dismiss(None)


class ConfirmDeleteScreen(SuanModal[bool]):
    """Names every path that will go, with entry counts and sizes; ``y`` deletes."""

    CSS_PATH = "dialogs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes, delete", id="storage_delete.yes"),
        Binding("n,escape", "refuse", "No", id="storage_delete.no"),
    ]

    def __init__(self, plan: DeletePlan, note: Text | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.note = note

    def compose(self) -> ComposeResult:
        count = len(self.plan.items)
        lines = self.plan.describe()
        with Vertical(id="confirm-box"):
            yield Static(
                Text(
                    f"Delete {count} item{'s' if count != 1 else ''}? This cannot be undone.",
                    style="bold",
                ),
                id="confirm-title",
            )
            with VerticalScroll(id="confirm-list"):
                for line in lines[:-1]:
                    yield Static(Text(clean_line(line)), classes="confirm-job storage-delete-item")
            yield Static(
                Text(clean_line(lines[-1]), style="bold yellow"), id="storage-delete-total"
            )
            if self.note is not None:
                yield Static(self.note)
            yield Static(
                Text.assemble(("y", "bold"), " delete them   ", ("n / esc", "bold"), " keep them"),
                id="confirm-keys",
            )

    def action_confirm(self) -> None:
        """The user saw exactly what goes."""
        self.dismiss(True)

    def action_refuse(self) -> None:
        """Nothing is deleted."""
        self.dismiss(False)


class FileLogScreen(LogScreen):
    """Any remote file in the log viewer (read by range, follow, search, wrap)."""

    def __init__(self, path: str, *, node: str = "", view: str = "") -> None:
        super().__init__("", "stdout", view=view)
        self.file_path = path
        self.file_node = node
        # The status line names the stream; a plain file has one, called "file".
        self.which = cast(Any, "file")

    @work(exclusive=True, group="log.open", exit_on_error=False, description="Opening the file")
    async def open(self) -> None:
        """The file itself, read by range through a node that sees its pool."""
        remote_file = cast(StorageFacade, self.suan).open_file(self.file_path)
        self.post_message(LogOpened(remote_file, self.file_path, self.file_node))

    def action_other_stream(self) -> None:
        """A file has only one stream."""
        self.notify("A file has only one stream.", severity="warning")


# --- the screen --------------------------------------------------------------------------------

_SIZE_W = 9
_MTIME_W = 11
_PERM_W = 10


class StorageScreen(SuanScreen[None]):
    """The user's files in every pool: browse, preview, and change them with care."""

    CSS_PATH = "storage.tcss"

    VIEW = "storage"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("backspace,h", "up", "Up", id="storage.up", tooltip="Go to the parent directory"),
        Binding(
            "tilde", "home", "Home", id="storage.home", tooltip="My directory in this pool (~)"
        ),
        Binding(
            "left_square_bracket",
            "pool(-1)",
            "Prev pool",
            show=False,
            id="storage.prev_pool",
            tooltip="The previous pool",
        ),
        Binding(
            "right_square_bracket",
            "pool(1)",
            "Next pool",
            show=False,
            id="storage.next_pool",
            tooltip="The next pool",
        ),
        Binding("slash", "filter", "Filter", id="storage.filter", tooltip="Filter by name"),
        Binding("s", "sort", "Sort", id="storage.sort", tooltip="Sort by name, size, time"),
        Binding("space", "mark", "Mark", show=False, id="storage.mark", tooltip="Mark / unmark"),
        Binding("o", "open", "Open", id="storage.open", tooltip="Open the file in the viewer"),
        Binding("m", "mkdir", "Mkdir", id="storage.mkdir", tooltip="Make a directory here"),
        Binding("r", "rename", "Rename", id="storage.rename", tooltip="Rename the entry"),
        Binding(
            "d,delete",
            "delete",
            "Delete",
            id="storage.delete",
            tooltip="Delete the marked entries (or the one under the cursor), after asking",
        ),
        Binding("c", "copy", "Copy", id="storage.copy", tooltip="Copy to another pool"),
        Binding("M", "move", "Move", show=False, id="storage.move", tooltip="Move to another pool"),
        Binding(
            "u", "upload", "Upload", show=False, id="storage.upload", tooltip="Upload a file here"
        ),
        Binding(
            "D",
            "download",
            "Download",
            show=False,
            id="storage.download",
            tooltip="Download the file to this machine",
        ),
        Binding(
            "R", "reload", "Reload", show=False, id="storage.reload", tooltip="Read it all again"
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            id="storage.clear_filter",
            tooltip="Clear the filter",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.home = ""
        self.pools: list[PoolInfo] = []
        self.quotas: list[Quota] | None = None
        self.path = ""
        self.entries: list[Entry] = []
        self.shown: list[Entry] = []
        self.listing_sort = "name"
        self.filter_text = ""
        self.marked: set[str] = set()
        self.problem = ""
        """Why the current directory could not be listed ("" when it was)."""
        self.missing = False
        """The current directory does not exist (a personal directory not made yet)."""
        self.previews: dict[str, Preview] = {}
        self._last_path: dict[str, str] = {}
        self._select: str | None = None
        self._storage: StorageLike | None = None

    # --- layout --------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="storage-status")
        yield Static(id="storage-pools")
        yield Static(id="storage-pool-facts")
        with Vertical(id="storage-quotas"):
            yield QuotaBar(id="storage-quota-user")
            yield QuotaBar(id="storage-quota-account")
        with Horizontal(id="storage-main"):
            table: DataTable[Text | str] = DataTable(id="storage-table", cursor_type="row")
            yield table
            with VerticalScroll(id="storage-preview-box"):
                yield Static(id="storage-preview")
        yield SuanInput(id="storage-filter", placeholder="filter by name (enter: keep, esc: clear)")

    def on_mount(self) -> None:
        self.query_one("#storage-filter", SuanInput).display = False
        self._apply_width(self.app.size.width)
        self.table.focus()
        self.update_status()
        self.load_places()
        self.load_quotas()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_width(event.size.width)
        self.render_table()
        self.render_pools()

    def _apply_width(self, width: int) -> None:
        self.set_class(width < NARROW, "-narrow")

    @property
    def table(self) -> DataTable[Text | str]:
        """The directory table."""
        return cast("DataTable[Text | str]", self.query_one("#storage-table", DataTable))

    @property
    def facade(self) -> StorageFacade:
        """The facade, with its storage part."""
        return cast(StorageFacade, self.suan)

    async def storage(self) -> StorageLike:
        """The core storage object (asked of the facade once)."""
        if self._storage is None:
            self._storage = await self.facade.storage()
        return self._storage

    @property
    def pool(self) -> PoolInfo | None:
        """The pool of the current directory."""
        return pool_of(self.path, self.pools)

    # --- loading -------------------------------------------------------------------------

    @work(exclusive=True, group="storage.places", exit_on_error=False, description="Pools")
    async def load_places(self) -> None:
        """Home and the pools (free space, my directory in each)."""
        storage = await self.storage()
        pools = await storage.pools_overview()
        self.post_message(PlacesLoaded(storage.home, pools))

    @work(exclusive=True, group="storage.quotas", exit_on_error=False, description="Quotas")
    async def load_quotas(self) -> None:
        """The user's and the account's quotas; a failure is shown in the gauges."""
        storage = await self.storage()
        try:
            quotas = await storage.quotas()
        except SuanError as exc:
            self.post_message(QuotasLoaded(None, exc.message))
            return
        self.post_message(QuotasLoaded(quotas))

    def on_places_loaded(self, message: PlacesLoaded) -> None:
        first = not self.pools
        self.home = message.home
        self.pools = message.pools
        self.render_pools()
        if first:
            self.go(message.home)

    def on_quotas_loaded(self, message: QuotasLoaded) -> None:
        if message.quotas is None:
            self.quotas = [
                Quota("", None, None, None, None, {}, k, "", message.error)
                for k in ("user", "account")
            ]
        else:
            self.quotas = message.quotas
        self.render_quotas()

    def go(self, path: str, select: str | None = None) -> None:
        """List ``path`` (the table changes when the answer arrives)."""
        self._select = select
        self.list_path(path)

    @work(exclusive=True, group="storage.list", exit_on_error=False, description="Listing")
    async def list_path(self, path: str) -> None:
        """One directory's entries; a failure is shown in place of the table."""
        storage = await self.storage()
        try:
            entries = await storage.list_dir(path)
        except SuanError as exc:
            self.post_message(DirListed(path, [], exc))
            return
        self.post_message(DirListed(path, entries))

    def on_dir_listed(self, message: DirListed) -> None:
        changed = message.path != self.path
        self.path = message.path
        if changed:
            self.marked.clear()
            self.previews.clear()
        self.entries = message.entries
        self.problem = ""
        self.missing = False
        error = message.error
        if error is not None:
            self.missing = isinstance(error, NotFound)
            self.problem = error.message if isinstance(error, SuanError) else str(error)
            pool = self.pool
            if not (self.missing and pool is not None and self.path == pool.personal_dir):
                self.suan_app.report_error(error, doing=f"Listing {clean_line(self.path)}")
        pool = self.pool
        if pool is not None:
            self._last_path[pool.name] = self.path
        self.render_pools()
        self.render_quotas()
        self.render_table(select=self._select)
        self._select = None

    # --- drawing -------------------------------------------------------------------------

    def render_pools(self) -> None:
        """The pool strip and the current pool's facts."""
        width = max(10, (self.size.width or self.app.size.width) - 2)
        pool = self.pool
        strip = self.query_one("#storage-pools", Static)
        facts = self.query_one("#storage-pool-facts", Static)
        if not self.pools:
            strip.update(Text("reading the pools…", style="dim"))
            facts.update("")
            return
        strip.update(pool_strip(self.pools, pool.name if pool else "", width))
        if pool is None:
            facts.update(Text("not in any pool of this site", style="yellow"))
        else:
            line = pool_facts(pool)
            line.truncate(width, overflow="ellipsis")
            facts.update(line)

    def render_quotas(self) -> None:
        """The two gauges, for the current pool."""
        pool = self.pool
        self.query_one("#storage-quota-user", QuotaBar).show(quota_for(self.quotas, "user", pool))
        self.query_one("#storage-quota-account", QuotaBar).show(
            quota_for(self.quotas, "account", pool)
        )

    def _name_width(self) -> int:
        table = self.table
        width = table.size.width or (self.size.width or self.app.size.width)
        if not self.has_class("-narrow") and not table.size.width:
            width = int(width * 0.58)
        # Four cell paddings of two, the scrollbar, and the three fixed columns.
        return max(12, width - (_SIZE_W + _MTIME_W + _PERM_W) - 8 - 2)

    def render_table(self, select: str | None = None) -> None:
        """Rebuild the table from the entries, sorted and filtered; keep the cursor."""
        table = self.table
        previous = self.current()
        keep = select or (previous.path if previous is not None else None)
        self.shown = sort_entries(filter_entries(self.entries, self.filter_text), self.listing_sort)
        name_width = self._name_width()
        table.clear(columns=True)
        table.add_column("Name", width=name_width, key="name")
        table.add_column("Size", width=_SIZE_W, key="size")
        table.add_column("Modified", width=_MTIME_W, key="mtime")
        table.add_column("Perms", width=_PERM_W, key="perms")
        now = self.now()
        for entry in self.shown:
            table.add_row(
                name_text(entry, name_width, entry.path in self.marked),
                Text(size_text(entry), justify="right"),
                mtime_text(entry.mtime, now),
                entry.permissions,
                key=entry.path,
            )
        paths = [e.path for e in self.shown]
        if keep in paths:
            table.move_cursor(row=paths.index(keep), animate=False)
        self.update_status()
        self.show_preview()

    def update_status(self) -> None:
        """The path (its end kept when long), read-only, counts, marks, filter and sort."""
        tail = Text()
        if self.suan.read_only:
            tail.append(" · ")
            tail.append("read-only", style="bold red")
        if self.problem:
            tail.append("  ")
            tail.append(
                clean_line(self.problem), style="bold yellow" if self.missing else "bold red"
            )
        else:
            dirs = sum(1 for e in self.entries if e.is_dir)
            tail.append(f" · {len(self.entries)} entries, {dirs} dir{'s' if dirs != 1 else ''}")
            if self.marked:
                tail.append(f" · {len(self.marked)} marked", style="bold yellow")
            if self.filter_text:
                tail.append(f" · {len(self.shown)} shown · filter ")
                tail.append(clean_line(self.filter_text), style="bold")
            tail.append(f" · by {self.listing_sort}", style="dim")
        width = max(10, (self.size.width or self.app.size.width) - 2)
        path = clean_line(self.path or "…")
        room = max(8, width - tail.cell_len)
        if cell_len(path) > room:
            # The end of a path says the most: keep it, cut the start.
            while path and cell_len(path) > room - 1:
                path = path[1:]
            path = "…" + path
        text = Text(path, style="bold")
        text.append_text(tail)
        text.truncate(width, overflow="ellipsis")
        self.query_one("#storage-status", Static).update(text)

    def current(self) -> Entry | None:
        """The entry under the cursor."""
        if not self.is_mounted:
            return None
        row = self.table.cursor_row
        return self.shown[row] if 0 <= row < len(self.shown) else None

    def show_preview(self) -> None:
        """The preview pane for the highlighted entry (reads the file's head if needed)."""
        pane = self.query_one("#storage-preview", Static)
        entry = self.current()
        if self.problem:
            pane.update(self._problem_text())
            return
        if entry is None:
            words = "(empty directory)" if not self.entries else "(nothing matches the filter)"
            pane.update(Text(words, style="dim"))
            return
        if entry.kind != "file":
            pane.update(entry_text(entry, self.now()))
            return
        cached = self.previews.get(entry.path)
        if cached is not None:
            pane.update(preview_text(cached))
            return
        pane.update(Text.assemble((clean_line(entry.name), "bold"), ("\n\nreading…", "dim")))
        self.load_preview(entry.path)

    def _problem_text(self) -> Text:
        text = Text()
        pool = self.pool
        if self.missing and pool is not None and self.path == pool.personal_dir:
            text.append("Your directory in ", style="bold")
            text.append(pool.mount, style="bold")
            text.append(" does not exist yet:\n", style="bold")
            text.append(clean_line(self.path))
            text.append("\n\nm creates it", style="dim")
            if pool.kind != "hot":
                text.append(f" (through a data node: {write_nodes(pool)})", style="dim")
            text.append(". [ ] switches pool.", style="dim")
            return text
        text.append("Cannot list this directory:\n", style="bold red")
        text.append(clean_line(self.problem))
        text.append("\n\nbackspace goes up, ~ to your directory.", style="dim")
        return text

    @work(exclusive=True, group="storage.preview", exit_on_error=False, description="Preview")
    async def load_preview(self, path: str) -> None:
        """The head of one file."""
        storage = await self.storage()
        try:
            preview = await storage.preview(path, PREVIEW_BYTES)
        except SuanError as exc:
            self.post_message(PreviewLoaded(path, None, exc.message))
            return
        self.post_message(PreviewLoaded(path, preview))

    def on_preview_loaded(self, message: PreviewLoaded) -> None:
        if message.preview is not None:
            self.previews[message.path] = message.preview
        entry = self.current()
        if entry is None or entry.path != message.path:
            return  # the cursor moved on
        pane = self.query_one("#storage-preview", Static)
        if message.preview is not None:
            pane.update(preview_text(message.preview))
        else:
            pane.update(
                Text.assemble(
                    (clean_line(entry.name), "bold"),
                    ("\n\ncannot read it: ", "red"),
                    clean_line(message.error),
                )
            )

    @on(DataTable.RowHighlighted, "#storage-table")
    def _highlighted(self) -> None:
        self.show_preview()

    @on(DataTable.RowSelected, "#storage-table")
    def _selected(self) -> None:
        self.action_open()

    # --- navigation ----------------------------------------------------------------------

    def action_open(self) -> None:
        """A directory (or link) is entered; a file opens in the viewer."""
        entry = self.current()
        if entry is None:
            return
        if entry.kind in ("dir", "link"):
            self.go(entry.path)
            return
        preview = self.previews.get(entry.path)
        if preview is not None and preview.binary:
            self.notify(
                f"{clean_line(entry.name)} is a binary file: not opened in the viewer.",
                severity="warning",
                markup=False,
            )
            return
        pool = self.pool
        node = (pool.node or "") if pool is not None else ""
        self.app.push_screen(FileLogScreen(entry.path, node=node, view=self.view_name))

    def action_up(self) -> None:
        """The parent directory (not above the pool's mount)."""
        pool = self.pool
        if not self.path or (pool is not None and self.path == pool.mount) or self.path == "/":
            self.notify("Already at the top of the pool.", severity="warning")
            return
        self.go(posixpath.dirname(self.path), select=self.path)

    def action_home(self) -> None:
        """My directory in the current pool."""
        pool = self.pool
        self.go(pool.personal_dir if pool is not None else self.home)

    def action_pool(self, step: int) -> None:
        """The previous or next pool, where I last was in it (else my directory)."""
        if not self.pools:
            return
        pool = self.pool
        names = [p.name for p in self.pools]
        index = names.index(pool.name) if pool is not None else 0
        target = self.pools[(index + step) % len(self.pools)]
        self.go(self._last_path.get(target.name, target.personal_dir))

    def action_reload(self) -> None:
        """List again, and read the pools and quotas again."""
        self.previews.clear()
        self.go(self.path or self.home)
        self.load_places()
        self.load_quotas()

    def action_sort(self) -> None:
        """Cycle name → size → mtime."""
        self.listing_sort = SORTS[(SORTS.index(self.listing_sort) + 1) % len(SORTS)]
        self.render_table()

    def action_mark(self) -> None:
        """Mark or unmark the entry under the cursor, then move down."""
        entry = self.current()
        if entry is None:
            return
        self.marked ^= {entry.path}
        row = self.table.cursor_row
        self.render_table()
        self.table.move_cursor(row=min(row + 1, len(self.shown) - 1), animate=False)

    def action_filter(self) -> None:
        """Open the filter field."""
        field = self.query_one("#storage-filter", SuanInput)
        field.display = True
        field.focus()

    @on(SuanInput.Changed, "#storage-filter")
    def _filter_changed(self, event: SuanInput.Changed) -> None:
        self.filter_text = event.value
        self.render_table()

    @on(SuanInput.Submitted, "#storage-filter")
    def _filter_submitted(self) -> None:
        field = self.query_one("#storage-filter", SuanInput)
        if not field.value:
            field.display = False
        self.table.focus()

    def action_clear_filter(self) -> None:
        """Clear the filter and close its field."""
        field = self.query_one("#storage-filter", SuanInput)
        field.value = ""
        field.display = False
        self.filter_text = ""
        self.table.focus()
        self.render_table()

    # --- writes --------------------------------------------------------------------------

    def targets(self) -> list[Entry]:
        """The marked entries (in table order), or the one under the cursor."""
        marked = [e for e in self.entries if e.path in self.marked]
        if marked:
            return marked
        entry = self.current()
        return [entry] if entry is not None else []

    def _writable(self, what: str) -> PoolInfo | None:
        """The current pool if a write may go ahead; else a toast says why, and None."""
        if self.suan_app.refuse_if_read_only(what):
            return None
        pool = self.pool
        if pool is None:
            self.notify("This directory is in no pool of this site.", severity="warning")
            return None
        if not pool.writable_on:
            self.notify(f"{pool.mount} cannot be written from any node.", severity="warning")
            return None
        return pool

    def _ask(
        self,
        title: str,
        on_answer: Callable[[str], None],
        *,
        value: str = "",
        placeholder: str = "",
        notes: Sequence[Text | None] = (),
    ) -> None:
        def answered(answer: str | None) -> None:
            if answer is not None and answer.strip():
                on_answer(answer.strip())

        dialog = InputDialog(
            Text(title, style="bold"),
            value=value,
            placeholder=placeholder,
            notes=[n for n in notes if n is not None],
        )
        self.app.push_screen(dialog, answered)

    def _resolve(self, answer: str) -> str | None:
        """An absolute path from what was typed (relative to the current directory)."""
        path = answer if answer.startswith("/") else posixpath.join(self.path, answer)
        path = posixpath.normpath(path)
        if posixpath.basename(path) in ("", ".", ".."):
            self.notify(f"Not a usable name: {answer}", severity="warning", markup=False)
            return None
        return path

    def action_mkdir(self) -> None:
        """Make a directory here (or, where my directory is missing, make it)."""
        pool = self._writable("creating directories")
        if pool is None:
            return
        value = self.path if self.missing else ""

        def make(answer: str) -> None:
            path = self._resolve(answer)
            if path is not None:
                self.mkdir(path, parents=self.missing or "/" in answer.strip("/"))

        self._ask(
            f"New directory in {clean_line(self.path)}",
            make,
            value=value,
            placeholder="name (or a path: a/b/c)",
            notes=[cold_note(pool)],
        )

    @work(group="storage.write", exit_on_error=False, description="Making the directory")
    async def mkdir(self, path: str, parents: bool) -> None:
        """mkdir through the right node."""
        storage = await self.storage()
        await storage.mkdir(path, parents=parents)
        self.post_message(WriteDone(f"Created {clean_line(path)}", select=path, reload_pools=True))

    def action_rename(self) -> None:
        """Rename the entry under the cursor (within this pool)."""
        entry = self.current()
        if entry is None:
            self.notify("Nothing to rename here.", severity="warning")
            return
        pool = self._writable("renaming")
        if pool is None:
            return

        def rename(answer: str) -> None:
            dst = self._resolve(answer)
            if dst is not None and dst != entry.path:
                self.rename(entry.path, dst)

        self._ask(
            f"Rename {clean_line(entry.name)} to",
            rename,
            value=entry.name if clean_line(entry.name) == entry.name else "",
            placeholder="new name (or a path in this pool)",
            notes=[cold_note(pool)],
        )

    @work(group="storage.write", exit_on_error=False, description="Renaming")
    async def rename(self, src: str, dst: str) -> None:
        """rename through the right node; never overwrites."""
        storage = await self.storage()
        await storage.rename(src, dst)
        words = f"Renamed {clean_line(posixpath.basename(src))} → {clean_line(dst)}"
        self.post_message(WriteDone(words, select=dst))

    def action_delete(self) -> None:
        """Plan the delete of the marked entries (or the one under the cursor), then ask."""
        chosen = self.targets()
        if not chosen:
            self.notify("Nothing to delete here.", severity="warning")
            return
        if self._writable("deleting") is None:
            return
        self.plan_delete([e.path for e in chosen])

    @work(exclusive=True, group="storage.plan", exit_on_error=False, description="Planning")
    async def plan_delete(self, paths: list[str]) -> None:
        """Walk what would go; nothing is removed."""
        storage = await self.storage()
        plan = await storage.delete_plan(paths)
        self.post_message(DeletePlanned(plan))

    def on_delete_planned(self, message: DeletePlanned) -> None:
        plan = message.plan

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete(plan)

        self.app.push_screen(ConfirmDeleteScreen(plan, cold_note(self.pool)), confirmed)

    @work(group="storage.write", exit_on_error=False, description="Deleting")
    async def delete(self, plan: DeletePlan) -> None:
        """Remove exactly the planned paths."""
        storage = await self.storage()
        await storage.delete(plan)
        names = ", ".join(clean_line(posixpath.basename(p)) for p in plan.paths)
        words = f"Deleted {names}: {plan.entries} entries, {human_size(plan.size)}."
        self.post_message(WriteDone(words))

    def on_write_done(self, message: WriteDone) -> None:
        self.notify(message.words, title="Done", markup=False)
        self.marked.clear()
        self.previews.clear()
        self.go(self.path, select=message.select)
        if message.reload_pools:
            self.load_places()

    # --- transfers -----------------------------------------------------------------------

    def action_copy(self) -> None:
        """Copy the marked entries (or the one under the cursor) to another pool."""
        self._transfer(move=False)

    def action_move(self) -> None:
        """Move the marked entries (or the one under the cursor) to another pool."""
        self._transfer(move=True)

    def _transfer(self, *, move: bool) -> None:
        verb = "move" if move else "copy"
        if self.suan_app.refuse_if_read_only("moving data" if move else "copying data"):
            return
        chosen = self.targets()
        if not chosen:
            self.notify(f"Nothing to {verb} here.", severity="warning")
            return
        dest = destination_for(self.path, self.pool, self.pools)
        dest_pool = pool_of(dest, self.pools)
        what = clean_line(chosen[0].name) if len(chosen) == 1 else f"{len(chosen)} items"
        notes: list[Text | None] = [
            Text(
                f"Each item lands inside this directory (made if missing). The {verb} runs "
                "on a data node in tmux: it goes on if you close suan. 5 shows it.",
                style="dim",
            )
        ]
        if dest_pool is not None and dest_pool.kind != "hot":
            notes.append(
                Text.assemble(
                    (f"Cold destination {dest_pool.mount}: ", "bold"),
                    f"written on a data node ({write_nodes(dest_pool)}), the only nodes "
                    "that may write cold storage.",
                )
            )
        paths = [e.path for e in chosen]

        def start(answer: str) -> None:
            target = self._resolve(answer)
            if target is not None:
                self.start_copy(paths, target, move)

        self._ask(
            f"{verb.capitalize()} {what} to",
            start,
            value=dest,
            placeholder="destination directory (an absolute path)",
            notes=notes,
        )

    @work(group="storage.transfer", exit_on_error=False, description="Starting the transfer")
    async def start_copy(self, paths: list[str], dest: str, move: bool) -> None:
        """Start the copy on a data node (it runs detached)."""
        transfers = await self.facade.transfers()
        status = await transfers.copy(paths, dest, move=move)
        record = status.record
        self.post_message(
            WriteDone(
                f"Transfer {record.id} ({record.kind}) started on {record.node}: "
                f"{len(paths)} item(s) → {clean_line(dest)}. 5 shows it."
            )
        )

    def action_upload(self) -> None:
        """Upload a local file into the current directory."""
        pool = self._writable("uploading")
        if pool is None:
            return

        def start(answer: str) -> None:
            self.upload(str(Path(answer).expanduser()), self.path)

        self._ask(
            f"Upload a file of this machine into {clean_line(self.path)}",
            start,
            placeholder="local file path",
            notes=[cold_note(pool)],
        )

    async def _tracked(
        self,
        kind: str,
        source: str,
        dest: str,
        call: Callable[[ProgressCallback], Awaitable[FileTransferResult]],
    ) -> FileTransferResult:
        """Run one up/download as an entry of the transfers view: progress, then its end
        (finished, failed with words, or cancelled)."""
        registry = LocalTransfers.of(self.app)
        entry = registry.start(kind, source, dest)
        entry.worker = get_current_worker()
        try:
            result = await call(registry.progress(entry))
        except BaseException as exc:
            if entry.state == "running":
                words = exc.message if isinstance(exc, SuanError) else str(exc) or "cancelled"
                registry.fail(entry, "failed" if isinstance(exc, Exception) else "cancelled", words)
            raise
        registry.finish(entry, result)
        return result

    @work(group="storage.upload", exit_on_error=False, description="Uploading")
    async def upload(self, local: str, remote: str) -> None:
        """SFTP upload with progress in the transfers view."""
        transfers = await self.facade.transfers()
        result = await self._tracked(
            "upload",
            local,
            remote,
            lambda progress: transfers.upload(local, remote, progress=progress),
        )
        self.post_message(
            WriteDone(
                f"Uploaded {result.local} ({human_size(result.size)}) "
                f"to {clean_line(result.remote)}.",
                select=result.remote,
            )
        )

    def action_download(self) -> None:
        """Download the marked files (or the one under the cursor) to this machine."""
        chosen = self.targets()
        files = [e for e in chosen if e.kind == "file"]
        if not files:
            self.notify(
                "Download takes files; copy directories with c, or mark files.",
                severity="warning",
            )
            return

        def start(answer: str) -> None:
            local = str(Path(answer).expanduser())
            for entry in files:
                self.download(entry.path, local)

        what = clean_line(files[0].name) if len(files) == 1 else f"{len(files)} files"
        self._ask(
            f"Download {what} to",
            start,
            value=str(Path.cwd()),
            placeholder="local directory or file",
            notes=[
                Text("A directory keeps the file's name; an existing file is kept.", style="dim")
            ],
        )

    @work(group="storage.download", exit_on_error=False, description="Downloading")
    async def download(self, remote: str, local: str) -> None:
        """SFTP download with progress in the transfers view."""
        transfers = await self.facade.transfers()
        result = await self._tracked(
            "download",
            remote,
            local,
            lambda progress: transfers.download(remote, local, progress=progress),
        )
        self.notify(
            f"Downloaded {clean_line(remote)} to {result.local} ({human_size(result.size)}).",
            title="Done",
            markup=False,
        )
