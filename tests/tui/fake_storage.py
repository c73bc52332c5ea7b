"""Fake ``core.storage.Storage`` and ``core.transfers.Transfers`` for the TUI tests.

Same method names and value types as the real ones (``Entry``, ``PoolInfo``, ``Quota``,
``Preview``, ``DeletePlan``, ``TransferStatus`` come from the core), over an in-memory tree
that holds the nasty names a real cluster has: spaces, newlines, quotes, ``$( )``, leading
dashes, CJK and markup brackets. Everything is deterministic (mtimes from
``fake_core.NOW``, transfer ids numbered).

:class:`FakeStorageSuan` plugs them into ``fake_core.FakeSuan`` without editing it, adding
``storage()``, ``transfers()`` and ``open_file()``. :func:`storage_app` builds a ``SuanApp``
that also has the storage (4) and transfers (5) views, whether or not ``tui/app.py``
registers them yet.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from textual.binding import Binding, BindingType

import tui.app
from core.errors import NotFound, Refused
from core.logs import MemoryFileAccess, RemoteFile
from core.storage import (
    PREVIEW_BYTES,
    DeleteItem,
    DeletePlan,
    Entry,
    PoolInfo,
    Preview,
    Quota,
    looks_binary,
)
from core.transfers import FileTransferResult, Progress, TransferRecord, TransferStatus
from tests.tui.fake_core import NOW, FakeClock, FakeSuan, Steered
from tui.app import VIEWS, SuanApp, View
from tui.facade import SuanLike
from tui.screens.storage import StorageScreen
from tui.screens.transfers import TransfersScreen

HOME = "/lustre/home/acct-hpc/hpcuser"
ARCHIVE = "/archive/home/acct-hpc/hpcuser"
VAULT = "/vault/home/acct-hpc/hpcuser"
UNION = "/union/home/acct-hpc/hpcuser"
DSSG = "/dssg/home/acct-hpc/hpcuser"
T0 = int(NOW.timestamp())
"""The fake's "now" as a Unix time (mtimes are counted back from it)."""

TiB = 1024**4
GiB = 1024**3

NASTY_FILES: dict[str, bytes] = {
    "with space.txt": b"spaces in the name\n",
    "new\nline.txt": b"a newline in the name\n",
    'quote\'s "double".txt': b"quotes\n",
    "$(touch pwned)": b"not a command\n",
    "-rf": b"a leading dash\n",
    "训练作业.log": "训练 epoch 1 loss 0.5\n".encode(),
    "[bold red]markup.txt": b"[bold]literal[/bold]\n",
}
"""Files whose names try to break a shell line or a screen, with their contents."""

NOTES = (
    "[bold red]pwn[/] $(id)\n\x1b[2Jcleared\n训练作业 line three\ntab\there\nbell\x07 end\n"
).encode()
"""A text file with markup, an escape, CJK, a tab and a bell: the preview must show it literally."""


@dataclass
class Node:
    """One object of the fake tree."""

    kind: str  # "file" | "dir" | "link"
    size: int = 0
    mtime: int = T0
    permissions: str = "-rw-r--r--"
    owner: str = "hpcuser"
    content: bytes = b""
    target: str | None = None


def _dir(mtime: int = T0, permissions: str = "drwxr-x---") -> Node:
    return Node("dir", 4096, mtime, permissions)


def _file(content: bytes, mtime: int = T0, permissions: str = "-rw-r--r--") -> Node:
    return Node("file", len(content), mtime, permissions, content=content)


def sample_tree() -> dict[str, Node]:
    """The tree every test starts from: home with nasty names, cold pools, /dssg."""
    tree: dict[str, Node] = {}
    for mount in ("/lustre", "/dssg", "/archive", "/vault", "/union"):
        tree[mount] = _dir(T0 - 400 * 86400, "drwxr-xr-x")
        tree[f"{mount}/home"] = _dir(T0 - 400 * 86400, "drwxr-xr-x")
        tree[f"{mount}/home/acct-hpc"] = _dir(T0 - 400 * 86400, "drwxr-x---")
    tree[HOME] = _dir(T0 - 3600)
    tree[f"{HOME}/run dir"] = _dir(T0 - 7200)
    tree[f"{HOME}/run dir/986.out"] = _file(b"step 1\nstep 2\nError: out of memory\n", T0 - 7000)
    tree[f"{HOME}/data"] = _dir(T0 - 86400)
    for i in range(3):
        tree[f"{HOME}/data/part-{i}.csv"] = _file(b"a,b\n" * (256 * (i + 1)), T0 - 86400 + i)
    tree[f"{HOME}/data/sub"] = _dir(T0 - 86000)
    tree[f"{HOME}/data/sub/deep.txt"] = _file(b"deep\n", T0 - 86000)
    tree[f"{HOME}/notes.txt"] = _file(NOTES, T0 - 300)
    tree[f"{HOME}/model.bin"] = Node(
        "file", 3 * 1024 * 1024, T0 - 40 * 86400, content=b"\x7fELF\x00\x01\x02" * 64
    )
    tree[f"{HOME}/latest"] = Node("link", 8, T0 - 600, "lrwxrwxrwx", target="run dir")
    tree[f"{HOME}/old.tar"] = _file(b"\x00" * 2048, T0 - 500 * 86400)
    for i, (name, content) in enumerate(NASTY_FILES.items()):
        tree[f"{HOME}/{name}"] = _file(content, T0 - 1000 - i * 60)
    tree[DSSG] = _dir(T0 - 5 * 86400)
    tree[f"{DSSG}/sy-project"] = _dir(T0 - 5 * 86400)
    tree[f"{DSSG}/sy-project/train.py"] = _file(b"print('hi')\n", T0 - 5 * 86400)
    for root in (ARCHIVE, UNION):
        tree[root] = _dir(T0 - 90 * 86400)
        tree[f"{root}/old-results"] = _dir(T0 - 90 * 86400)
        tree[f"{root}/old-results/run1.h5"] = Node(
            "file", 7 * GiB, T0 - 90 * 86400, content=b"\x89HDF\r\n\x1a\n"
        )
        tree[f"{root}/README"] = _file(b"cold copy of 2025 runs\n", T0 - 90 * 86400)
    # /vault/home/acct-hpc/hpcuser does not exist: the explorer must say so.
    return tree


def sample_pools() -> list[PoolInfo]:
    """The five pools of the site, as ``Storage.pools_overview`` returns them."""
    return [
        PoolInfo(
            "lustre", "/lustre", "hot", ("pi", "kp"), ("pilogin", "armlogin", "data"),
            HOME, True, 610 * TiB, 1000 * TiB, "pilogin",
        ),
        PoolInfo(
            "dssg", "/dssg", "hot", ("sy",), ("sylogin", "sydata", "data"),
            DSSG, True, 80 * TiB, 800 * TiB, "sylogin",
        ),
        PoolInfo(
            "archive", "/archive", "cold", ("pi", "kp", "sy"), ("data", "sydata"),
            ARCHIVE, True, 3 * TiB, 5 * TiB, "pilogin",
        ),
        PoolInfo(
            "vault", "/vault", "cold", ("pi", "kp", "sy"), ("data", "sydata"),
            VAULT, False, 9 * TiB, 10 * TiB, "pilogin",
        ),
        PoolInfo(
            "union", "/union", "union", ("pi", "kp", "sy"), ("data", "sydata"),
            UNION, True, 12 * TiB, 15 * TiB, "pilogin",
        ),
    ]  # fmt: skip


def sample_quotas() -> list[Quota]:
    """The user's and the account's quotas: lustre well used, the account nearly full."""
    return [
        Quota("lustre", int(1.2 * TiB), 3 * TiB, 123_456, 1_000_000, {}, "user", "hpcuser"),
        Quota("dssg", 10 * GiB, 3 * TiB, 900, 1_000_000, {}, "user", "hpcuser"),
        Quota("lustre", int(2.8 * TiB), 3 * TiB, 812_000, 2_000_000, {}, "account", "acct-hpc"),
        Quota("dssg", 100 * GiB, 3 * TiB, 9_000, 2_000_000, {}, "account", "acct-hpc"),
    ]


class FakeStorage(Steered):
    """``core.storage.Storage`` over an in-memory tree."""

    def __init__(self, *, read_only: bool = False) -> None:
        super().__init__()
        self.home = HOME
        self.group = "pi"
        self.read_only = read_only
        self.tree = sample_tree()
        self.pools = sample_pools()
        self.quota_list = sample_quotas()

    # -- places -------------------------------------------------------------------------

    def _pool(self, path: str) -> PoolInfo:
        for pool in self.pools:
            if path == pool.mount or path.startswith(pool.mount + "/"):
                return pool
        raise NotFound(f"{path} is in no storage pool.")

    def personal_dir(self, pool: str) -> str:
        """The user's directory in ``pool``."""
        mount = next(p.mount for p in self.pools if p.name == pool)
        return mount + HOME[len("/lustre") :]

    def personal_dirs(self) -> dict[str, str]:
        """Pool name → the user's directory in it."""
        return {p.name: self.personal_dir(p.name) for p in self.pools}

    def write_node(self, path: str) -> str:
        """The node a write goes through (cold pools: the data node)."""
        pool = self._pool(path)
        if self.read_only:
            raise Refused(f"Not writing {path}: this profile is read-only.")
        if pool.kind != "hot":
            return "data"
        return "sylogin" if pool.name == "dssg" else "pilogin"

    # -- reads --------------------------------------------------------------------------

    def _get(self, path: str) -> Node:
        node = self.tree.get(path)
        if node is None:
            raise NotFound(f"{path}: no such file or directory")
        return node

    def _entry(self, path: str) -> Entry:
        node = self._get(path)
        return Entry(
            name=posixpath.basename(path) or path,
            path=path,
            kind=node.kind,
            size=node.size,
            mtime=node.mtime,
            permissions=node.permissions,
            owner=node.owner,
            target=node.target,
        )

    def children(self, path: str) -> list[str]:
        """The paths directly inside ``path``."""
        prefix = path.rstrip("/") + "/"
        return [p for p in self.tree if p.startswith(prefix) and "/" not in p[len(prefix) :]]

    async def list_dir(self, path: str) -> list[Entry]:
        """The entries of a directory: directories first, then by name."""
        await self._enter("list_dir", path)
        node = self._get(path)
        if node.kind == "link" and node.target is not None:
            return await self.list_dir(posixpath.normpath(posixpath.join(path, "..", node.target)))
        if node.kind != "dir":
            raise Refused(f"{path} is not a directory")
        entries = [self._entry(p) for p in self.children(path)]
        entries.sort(key=lambda e: (not e.is_dir, e.name))
        return entries

    async def stat(self, path: str) -> Entry:
        """One path's entry."""
        await self._enter("stat", path)
        return self._entry(path)

    async def preview(self, path: str, max_bytes: int = PREVIEW_BYTES) -> Preview:
        """The head of a file, as text unless it looks binary."""
        await self._enter("preview", path)
        node = self._get(path)
        if node.kind == "dir":
            raise Refused(f"{path} is a directory")
        data = node.content[:max_bytes]
        truncated = node.size > len(data)
        if looks_binary(data):
            return Preview(path, node.size, None, True, truncated)
        return Preview(path, node.size, data.decode("utf-8", "replace"), False, truncated)

    async def pools_overview(self) -> list[PoolInfo]:
        """Every pool with the user's directory in it and the free space."""
        await self._enter("pools_overview")
        return [replace(p, personal_exists=p.personal_dir in self.tree) for p in self.pools]

    async def quotas(self) -> list[Quota]:
        """The user's and the account's quotas."""
        await self._enter("quotas")
        return list(self.quota_list)

    # -- writes -------------------------------------------------------------------------

    async def mkdir(self, path: str, *, parents: bool = False) -> None:
        """Make a directory (and missing parents with ``parents``)."""
        node = self.write_node(path)
        await self._enter("mkdir", (path, parents, node))
        if path in self.tree:
            raise Refused(f"Cannot create {path}: it already exists")
        parent = posixpath.dirname(path)
        if parent not in self.tree:
            if not parents:
                raise NotFound(f"{parent}: no such file or directory")
            await self.mkdir(parent, parents=True)
        self.tree[path] = _dir()

    async def rename(self, src: str, dst: str) -> None:
        """Rename within one pool; never overwrites."""
        node = self.write_node(src)
        await self._enter("rename", (src, dst, node))
        self._get(src)
        if self._pool(src).name != self._pool(dst).name:
            raise Refused(f"{src} and {dst} are in different pools.")
        if dst in self.tree:
            raise Refused(f"Cannot rename to {dst}: it already exists")
        moved = {p: n for p, n in self.tree.items() if p == src or p.startswith(src + "/")}
        for p in moved:
            del self.tree[p]
        for p, n in moved.items():
            self.tree[dst + p[len(src) :]] = n

    def _under(self, path: str) -> list[str]:
        return [p for p in self.tree if p == path or p.startswith(path.rstrip("/") + "/")]

    async def delete_plan(self, paths: Sequence[str]) -> DeletePlan:
        """Name exactly what deleting ``paths`` removes."""
        await self._enter("delete_plan", tuple(paths))
        items = []
        for path in paths:
            node = self._get(path)
            inside = self._under(path)
            size = sum(self.tree[p].size for p in inside if self.tree[p].kind == "file")
            items.append(
                DeleteItem(path, node.kind, len(inside), size, self.write_node(path), "fp")
            )
        return DeletePlan(tuple(items))

    async def delete(
        self, plan: DeletePlan, *, on_progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Remove exactly the planned paths."""
        await self._enter("delete", plan.paths)
        for item in plan.items:
            for p in self._under(item.path):
                del self.tree[p]


def _status(
    n: int,
    kind: str,
    sources: tuple[str, ...],
    dest: str,
    state: str,
    *,
    minutes_ago: float,
    node: str = "data",
    exit_status: int | None = None,
    progress: Progress | None = None,
    message: str = "",
) -> TransferStatus:
    record = TransferRecord(
        id=f"20260511-09{n:02d}00-00000{n}",
        kind=kind,
        sources=sources,
        dest=dest,
        node=node,
        remote_dir=f"{HOME}/.suan/transfers/20260511-09{n:02d}00-00000{n}",
        created=T0 - minutes_ago * 60,
        profile="testbed",
    )
    return TransferStatus(record, state, exit_status, progress, message)


def sample_transfers() -> list[TransferStatus]:
    """A running copy to cold storage, a finished move, a failed copy with rsync's words."""
    return [
        _status(
            3,
            "copy",
            (f"{HOME}/data", f"{HOME}/训练作业.log"),
            ARCHIVE,
            "running",
            minutes_ago=2,
            progress=Progress(48_318_382_080, 45, "95.37MB/s", "0:10:27", 95.37 * 1024**2),
        ),
        _status(
            2,
            "move",
            (f"{HOME}/[bold red]markup.txt",),
            f"{DSSG}/sy-project",
            "finished",
            minutes_ago=20,
            exit_status=0,
            progress=Progress(1_048_576, 100, "5.00MB/s", "0:00:00", 5 * 1024**2),
        ),
        _status(
            1,
            "copy",
            (f"{HOME}/$(touch pwned)",),
            VAULT,
            "failed",
            minutes_ago=45,
            node="sydata",
            exit_status=23,
            message="rsync: [sender] link_stat failed: No such file or directory (2)\x1b[2J",
        ),
    ]


class FakeTransfers(Steered):
    """``core.transfers.Transfers`` in memory; up/downloads read and write real local files."""

    def __init__(self, storage: FakeStorage) -> None:
        super().__init__()
        self.storage = storage
        self.statuses: list[TransferStatus] = sample_transfers()
        self._next = 10
        self.upload_gate: asyncio.Event | None = None
        """When set, an upload reports half its bytes, then waits for this event."""

    async def copy(
        self, sources: Sequence[str], dest: str, *, move: bool = False
    ) -> TransferStatus:
        """Start a copy (or move) on a data node: running at once."""
        if self.storage.read_only:
            raise Refused("Not starting a transfer: this profile is read-only.")
        await self._enter("copy", (tuple(sources), dest, move))
        self._next += 1
        status = _status(
            self._next, "move" if move else "copy", tuple(sources), dest, "running", minutes_ago=0
        )
        self.statuses.insert(0, status)
        return status

    async def list(self, *, include_remote: bool = False) -> list[TransferStatus]:
        """Every transfer, newest first."""
        await self._enter("list", include_remote)
        return list(self.statuses)

    def _find(self, transfer_id: str) -> int:
        for i, s in enumerate(self.statuses):
            if s.id == transfer_id:
                return i
        raise NotFound(f"No transfer {transfer_id!r}.")

    async def status(self, transfer_id: str) -> TransferStatus:
        """One transfer's state now."""
        await self._enter("status", transfer_id)
        return self.statuses[self._find(transfer_id)]

    async def cancel(self, transfer_id: str) -> TransferStatus:
        """Stop a running transfer."""
        await self._enter("cancel", transfer_id)
        i = self._find(transfer_id)
        self.statuses[i] = replace(self.statuses[i], state="cancelled")
        return self.statuses[i]

    async def forget(self, transfer_id: str) -> None:
        """Drop a finished transfer's records; a running one is refused."""
        await self._enter("forget", transfer_id)
        i = self._find(transfer_id)
        if self.statuses[i].state == "running":
            raise Refused(f"Transfer {transfer_id} is still running.", hint="Cancel it first.")
        del self.statuses[i]

    async def upload(
        self,
        local: Path | str,
        remote: str,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> FileTransferResult:
        """Read a real local file into the fake tree (inside ``remote`` if it is a dir)."""
        src = Path(local)
        await self._enter("upload", (str(src), remote))
        if not src.is_file():
            raise NotFound(f"{src}: no such file")
        data = src.read_bytes()
        node = self.storage.write_node(remote)
        target = remote
        if self.storage.tree.get(remote, Node("file")).kind == "dir":
            target = posixpath.join(remote, src.name)
        if progress is not None:
            progress(len(data) // 2, len(data))
        if self.upload_gate is not None:
            await self.upload_gate.wait()
        if progress is not None:
            progress(len(data), len(data))
        self.storage.tree[target] = _file(data)
        return FileTransferResult(src, target, len(data), 0, None, 2.0, node)

    async def download(
        self,
        remote: str,
        local: Path | str,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> FileTransferResult:
        """Write a fake file to a real local path (inside ``local`` if it is a directory)."""
        await self._enter("download", (remote, str(local)))
        node = self.storage._get(remote)
        target = Path(local)
        if target.is_dir():
            target = target / posixpath.basename(remote)
        if target.exists():
            raise Refused(f"{target} exists.")
        target.write_bytes(node.content)
        if progress is not None:
            progress(len(node.content), len(node.content))
        return FileTransferResult(target, remote, len(node.content), 0, None, 1.0, "pilogin")


class FakeStorageSuan(FakeSuan):
    """``FakeSuan`` with storage, transfers and ``open_file``, like ``core.service.Suan``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.storage_fake = FakeStorage(read_only=self.read_only)
        self.transfers_fake = FakeTransfers(self.storage_fake)

    async def storage(self) -> FakeStorage:
        """The storage explorer's core."""
        await self._enter("storage")
        return self.storage_fake

    async def transfers(self) -> FakeTransfers:
        """Transfers between pools and to/from this machine."""
        await self._enter("transfers")
        return self.transfers_fake

    def open_file(self, path: str) -> RemoteFile:
        """A remote file read by range (over the fake tree's content)."""
        self.calls.append(("open_file", path))
        node = self.storage_fake._get(path)
        return RemoteFile(MemoryFileAccess({path: node.content}), path)


EXTRA_VIEWS: tuple[View, ...] = (
    View("storage", "4", "Storage", StorageScreen),
    View("transfers", "5", "Transfers", TransfersScreen),
)
"""The views this part adds; the host app registers those ``tui/app.py`` does not yet."""


def _missing_views() -> tuple[View, ...]:
    known = {v.name for v in VIEWS}
    return tuple(v for v in EXTRA_VIEWS if v.name not in known)


class StorageHostApp(SuanApp):
    """``SuanApp`` with views 4 (storage) and 5 (transfers) registered."""

    # A relative CSS_PATH is read next to the subclass's module: point at the app's own.
    CSS_PATH: ClassVar[str] = str(Path(tui.app.__file__).with_name("app.tcss"))

    MODES: ClassVar[dict[str, Any]] = {
        **SuanApp.MODES,
        **{v.name: v.screen for v in _missing_views()},
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(v.key, f"view('{v.name}')", v.title, show=False, id=f"app.view.{v.name}")
        for v in _missing_views()
    ]

    def __init__(self, suan: SuanLike, **kwargs: Any) -> None:
        super().__init__(suan, **kwargs)
        self.views = (*VIEWS, *_missing_views())


def storage_app(
    suan: FakeStorageSuan | None = None, clock: FakeClock | None = None
) -> StorageHostApp:
    """The app over a fake facade and a fixed clock."""
    return StorageHostApp(suan or FakeStorageSuan(), clock=clock or FakeClock())


__all__ = [
    "ARCHIVE",
    "DSSG",
    "HOME",
    "NASTY_FILES",
    "UNION",
    "VAULT",
    "FakeStorage",
    "FakeStorageSuan",
    "FakeTransfers",
    "StorageHostApp",
    "storage_app",
]
