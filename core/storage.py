"""The user's storage on the cluster: pools, listings, quotas, and careful writes.

Every file operation goes over SFTP on a node that sees the pool (reads) or may write it
(writes, routed by ``Router.node_for_write``: cold pools only on the data nodes). The few
shell commands (``df``) are argument vectors quoted by the runner, so a file called
``$(touch /tmp/pwned)`` is a name and nothing else.

Paths travel as ``str`` in the API and as UTF-8 bytes (``surrogateescape``) on the wire, so
a name that is not valid UTF-8 still lists, previews, renames and deletes exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import re
import stat as statmod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

import asyncssh

from core.errors import NotFound, Refused, RemoteCommandError, SuanError
from core.runner import CommandResult

PREVIEW_BYTES = 64 * 1024
"""Default size of a file preview's head."""

_WALK_CONCURRENCY = 16
"""Directories read at once while walking: bounded to stay under the server's open handles."""

_REMOVE_CONCURRENCY = 64
"""SFTP remove requests in flight at once; they share one channel, so this costs no channels."""


# ---------------------------------------------------------------------------------------------
# The seams: what storage needs from the site, the router and the SSH pool. The real classes
# (core.site, core.routing, core.ssh) satisfy these structurally; tests pass small fakes.


class PoolLike(Protocol):
    """A storage pool of the site (``core.site.Pool``)."""

    @property
    def name(self) -> str: ...
    @property
    def mount(self) -> str: ...
    @property
    def kind(self) -> str: ...  # "hot" | "cold" | "union"
    @property
    def visible_to(self) -> tuple[str, ...]: ...
    @property
    def writable_on(self) -> tuple[str, ...]: ...


class NodeLike(Protocol):
    """An entry node (``core.site.EntryNode``)."""

    @property
    def name(self) -> str: ...
    @property
    def business(self) -> str: ...  # "job" | "data"
    @property
    def groups(self) -> tuple[str, ...]: ...


class GroupLike(Protocol):
    """A node group (``core.site.Group``)."""

    @property
    def hot_pool(self) -> str: ...


class SiteLike(Protocol):
    """The parts of ``core.site.Site`` storage reads."""

    @property
    def groups(self) -> Mapping[str, GroupLike]: ...
    @property
    def pools(self) -> Mapping[str, PoolLike]: ...
    @property
    def entry_nodes(self) -> Mapping[str, NodeLike]: ...


class RouterLike(Protocol):
    """The parts of ``core.routing.Router`` storage and transfers use."""

    @property
    def site(self) -> SiteLike: ...
    def pool_of_path(self, path: str) -> PoolLike: ...
    def nodes_seeing(self, pool: str) -> Sequence[NodeLike]: ...
    def node_for_read(self, path: str, prefer_group: str | None = None) -> NodeLike: ...
    def node_for_write(self, path: str, prefer_group: str | None = None) -> NodeLike: ...
    def can_write(self, node: str, path: str) -> bool: ...
    def explain_write_refusal(self, node: str, path: str) -> str: ...
    def personal_dir(self, home: str, pool: str) -> str: ...


class SessionLike(Protocol):
    """One connection to one entry node (``core.ssh.Session``)."""

    async def run(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None
    ) -> CommandResult: ...
    def sftp(self) -> AbstractAsyncContextManager[asyncssh.SFTPClient]: ...


class SessionPoolLike(Protocol):
    """The connections to the site's entry nodes (``core.ssh.SessionPool``)."""

    def session(self, node: str) -> SessionLike: ...


class QuotaSource(Protocol):
    """Where quotas come from (``core.hpc_api.HpcApi``)."""

    async def get_quota(self, kind: str, name: str) -> Any: ...


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry, as lstat sees it (a link is a link, not its target)."""

    name: str
    path: str
    kind: str  # "file" | "dir" | "link" | "other"
    size: int
    mtime: int
    permissions: str  # "drwxr-x---", as ls shows it
    owner: str
    target: str | None = None  # where a link points, when it is one

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """One pool as the user meets it: where it is, who sees it, and the user's place in it."""

    name: str
    mount: str
    kind: str
    visible_to: tuple[str, ...]
    writable_on: tuple[str, ...]  # entry-node names where writes are allowed
    personal_dir: str
    personal_exists: bool | None  # None when it could not be checked
    free_bytes: int | None
    total_bytes: int | None
    node: str | None  # the node the figures were read on
    error: str | None = None

    @property
    def used_fraction(self) -> float | None:
        if not self.total_bytes or self.free_bytes is None:
            return None
        return 1.0 - self.free_bytes / self.total_bytes


@dataclass(frozen=True, slots=True)
class Quota:
    """One quota line from the HPC API. ``raw`` keeps what came back, unknown fields too."""

    filesystem: str
    used_bytes: int | None
    limit_bytes: int | None
    used_files: int | None
    limit_files: int | None
    raw: Mapping[str, Any]
    kind: str = "user"  # "user" | "account"
    subject: str = ""  # the user or account name asked about
    error: str | None = None  # the query failed; the other fields are empty


@dataclass(frozen=True, slots=True)
class Preview:
    """The head of a file: text when it looks like text, else only the facts."""

    path: str
    size: int
    text: str | None  # None for binary files
    binary: bool
    truncated: bool


@dataclass(frozen=True, slots=True)
class DeleteItem:
    """One path the user asked to delete, with everything that goes with it."""

    path: str
    kind: str  # "file" | "dir" | "link" | "other"
    entries: int  # filesystem objects removed, the path itself included
    size: int  # bytes in regular files
    node: str  # the node that will remove it
    fingerprint: str  # digest of the walked tree; delete() refuses if it changed

    def describe(self) -> str:
        """One line naming this item, for a confirmation."""
        if self.kind == "dir":
            inner = self.entries - 1
            return f"{self.path}/ (directory, {inner} entries inside, {_human(self.size)})"
        return f"{self.path} ({self.kind}, {_human(self.size)})"


@dataclass(frozen=True, slots=True)
class DeletePlan:
    """Exactly what a delete will remove. Show ``describe()`` and ask before ``delete``."""

    items: tuple[DeleteItem, ...]

    @property
    def entries(self) -> int:
        return sum(i.entries for i in self.items)

    @property
    def size(self) -> int:
        return sum(i.size for i in self.items)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(i.path for i in self.items)

    def describe(self) -> list[str]:
        """Lines naming every path and the total, for a confirmation dialog."""
        lines = [i.describe() for i in self.items]
        lines.append(f"In total: {self.entries} entries, {_human(self.size)}.")
        return lines


@dataclass(slots=True)
class _Walked:
    """A walked tree: every object under a path, and a digest of them."""

    kind: str
    files: list[bytes] = field(default_factory=list)  # files, links, others: removed first
    dirs: list[bytes] = field(default_factory=list)  # directories, parents before children
    size: int = 0
    digest: str = ""

    @property
    def entries(self) -> int:
        return len(self.files) + len(self.dirs)


# ---------------------------------------------------------------------------------------------
# Helpers


def enc(path: str) -> bytes:
    """A path on the wire: UTF-8, with undecodable bytes carried through unchanged."""
    return path.encode("utf-8", "surrogateescape")


def dec(raw: bytes | str) -> str:
    """A path from the wire (see ``enc``)."""
    if isinstance(raw, str):
        return raw
    return raw.decode("utf-8", "surrogateescape")


def normalize(path: str) -> str:
    """An absolute, normalised remote path; relative paths are refused (no guessing the cwd)."""
    if not path.startswith("/"):
        raise Refused(f"Not an absolute path: {path!r}", hint="Give the full path from /.")
    norm = posixpath.normpath(path)
    # normpath keeps a leading "//"; POSIX leaves its meaning open, so do not keep it
    return "/" + norm.lstrip("/")


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def _kind(attrs: asyncssh.SFTPAttrs) -> str:
    mode = attrs.permissions or 0
    if statmod.S_ISLNK(mode) or attrs.type == asyncssh.FILEXFER_TYPE_SYMLINK:
        return "link"
    if statmod.S_ISDIR(mode) or attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
        return "dir"
    if statmod.S_ISREG(mode) or attrs.type == asyncssh.FILEXFER_TYPE_REGULAR:
        return "file"
    return "other"


def _owner(attrs: asyncssh.SFTPAttrs, longname: bytes | str | None) -> str:
    if attrs.owner:
        return attrs.owner
    if longname:
        # OpenSSH's longname is `ls -l`: perms, links, owner, group, ... - owner has no spaces
        parts = dec(longname).split(None, 3)
        if len(parts) >= 3:
            return parts[2]
    return str(attrs.uid) if attrs.uid is not None else "?"


def entry_from_attrs(
    path: str, attrs: asyncssh.SFTPAttrs, longname: bytes | str | None = None
) -> Entry:
    """An ``Entry`` from SFTP attributes (lstat semantics)."""
    return Entry(
        name=posixpath.basename(path) or path,
        path=path,
        kind=_kind(attrs),
        size=attrs.size or 0,
        mtime=int(attrs.mtime or 0),
        permissions=statmod.filemode(attrs.permissions or 0),
        owner=_owner(attrs, longname),
    )


def sftp_error(exc: asyncssh.SFTPError, path: str, action: str) -> SuanError:
    """A worded error for a failed SFTP request on ``path``."""
    reason = exc.reason or "failed"
    if isinstance(exc, asyncssh.SFTPNoSuchFile | asyncssh.SFTPNoSuchPath):
        return NotFound(f"{path}: no such file or directory")
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return Refused(f"Cannot {action} {path}: permission denied")
    if isinstance(exc, asyncssh.SFTPFileAlreadyExists):
        return Refused(f"Cannot {action} {path}: it already exists")
    return RemoteCommandError(f"Cannot {action} {path}: {reason}")


def looks_binary(data: bytes) -> bool:
    """True for data that is not text: a NUL byte, or not UTF-8 (a cut last character is fine)."""
    if b"\x00" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the preview's end is still text
        if exc.start < len(data) - 3:
            return True
    controls = sum(1 for b in data if b < 32 and b not in (9, 10, 12, 13, 27))
    return bool(data) and controls / len(data) > 0.1


_DF_LINE = re.compile(r"^(?P<fs>.+?)\s+(?P<total>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)\s+\d+%")


def parse_df(stdout: str) -> tuple[int, int] | None:
    """(total, available) bytes from ``df -P -B1 <path>`` output, or None."""
    for line in stdout.splitlines()[1:]:
        m = _DF_LINE.match(line)
        if m:
            return int(m["total"]), int(m["avail"])
    return None


# ---------------------------------------------------------------------------------------------
# Quota parsing: the API's JSON schema is not public, so read it defensively.

_FS_KEYS: tuple[str, ...] = ("filesystem", "file_system", "fs", "mount", "mountpoint", "pool")
_FS_KEYS += ("path", "device")
_USED_BYTES: tuple[str, ...] = ("used_bytes", "bytes_used", "used", "usage", "space_used")
_USED_BYTES += ("disk_used", "block_used", "blocks_used", "used_kb", "kbytes", "used_space")
_USED_BYTES += ("size",)
_LIMIT_BYTES: tuple[str, ...] = ("limit_bytes", "bytes_limit", "limit", "hard_limit", "hard")
_LIMIT_BYTES += ("quota", "block_limit", "blocks_limit", "space_limit", "limit_kb")
_LIMIT_BYTES += ("block_hard", "soft_limit", "soft", "total")
_USED_FILES: tuple[str, ...] = ("used_files", "files_used", "files", "file_count", "inodes")
_USED_FILES += ("inodes_used", "inode_used", "file_used", "used_inodes")
_LIMIT_FILES: tuple[str, ...] = ("limit_files", "files_limit", "file_limit", "inode_limit")
_LIMIT_FILES += ("inodes_limit", "file_quota", "files_quota", "files_hard", "inode_hard")
_SPACE_GROUPS = ("space", "block", "blocks", "disk", "capacity", "bytes", "storage")
_FILE_GROUPS = ("files", "inodes", "inode", "file")
_LIST_KEYS = ("quotas", "quota", "data", "result", "results", "items", "filesystems", "usage")

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "tib": 1024**4,
    "p": 1024**5,
    "pb": 1024**5,
    "pib": 1024**5,
}
_SIZE_TEXT = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: Any, unit: str = "") -> int | None:
    """Bytes from ``12``, ``"12"``, ``"1.5T"``, ``"20 GiB"``, ``"1,024"``; None if unreadable.

    ``unit`` applies to bare numbers (a key such as ``used_kb`` or a sibling ``unit`` field).
    """
    if isinstance(value, bool) or value is None:
        return None
    factor = _UNITS.get(unit.strip().lower(), 1)
    if isinstance(value, int | float):
        return int(value * factor) if value >= 0 else None
    if isinstance(value, str):
        m = _SIZE_TEXT.match(value)
        if not m:
            return None
        number = float(m[1].replace(",", ""))
        suffix = m[2].lower()
        if suffix not in _UNITS:
            return None
        return int(number * (_UNITS[suffix] if suffix else factor))
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value) if value >= 0 else None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if text.isdigit():
            return int(text)
        return parse_size(value)  # "1.2k" files
    return None


def _lower_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in record.items()}


def _first(record: Mapping[str, Any], keys: Iterable[str]) -> tuple[str, Any] | None:
    for key in keys:
        if key in record and record[key] is not None and not isinstance(record[key], dict):
            return key, record[key]
    return None


def _unit_for(key: str, record: Mapping[str, Any]) -> str:
    if key.endswith("_kb") or key in ("kbytes", "block_used", "blocks_used", "block_limit"):
        return "kb"
    if key in ("blocks_limit", "block_hard"):
        return "kb"
    unit = record.get("unit") or record.get("units")
    return str(unit) if isinstance(unit, str) else ""


def _records(data: Any) -> list[tuple[str | None, Mapping[str, Any]]]:
    """The quota records inside a response, each with a filesystem name when keyed by one."""
    if isinstance(data, list):
        return [(None, r) for r in data if isinstance(r, dict)]
    if not isinstance(data, dict):
        return []
    lowered = _lower_keys(data)
    for key in _LIST_KEYS:
        inner = lowered.get(key)
        if isinstance(inner, list) and any(isinstance(r, dict) for r in inner):
            return _records(inner)
        if isinstance(inner, dict) and inner:
            found = _records(inner)
            if found:
                return found
    # {"lustre": {...}, "archive": {...}}: keyed by filesystem
    nested = {k: v for k, v in data.items() if isinstance(v, dict)}
    if nested and all(
        any(str(kk).lower() in _USED_BYTES + _LIMIT_BYTES + _SPACE_GROUPS for kk in v)
        for v in nested.values()
    ):
        return [(str(k), v) for k, v in nested.items()]
    return [(None, data)]


def _quota_from(
    fs_name: str | None, record: Mapping[str, Any], kind: str, subject: str
) -> Quota | None:
    low = _lower_keys(record)
    space = next((low[k] for k in _SPACE_GROUPS if isinstance(low.get(k), dict)), None)
    files = next((low[k] for k in _FILE_GROUPS if isinstance(low.get(k), dict)), None)

    def size_of(src: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
        lowered = _lower_keys(src)
        hit = _first(lowered, keys)
        return None if hit is None else parse_size(hit[1], _unit_for(hit[0], lowered))

    def count_of(src: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
        hit = _first(_lower_keys(src), keys)
        return None if hit is None else _count(hit[1])

    used_bytes = size_of(space, _USED_BYTES) if space else size_of(low, _USED_BYTES)
    limit_bytes = size_of(space, _LIMIT_BYTES) if space else size_of(low, _LIMIT_BYTES)
    if files:
        used_files = count_of(files, ("used", "usage", "count", *_USED_FILES))
        limit_files = count_of(files, ("limit", "hard", "quota", "soft", *_LIMIT_FILES))
    else:
        used_files = count_of(low, _USED_FILES)
        limit_files = count_of(low, _LIMIT_FILES)
    fs_hit = _first(low, _FS_KEYS) or _first(low, ("name",))
    filesystem = fs_name or (str(fs_hit[1]) if fs_hit else "")
    if filesystem == subject and fs_name is None and _first(low, _FS_KEYS) is None:
        filesystem = ""  # "name" was the user's name, not a filesystem
    if used_bytes is None and limit_bytes is None and used_files is None and limit_files is None:
        return None
    return Quota(
        filesystem=filesystem,
        used_bytes=used_bytes,
        limit_bytes=limit_bytes,
        used_files=used_files,
        limit_files=limit_files,
        raw=dict(record),
        kind=kind,
        subject=subject,
    )


def parse_quota(data: Any, *, kind: str, subject: str) -> list[Quota]:
    """Quota lines from whatever the API returned; an unreadable answer gives one raw line."""
    quotas = [
        q
        for fs_name, record in _records(data)
        if (q := _quota_from(fs_name, record, kind, subject)) is not None
    ]
    if quotas:
        return quotas
    raw = data if isinstance(data, dict) else {"value": data}
    return [Quota("", None, None, None, None, raw, kind=kind, subject=subject)]


# ---------------------------------------------------------------------------------------------


class Storage:
    """The user's files in every pool of the site, read and written through the right node."""

    def __init__(
        self,
        router: RouterLike,
        pool: SessionPoolLike,
        home: str,
        quota_source: QuotaSource | None = None,
        *,
        group: str | None = None,
        read_only: bool = False,
    ) -> None:
        self.router = router
        self.pool = pool
        self.home = normalize(home)
        self.quota_source = quota_source
        self.group = group
        """The node group the user works in, preferred when several nodes would do."""
        self.read_only = read_only
        """Refuse every write (the profile's ``read_only``)."""
        self.username = posixpath.basename(self.home)
        self.account = posixpath.basename(posixpath.dirname(self.home))

    # -- places -------------------------------------------------------------------------------

    def personal_dir(self, pool: str) -> str:
        """The user's directory in ``pool`` (same path as home under that pool's mount)."""
        return self.router.personal_dir(self.home, pool)

    def personal_dirs(self) -> dict[str, str]:
        """Pool name → the user's directory in it."""
        return {name: self.personal_dir(name) for name in self.router.site.pools}

    def cold_pools(self) -> list[PoolLike]:
        """The pools one writes cold data to (kind "cold"; never the union view)."""
        return [p for p in self.router.site.pools.values() if p.kind == "cold"]

    def union_pool(self) -> PoolLike | None:
        """The merged read view of the cold pools, if the site has one."""
        return next((p for p in self.router.site.pools.values() if p.kind == "union"), None)

    def read_node(self, path: str, via: str | None = None) -> str:
        """The node ``path`` is read through: ``via`` when given, else one that sees it."""
        if via is not None:
            return via
        return self.router.node_for_read(path, self.group).name

    def write_node(self, path: str, via: str | None = None) -> str:
        """The node a write to ``path`` goes through; Refused (with the site's words) if ``via``
        cannot write there."""
        if self.read_only:
            raise Refused(
                f"Not writing {path}: this profile is read-only.",
                hint="Set read_only = false in the profile to allow changes.",
            )
        node = via if via is not None else self.router.node_for_write(path, self.group).name
        if not self.router.can_write(node, path):
            raise Refused(
                self.router.explain_write_refusal(node, path),
                hint="Cold storage is written on the data nodes; suan routes there by itself.",
            )
        return node

    def _guard_deletable(self, path: str, action: str = "delete") -> None:
        """Refuse deleting (or renaming) a pool's mount, the user's own directories, or
        anything above them."""
        for pool in self.router.site.pools.values():
            mount = normalize(pool.mount)
            personal = normalize(self.personal_dir(pool.name))
            if path in (mount, personal) or personal.startswith(path.rstrip("/") + "/"):
                raise Refused(
                    f"Refusing to {action} {path}: it is a pool or holds your own directory.",
                    hint="Work on what is inside it instead.",
                )

    # -- reads --------------------------------------------------------------------------------

    async def list_dir(self, path: str, *, via: str | None = None) -> list[Entry]:
        """The entries of a directory, sorted: directories first, then by name."""
        path = normalize(path)
        session = self.pool.session(self.read_node(path, via))
        entries: list[Entry] = []
        links: list[int] = []
        async with session.sftp() as sftp:
            try:
                async for item in sftp.scandir(enc(path)):
                    raw = item.filename
                    if raw in (b".", b"..", ".", ".."):
                        continue
                    name = dec(raw)
                    entry = entry_from_attrs(posixpath.join(path, name), item.attrs, item.longname)
                    if entry.kind == "link":
                        links.append(len(entries))
                    entries.append(entry)
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, path, "list") from exc
            if links:
                targets = await asyncio.gather(*(_readlink(sftp, entries[i].path) for i in links))
                for i, target in zip(links, targets, strict=True):
                    entries[i] = replace(entries[i], target=target)
        entries.sort(key=lambda e: (not e.is_dir, e.name))
        return entries

    async def stat(self, path: str, *, via: str | None = None) -> Entry:
        """One path's entry (lstat: a link is described, not followed). NotFound if absent."""
        path = normalize(path)
        session = self.pool.session(self.read_node(path, via))
        async with session.sftp() as sftp:
            try:
                attrs = await sftp.lstat(enc(path))
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, path, "stat") from exc
            entry = entry_from_attrs(path, attrs)
            if entry.kind == "link":
                entry = replace(entry, target=await _readlink(sftp, path))
            return entry

    async def exists(self, path: str, *, via: str | None = None) -> bool:
        """Whether ``path`` exists (a dangling link exists)."""
        try:
            await self.stat(path, via=via)
        except NotFound:
            return False
        return True

    async def preview(
        self, path: str, max_bytes: int = PREVIEW_BYTES, *, via: str | None = None
    ) -> Preview:
        """The head of a file, as text unless it looks binary."""
        path = normalize(path)
        session = self.pool.session(self.read_node(path, via))
        async with session.sftp() as sftp:
            try:
                attrs = await sftp.stat(enc(path))
                if _kind(attrs) == "dir":
                    raise Refused(f"{path} is a directory")
                async with sftp.open(enc(path), "rb") as f:
                    data = cast(bytes, await f.read(max_bytes, 0))
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, path, "read") from exc
        size = attrs.size or 0
        truncated = size > len(data)
        if looks_binary(data):
            return Preview(path, size, None, True, truncated)
        return Preview(path, size, data.decode("utf-8", "replace"), False, truncated)

    async def pools_overview(self) -> list[PoolInfo]:
        """Every pool: mount, kind, who sees it, where it is writable, the user's directory in
        it and whether it exists, and free/total space. A pool that cannot be read says why
        instead of failing the rest."""
        pools = list(self.router.site.pools.values())
        return list(await asyncio.gather(*(self._pool_info(p) for p in pools)))

    async def _pool_info(self, pool: PoolLike) -> PoolInfo:
        personal = self.personal_dir(pool.name)
        seeing = self.router.nodes_seeing(pool.name)
        writable = tuple(n.name for n in seeing if self.router.can_write(n.name, pool.mount))
        info = PoolInfo(
            name=pool.name,
            mount=pool.mount,
            kind=pool.kind,
            visible_to=tuple(pool.visible_to),
            writable_on=writable,
            personal_dir=personal,
            personal_exists=None,
            free_bytes=None,
            total_bytes=None,
            node=None,
        )
        try:
            node = self.router.node_for_read(personal, self.group).name
            info = replace(info, node=node)
            exists, space = await self._probe_pool(node, pool.mount, personal)
        except (SuanError, OSError, asyncssh.Error) as exc:
            message = exc.message if isinstance(exc, SuanError) else str(exc)
            return replace(info, error=message or type(exc).__name__)
        free, total = space if space else (None, None)
        return replace(info, personal_exists=exists, free_bytes=free, total_bytes=total)

    async def _probe_pool(
        self, node: str, mount: str, personal: str
    ) -> tuple[bool, tuple[int, int] | None]:
        session = self.pool.session(node)
        space: tuple[int, int] | None = None
        async with session.sftp() as sftp:
            try:
                await sftp.stat(enc(personal))
                exists = True
            except asyncssh.SFTPNoSuchFile:
                exists = False
            try:
                vfs = await sftp.statvfs(enc(mount))
                frsize = vfs.frsize or vfs.bsize
                space = (vfs.bavail * frsize, vfs.blocks * frsize)
            except (asyncssh.SFTPError, asyncssh.ProcessError):
                space = None
        if space is None:
            # servers without the statvfs extension: df, as an argv
            result = await session.run(["df", "-P", "-B1", "--", mount], timeout=30)
            parsed = parse_df(result.stdout) if result.ok else None
            if parsed:
                total, avail = parsed
                space = (avail, total)
        return exists, space

    async def free_space(self, pool: str) -> tuple[int, int] | None:
        """(free, total) bytes of one pool, read on a node that sees it."""
        p = self.router.site.pools[pool]
        node = self.router.node_for_read(p.mount, self.group).name
        _, space = await self._probe_pool(node, p.mount, p.mount)
        return space

    async def quotas(self) -> list[Quota]:
        """The user's and the account's quotas from the HPC API, parsed defensively. A query
        that fails yields one line with ``error`` set rather than hiding the other."""
        if self.quota_source is None:
            raise Refused("No quota source is configured for this profile.")
        source = self.quota_source

        async def one(kind: str, subject: str) -> list[Quota]:
            try:
                data = await source.get_quota(kind, subject)
            except SuanError as exc:
                return [Quota("", None, None, None, None, {}, kind, subject, exc.message)]
            return parse_quota(data, kind=kind, subject=subject)

        user, account = await asyncio.gather(
            one("user", self.username), one("account", self.account)
        )
        return [*user, *account]

    # -- writes -------------------------------------------------------------------------------

    async def mkdir(self, path: str, *, parents: bool = False, via: str | None = None) -> None:
        """Make a directory (and its missing parents with ``parents``)."""
        path = normalize(path)
        session = self.pool.session(self.write_node(path, via))
        async with session.sftp() as sftp:
            try:
                if parents:
                    await sftp.makedirs(enc(path), exist_ok=True)
                else:
                    await sftp.mkdir(enc(path))
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, path, "create") from exc

    async def rename(self, src: str, dst: str, *, via: str | None = None) -> None:
        """Rename within one pool; never overwrites (Refused if ``dst`` exists)."""
        src, dst = normalize(src), normalize(dst)
        self._guard_deletable(src, "rename")
        if self.router.pool_of_path(src).name != self.router.pool_of_path(dst).name:
            raise Refused(
                f"{src} and {dst} are in different pools.",
                hint="Moving between pools is a transfer: use copy/move.",
            )
        node = self.write_node(src, via)
        self.write_node(dst, node)
        session = self.pool.session(node)
        async with session.sftp() as sftp:
            try:
                await sftp.lstat(enc(dst))
            except asyncssh.SFTPNoSuchFile:
                pass
            else:
                raise Refused(f"Cannot rename to {dst}: it already exists")
            try:
                await sftp.rename(enc(src), enc(dst))
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, src, "rename") from exc

    async def delete_plan(self, paths: Sequence[str], *, via: str | None = None) -> DeletePlan:
        """Walk each path and name exactly what deleting it removes. Nothing is removed."""
        items: list[DeleteItem] = []
        seen: set[str] = set()
        for raw in paths:
            path = normalize(raw)
            if path in seen:
                continue
            seen.add(path)
            self._guard_deletable(path)
            node = self.write_node(path, via)
            async with self.pool.session(node).sftp() as sftp:
                walked = await _walk(sftp, path)
            items.append(
                DeleteItem(path, walked.kind, walked.entries, walked.size, node, walked.digest)
            )
        # a path inside another planned directory would be counted twice and removed twice
        for item in items:
            for other in items:
                if other is not item and item.path.startswith(other.path.rstrip("/") + "/"):
                    raise Refused(f"{item.path} is inside {other.path}: name only one of them.")
        return DeletePlan(tuple(items))

    async def delete(
        self,
        plan: DeletePlan,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Remove exactly the planned paths. Each is walked again first; if anything under it
        changed since the plan, nothing of it is removed and ``Refused`` names it."""
        total = plan.entries
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if on_progress is not None:
                on_progress(done, total)

        for item in plan.items:
            self._guard_deletable(item.path)
            node = self.write_node(item.path, item.node)
            async with self.pool.session(node).sftp() as sftp:
                try:
                    walked = await _walk(sftp, item.path)
                except NotFound as exc:
                    raise Refused(
                        f"{item.path} is gone since the plan was made; nothing removed from it."
                    ) from exc
                if walked.digest != item.fingerprint:
                    raise Refused(
                        f"{item.path} changed since the plan was made; nothing removed from it.",
                        hint="Plan the delete again and confirm what it shows now.",
                    )
                await _remove_walked(sftp, item.path, walked, tick)


async def _readlink(sftp: asyncssh.SFTPClient, path: str) -> str | None:
    try:
        return dec(await sftp.readlink(enc(path)))
    except asyncssh.SFTPError:
        return None


async def _walk(sftp: asyncssh.SFTPClient, path: str) -> _Walked:
    """Every object under ``path`` (links not followed), with a digest of names, kinds, sizes
    and times so a later walk can tell whether anything changed."""
    root = enc(path)
    try:
        attrs = await sftp.lstat(root)
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, path, "read") from exc
    kind = _kind(attrs)
    walked = _Walked(kind)
    lines: list[bytes] = []

    def note(rel: bytes, a: asyncssh.SFTPAttrs, k: str) -> None:
        lines.append(b"%s\0%s\0%d\0%d" % (rel, k.encode(), a.size or 0, int(a.mtime or 0)))

    note(b"", attrs, kind)
    if kind != "dir":
        walked.files.append(root)
        walked.size = attrs.size or 0 if kind == "file" else 0
    else:
        walked.dirs.append(root)
        limit = asyncio.Semaphore(_WALK_CONCURRENCY)

        async def visit(directory: bytes) -> None:
            async with limit:
                try:
                    names = await sftp.readdir(directory)
                except asyncssh.SFTPError as exc:
                    raise sftp_error(exc, dec(directory), "read") from exc
            subdirs: list[bytes] = []
            for item in names:
                name = item.filename
                assert isinstance(name, bytes)
                if name in (b".", b".."):
                    continue
                full = directory + b"/" + name
                k = _kind(item.attrs)
                note(full[len(root) :], item.attrs, k)
                if k == "dir":
                    walked.dirs.append(full)
                    subdirs.append(full)
                else:
                    walked.files.append(full)
                    if k == "file":
                        walked.size += item.attrs.size or 0
            await asyncio.gather(*(visit(d) for d in subdirs))

        await visit(root)
    lines.sort()
    walked.digest = hashlib.sha256(b"\n".join(lines)).hexdigest()
    return walked


async def _remove_walked(
    sftp: asyncssh.SFTPClient, path: str, walked: _Walked, tick: Callable[[], None]
) -> None:
    """Remove the walked objects: files first (many requests in flight), then directories
    deepest first, so a directory holding something unplanned is left and reported."""
    limit = asyncio.Semaphore(_REMOVE_CONCURRENCY)

    async def remove(p: bytes) -> None:
        async with limit:
            try:
                await sftp.remove(p)
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, dec(p), "delete") from exc
        tick()

    await asyncio.gather(*(remove(p) for p in walked.files))
    by_depth: dict[int, list[bytes]] = {}
    for d in walked.dirs:
        by_depth.setdefault(d.count(b"/"), []).append(d)

    async def rmdir(p: bytes) -> None:
        async with limit:
            try:
                await sftp.rmdir(p)
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, dec(p), "delete") from exc
        tick()

    for depth in sorted(by_depth, reverse=True):
        await asyncio.gather(*(rmdir(p) for p in by_depth[depth]))
