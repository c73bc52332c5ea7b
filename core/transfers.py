"""Moving data: between pools on the cluster, and between this machine and the cluster.

Between pools, rsync runs on a data node (``data`` for /lustre, ``sydata`` for /dssg; cold
destinations are written only there) inside a detached tmux session, so neither a dropped
connection nor a closed suan stops it. Each transfer has a directory on that node,
``~/.suan/transfers/<id>/``, holding ``record.json``, rsync's log (progress2 lines), its
stderr, and an ``exit`` file written when it ends. A copy of the record sits in the profile's
data directory, so ``list()`` finds transfers again after a restart; their state comes from
the tmux session's presence and the exit file.

The tmux command is an argument vector: a constant ``sh -c`` script that reads the paths from
its positional parameters, so no path is ever pasted into a shell line.

Uploads and downloads use SFTP on the shared connection, with many requests in flight. They
write to ``<target>.part`` and rename it into place only after the size is verified (and the
SHA-256 on request): a ``.part`` file is never mistaken for a finished one, and a new attempt
resumes by appending from the ``.part`` file's size. Requests are written strictly in order
(the SFTP server handles them in order; the local side writes in order), so a ``.part`` file
is always a clean prefix of the source.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import os
import posixpath
import re
import secrets
import stat
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import asyncssh

from core.errors import NotFound, Refused, RemoteCommandError, SuanError
from core.storage import (
    NodeLike,
    PoolLike,
    RouterLike,
    SessionPoolLike,
    Storage,
    dec,
    enc,
    normalize,
    sftp_error,
)

COLD_PREFIX = "cold:"
"""A path spec meaning "cold storage, the pool left to suan": ``cold:results/run1`` is read
from /union and written to /archive or /vault, whichever has more free space."""

PART_SUFFIX = ".part"
"""Partial uploads and downloads are named ``<target>.part`` until verified."""

REMOTE_DIR = ".suan/transfers"
"""Where transfer records live on the data node, relative to the user's home there."""

_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")

_BLOCK = 256 * 1024
_WINDOW = 64
"""SFTP requests in flight for uploads/downloads: enough to fill a fast link's window."""

# The detached job. Constant text; everything variable arrives as a positional parameter:
#   $1 transfer dir, $2 "copy"|"move", $3 bwlimit (KB/s, "" for none), $4 destination dir,
#   $5... sources. rsync's stdout (progress2, \r-separated) goes to rsync.log; the exit
#   status is written last, through a rename, so a reader never sees half of it.
_RUN_SCRIPT = r"""
dir=$1; mode=$2; bw=$3; dst=$4; shift 4
rm_src=; if [ "$mode" = move ]; then rm_src=--remove-source-files; fi
st=0
mkdir -p -- "$dst" 2>"$dir/rsync.err" || st=$?
if [ "$st" -eq 0 ]; then
  rsync -a --partial --no-inc-recursive --info=progress2 $rm_src ${bw:+"--bwlimit=$bw"} \
    -- "$@" "$dst" >"$dir/rsync.log" 2>>"$dir/rsync.err" || st=$?
fi
if [ "$st" -eq 0 ] && [ "$mode" = move ]; then
  for s in "$@"; do
    if [ -d "$s" ]; then find "$s" -depth -type d -empty -delete 2>>"$dir/rsync.err" || st=$?; fi
  done
fi
printf '%s\n' "$st" >"$dir/exit.tmp" && mv -f -- "$dir/exit.tmp" "$dir/exit"
"""

# One round trip per node for the state of many transfers: pairs of (id, dir) as parameters.
_STATUS_SCRIPT = r"""
while [ $# -ge 2 ]; do
  id=$1; d=$2; shift 2
  if tmux has-session -t "=suan-$id" 2>/dev/null; then r=1; else r=0; fi
  e=$(cat "$d/exit" 2>/dev/null)
  p=$(tail -c 4096 "$d/rsync.log" 2>/dev/null | tr '\r' '\n' | grep '%' | tail -n 1)
  m=$(tail -n 3 "$d/rsync.err" 2>/dev/null | tr '\n\t' '  ')
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$r" "$e" "$p" "$m"
done
"""

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes in total) as a file upload or download advances."""


# ---------------------------------------------------------------------------------------------
# Values


_PROGRESS2 = re.compile(
    r"^\s*(?P<bytes>[\d,.]+)\s+(?P<percent>\d+)%\s+(?P<rate>[\d.,]+\s*[kKMGT]?B/s)"
    r"\s+(?P<eta>\d+:\d{2}:\d{2})"
)
_RATE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True, slots=True)
class Progress:
    """rsync's last progress2 line: bytes done, percent, rate and time left (or taken)."""

    bytes: int
    percent: int
    rate: str  # as rsync prints it, "95.37MB/s"
    eta: str  # "0:00:10"
    rate_bytes: float

    @property
    def eta_seconds(self) -> int:
        h, m, s = (int(x) for x in self.eta.split(":"))
        return h * 3600 + m * 60 + s


def parse_progress2(text: str) -> Progress | None:
    """The last progress2 line in ``text`` (lines end with \\r or \\n), or None."""
    for line in reversed(re.split(r"[\r\n]+", text)):
        m = _PROGRESS2.match(line)
        if m:
            rate = m["rate"].replace(" ", "")
            number = float(rate.rstrip("KkMGTB/s").replace(",", "") or 0)
            unit = rate[: -len("B/s")].lstrip("0123456789.,").lower()
            return Progress(
                bytes=int(m["bytes"].replace(",", "").replace(".", "")),
                percent=int(m["percent"]),
                rate=rate,
                eta=m["eta"],
                rate_bytes=number * _RATE_UNITS.get(unit, 1),
            )
    return None


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """What was started: kept on the data node and in the local index."""

    id: str
    kind: str  # "copy" | "move"
    sources: tuple[str, ...]
    dest: str
    node: str
    remote_dir: str  # absolute, on ``node``
    created: float
    bwlimit: int | None = None
    profile: str = ""

    @property
    def session_name(self) -> str:
        return f"suan-{self.id}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = list(self.sources)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransferRecord:
        """A record from its JSON; ValueError if it is not one."""
        try:
            record = cls(
                id=str(data["id"]),
                kind=str(data["kind"]),
                sources=tuple(str(s) for s in data["sources"]),
                dest=str(data["dest"]),
                node=str(data["node"]),
                remote_dir=str(data["remote_dir"]),
                created=float(data["created"]),
                bwlimit=int(data["bwlimit"]) if data.get("bwlimit") is not None else None,
                profile=str(data.get("profile", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a transfer record: {exc}") from None
        if not _ID.match(record.id):
            raise ValueError(f"not a transfer id: {record.id!r}")
        return record


STATES = ("running", "finished", "failed", "cancelled", "lost", "unknown")


@dataclass(frozen=True, slots=True)
class TransferStatus:
    """A transfer and where it stands.

    ``state``: running (tmux session alive, no exit file), finished (exit 0), failed (exit
    status ≠ 0), cancelled, lost (session gone without an exit status: the node rebooted or
    someone killed it), unknown (the node could not be asked; ``message`` says why).
    """

    record: TransferRecord
    state: str
    exit_status: int | None = None
    progress: Progress | None = None
    message: str = ""

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def done(self) -> bool:
        return self.state in ("finished", "failed", "cancelled", "lost")


@dataclass(frozen=True, slots=True)
class FileTransferResult:
    """A finished upload or download."""

    local: Path
    remote: str
    size: int
    resumed_from: int  # bytes that were already there from an interrupted attempt
    sha256: str | None  # when a checksum was asked for (and matched)
    seconds: float
    node: str


@dataclass(slots=True)
class _Counter:
    """Bytes done so far; reports after every block (a UI coalesces them as it likes)."""

    done: int = 0
    total: int = 0
    callback: ProgressCallback | None = None

    def add(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)


# ---------------------------------------------------------------------------------------------


def parse_status_line(line: str) -> tuple[str, bool, str, str, str] | None:
    """(id, session alive, exit text, progress line, last stderr) from the status script."""
    parts = line.split("\t", 4)
    if len(parts) != 5 or not _ID.match(parts[0]):
        return None
    return parts[0], parts[1] == "1", parts[2].strip(), parts[3], parts[4].strip()


def state_of(alive: bool, exit_text: str) -> tuple[str, int | None]:
    """The state from the session's presence and the exit file's text."""
    if exit_text == "cancelled":
        return "cancelled", None
    if exit_text:
        try:
            status = int(exit_text)
        except ValueError:
            return "failed", None
        return ("finished" if status == 0 else "failed"), status
    return ("running", None) if alive else ("lost", None)


def new_transfer_id(now: float | None = None) -> str:
    """A sortable, shell-safe id: ``YYYYMMDD-HHMMSS-xxxxxx``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def run_argv(record: TransferRecord) -> list[str]:
    """The command that starts ``record`` detached in tmux, as an argument vector."""
    return [
        "tmux",
        "new-session",
        "-d",
        "-s",
        record.session_name,
        "--",
        "sh",
        "-c",
        _RUN_SCRIPT,
        "suan-transfer",
        record.remote_dir,
        record.kind,
        str(record.bwlimit) if record.bwlimit else "",
        record.dest,
        *record.sources,
    ]


def status_argv(records: Sequence[TransferRecord]) -> list[str]:
    """The command asking one node about many transfers, as an argument vector."""
    argv = ["sh", "-c", _STATUS_SCRIPT, "suan-status"]
    for r in records:
        argv += [r.id, r.remote_dir]
    return argv


def _sha256_file(path: Path, start: int = 0) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        f.seek(start)
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


_SHA_LINE = re.compile(r"^\\?([0-9a-f]{64})\b")


class Transfers:
    """Copies and moves between pools (detached, on data nodes) and file up/downloads."""

    def __init__(
        self,
        router: RouterLike,
        pool: SessionPoolLike,
        storage: Storage,
        data_dir: Path,
        *,
        profile: str = "",
    ) -> None:
        self.router = router
        self.pool = pool
        self.storage = storage
        self.index_dir = data_dir / "transfers"
        self.profile = profile

    # -- where ---------------------------------------------------------------------------------

    async def pick_cold_pool(self) -> PoolLike:
        """The cold pool with the most free space (the site's rule for cold writes)."""
        pools = self.storage.cold_pools()
        if not pools:
            raise NotFound("This site has no cold storage.")
        spaces = await asyncio.gather(
            *(self.storage.free_space(p.name) for p in pools), return_exceptions=True
        )
        best: tuple[int, PoolLike] | None = None
        for p, space in zip(pools, spaces, strict=True):
            if isinstance(space, BaseException) or space is None:
                continue
            if best is None or space[0] > best[0]:
                best = (space[0], p)
        if best is None:
            raise RemoteCommandError(
                "Could not read the free space of any cold pool.",
                hint="Name the pool yourself (/archive/... or /vault/...).",
            )
        return best[1]

    def resolve_read(self, spec: str) -> str:
        """A source path: ``cold:REL`` is REL under the user's directory in /union."""
        if spec.startswith(COLD_PREFIX):
            union = self.storage.union_pool()
            if union is None:
                raise NotFound("This site has no union view of cold storage; name the pool.")
            return _join(self.storage.personal_dir(union.name), spec[len(COLD_PREFIX) :])
        return normalize(spec)

    async def resolve_write(self, spec: str) -> str:
        """A destination path: ``cold:REL`` is REL under the user's directory in the cold pool
        with the most free space."""
        if spec.startswith(COLD_PREFIX):
            pool = await self.pick_cold_pool()
            return _join(self.storage.personal_dir(pool.name), spec[len(COLD_PREFIX) :])
        return normalize(spec)

    def node_for_transfer(self, sources: Sequence[str], dest: str) -> NodeLike:
        """The data node for a copy: one that sees every pool involved and may write ``dest``;
        the data node of the first hot pool's group first (/lustre → data, /dssg → sydata)."""
        pools = [self.router.pool_of_path(p) for p in (*sources, dest)]
        hot = [p for p in pools if p.kind == "hot"]
        if hot:
            groups: tuple[str, ...] = tuple(hot[0].visible_to)
        else:
            home_pool = self.router.pool_of_path(self.storage.home)
            groups = (self.storage.group,) if self.storage.group else tuple(home_pool.visible_to)
        seeing = [{n.name for n in self.router.nodes_seeing(p.name)} for p in pools]
        candidates = [
            n
            for n in self.router.site.entry_nodes.values()
            if n.business == "data"
            and all(n.name in s for s in seeing)
            and self.router.can_write(n.name, dest)
        ]
        if not candidates:
            raise Refused(
                f"No data node sees both the sources and {dest}.",
                hint="Copy in two steps through a pool both sides see.",
            )
        candidates.sort(key=lambda n: not any(g in groups for g in n.groups))
        return candidates[0]

    def suggest_hot_copy(self, path: str, group: str | None = None) -> tuple[str, str]:
        """For cold data a job wants: (source, destination on hot storage). The destination
        keeps the path relative to the user's directory, under the hot pool of ``group`` (or
        of home). Copy with ``copy([src], posixpath.dirname(dst))``."""
        path = normalize(path)
        pool = self.router.pool_of_path(path)
        if pool.kind == "hot":
            raise Refused(f"{path} is already on hot storage.")
        if group is not None:
            hot = self._hot_pool_of(group)
        else:
            hot = self.router.pool_of_path(self.storage.home).name
        cold_dir = self.storage.personal_dir(pool.name)
        hot_dir = self.storage.personal_dir(hot)
        if path.startswith(cold_dir + "/"):
            return path, hot_dir + path[len(cold_dir) :]
        if path == cold_dir:
            return path, f"{hot_dir}/from-{pool.name}"
        return path, f"{hot_dir}/{posixpath.basename(path)}"

    def _hot_pool_of(self, group: str) -> str:
        groups = self.router.site.groups
        if group in groups:
            return groups[group].hot_pool
        raise NotFound(f"No node group {group!r}.")

    # -- pool to pool ----------------------------------------------------------------------------

    async def copy(
        self,
        sources: Sequence[str],
        dest: str,
        *,
        move: bool = False,
        bwlimit: int | None = None,
    ) -> TransferStatus:
        """Copy (or move) ``sources`` into the directory ``dest`` on a data node, detached.

        Paths may be ``cold:REL`` (see ``COLD_PREFIX``). Each source lands inside ``dest``
        under its own name; ``dest`` is created if missing. ``bwlimit`` caps rsync in KB/s.
        Returns at once with the transfer running; follow it with ``status``/``list``.
        """
        if not sources:
            raise Refused("Nothing to copy.")
        srcs = tuple(self.resolve_read(s) for s in sources)
        dst = await self.resolve_write(dest)
        for s in srcs:
            if dst == s or dst.startswith(s.rstrip("/") + "/"):
                raise Refused(f"Cannot copy {s} into itself ({dst}).")
            if self.router.pool_of_path(s).kind == "union" and move:
                raise Refused(
                    f"Moving out of {s} (a merged view) is refused.",
                    hint="Name the cold pool it is on: /archive/... or /vault/...",
                )
        if self.storage.read_only:
            raise Refused("Not starting a transfer: this profile is read-only.")
        node = self.node_for_transfer(srcs, dst).name
        if not self.router.can_write(node, dst):
            raise Refused(self.router.explain_write_refusal(node, dst))
        if move:
            for s in srcs:
                if not self.router.can_write(node, s):
                    raise Refused(self.router.explain_write_refusal(node, s))
        transfer_id = new_transfer_id()
        session = self.pool.session(node)
        async with session.sftp() as sftp:
            for s in srcs:
                try:
                    await sftp.lstat(enc(s))
                except asyncssh.SFTPError as exc:
                    raise sftp_error(exc, s, "copy") from exc
            home = dec(await sftp.realpath(b"."))
            remote_dir = f"{home.rstrip('/')}/{REMOTE_DIR}/{transfer_id}"
            record = TransferRecord(
                id=transfer_id,
                kind="move" if move else "copy",
                sources=srcs,
                dest=dst,
                node=node,
                remote_dir=remote_dir,
                created=time.time(),
                bwlimit=bwlimit,
                profile=self.profile,
            )
            await sftp.makedirs(enc(remote_dir), exist_ok=True)
            await _write_remote(sftp, remote_dir + "/record.json", _dump(record.to_json()))
        self._save_local(record)
        result = await session.run(run_argv(record), timeout=60)
        if not result.ok:
            raise RemoteCommandError(
                f"Could not start the transfer on {node}: {result.stderr.strip() or 'tmux failed'}",
                exit_status=result.exit_status,
                stderr=result.stderr,
            )
        return TransferStatus(record, "running")

    async def list(self, *, include_remote: bool = False) -> builtins.list[TransferStatus]:
        """Every transfer this profile knows (newest first), with its state now.

        ``include_remote`` also reads the records on the data nodes, finding transfers started
        from another machine (or whose local record was lost).
        """
        records = {r.id: r for r in self._load_local()}
        if include_remote:
            for r in await self._remote_records():
                records.setdefault(r.id, r)
                self._save_local(r)
        by_node: dict[str, builtins.list[TransferRecord]] = {}
        for r in records.values():
            by_node.setdefault(r.node, []).append(r)
        results = await asyncio.gather(*(self._statuses(node, rs) for node, rs in by_node.items()))
        statuses = [s for group in results for s in group]
        statuses.sort(key=lambda s: s.record.created, reverse=True)
        return statuses

    async def status(self, transfer_id: str) -> TransferStatus:
        """One transfer's state now; NotFound if this profile does not know it."""
        record = self._record(transfer_id)
        (found,) = await self._statuses(record.node, [record])
        return found

    async def wait(
        self, transfer_id: str, *, timeout: float, interval: float = 0.5
    ) -> TransferStatus:
        """Poll until the transfer is done or ``timeout`` seconds pass (then its state)."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.status(transfer_id)
            if status.done or time.monotonic() >= deadline:
                return status
            await asyncio.sleep(interval)

    async def cancel(self, transfer_id: str) -> TransferStatus:
        """Stop a running transfer (rsync keeps what it wrote, ``--partial``)."""
        record = self._record(transfer_id)
        if self.storage.read_only:
            raise Refused("Not cancelling a transfer: this profile is read-only.")
        session = self.pool.session(record.node)
        await session.run(["tmux", "kill-session", "-t", f"={record.session_name}"], timeout=30)
        async with session.sftp() as sftp:
            try:
                await sftp.stat(enc(record.remote_dir + "/exit"))
            except asyncssh.SFTPNoSuchFile:
                await _write_remote(sftp, record.remote_dir + "/exit", b"cancelled\n")
        return await self.status(transfer_id)

    async def forget(self, transfer_id: str) -> None:
        """Drop a finished transfer's records, here and on the data node. A running one is
        refused: cancel it first."""
        record = self._record(transfer_id)
        status = await self.status(transfer_id)
        if status.state == "running":
            raise Refused(f"Transfer {transfer_id} is still running.", hint="Cancel it first.")
        if status.state != "unknown":
            suffix = f"/{REMOTE_DIR}/{record.id}"
            if not record.remote_dir.endswith(suffix):  # never remove anything else
                raise Refused(f"Transfer {transfer_id} has an unexpected directory.")
            session = self.pool.session(record.node)
            result = await session.run(["rm", "-rf", "--", record.remote_dir], timeout=60)
            if not result.ok:
                raise RemoteCommandError(
                    f"Could not remove {record.remote_dir}: {result.stderr.strip()}",
                    exit_status=result.exit_status,
                    stderr=result.stderr,
                )
        (self.index_dir / f"{record.id}.json").unlink(missing_ok=True)

    async def _statuses(
        self, node: str, records: Sequence[TransferRecord]
    ) -> builtins.list[TransferStatus]:
        try:
            result = await self.pool.session(node).run(status_argv(records), timeout=60)
        except SuanError as exc:
            return [TransferStatus(r, "unknown", message=exc.message) for r in records]
        if not result.ok:
            message = result.stderr.strip() or f"exit status {result.exit_status}"
            return [TransferStatus(r, "unknown", message=message) for r in records]
        lines: dict[str, tuple[bool, str, str, str]] = {}
        for line in result.stdout.splitlines():
            parsed = parse_status_line(line)
            if parsed:
                lines[parsed[0]] = parsed[1:]
        statuses = []
        for r in records:
            if r.id not in lines:
                statuses.append(TransferStatus(r, "unknown", message="no answer from the node"))
                continue
            alive, exit_text, progress_line, err = lines[r.id]
            state, code = state_of(alive, exit_text)
            statuses.append(
                TransferStatus(
                    r,
                    state,
                    code,
                    parse_progress2(progress_line),
                    err if state in ("failed", "lost") else "",
                )
            )
        return statuses

    async def _remote_records(self) -> builtins.list[TransferRecord]:
        found: builtins.list[TransferRecord] = []
        data_nodes = [n for n in self.router.site.entry_nodes.values() if n.business == "data"]

        async def scan(node: str) -> None:
            try:
                async with self.pool.session(node).sftp() as sftp:
                    try:
                        names = await sftp.readdir(enc(REMOTE_DIR))
                    except asyncssh.SFTPNoSuchFile:
                        return
                    for item in names:
                        name = dec(item.filename)
                        if not _ID.match(name):
                            continue
                        try:
                            async with sftp.open(enc(f"{REMOTE_DIR}/{name}/record.json")) as f:
                                text = cast(bytes, await f.read())
                            found.append(TransferRecord.from_json(json.loads(text)))
                        except (asyncssh.SFTPError, ValueError):
                            continue
            except (SuanError, OSError, asyncssh.Error):
                return  # a node we cannot reach has nothing to add now

        await asyncio.gather(*(scan(n.name) for n in data_nodes))
        return found

    # -- local index -------------------------------------------------------------------------

    def _save_local(self, record: TransferRecord) -> None:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        path = self.index_dir / f"{record.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(_dump(record.to_json()))
        os.replace(tmp, path)

    def _load_local(self) -> builtins.list[TransferRecord]:
        if not self.index_dir.is_dir():
            return []
        records = []
        for path in sorted(self.index_dir.glob("*.json")):
            try:
                record = TransferRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a damaged record is skipped, not fatal
            if not self.profile or record.profile in ("", self.profile):
                records.append(record)
        return records

    def _record(self, transfer_id: str) -> TransferRecord:
        if not _ID.match(transfer_id):
            raise NotFound(f"No transfer {transfer_id!r}.")
        path = self.index_dir / f"{transfer_id}.json"
        try:
            return TransferRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            raise NotFound(f"No transfer {transfer_id!r}.") from None

    # -- this machine <-> the cluster ----------------------------------------------------------

    async def upload(
        self,
        local: Path | str,
        remote: str,
        *,
        progress: ProgressCallback | None = None,
        checksum: bool = False,
        resume: bool = True,
        overwrite: bool = False,
        via: str | None = None,
    ) -> FileTransferResult:
        """Upload one file over SFTP. If ``remote`` is a directory the file keeps its name;
        ``cold:REL`` picks the cold pool with the most free space.

        Data goes to ``<target>.part``; an earlier interrupted attempt is resumed from that
        file's size (unless ``resume`` is False). The size is verified, then the SHA-256 when
        ``checksum``, then the file is renamed into place. An existing target is Refused
        unless ``overwrite``.
        """
        src = Path(local)
        try:
            st = await asyncio.to_thread(src.stat)
        except FileNotFoundError:
            raise NotFound(f"{src}: no such file") from None
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{src} is not a regular file; upload files one by one.")
        size = st.st_size
        target = await self.resolve_write(remote)
        node = self.storage.write_node(target, via)  # cold pools: Refused unless a data node
        started = time.monotonic()
        session = self.pool.session(node)
        async with session.sftp() as sftp:
            try:
                if await sftp.isdir(enc(target)):
                    target = posixpath.join(target, src.name)
                if not overwrite and await sftp.exists(enc(target)):
                    raise Refused(f"{target} exists.", hint="Upload with overwrite to replace it.")
                part = target + PART_SUFFIX
                offset = 0
                if resume:
                    try:
                        offset = (await sftp.stat(enc(part))).size or 0
                    except asyncssh.SFTPNoSuchFile:
                        offset = 0
                    if offset > size:
                        offset = 0  # not a prefix of this file: start again
                counter = _Counter(offset, size, progress)
                # "r+b" keeps the part to append to; "wb" truncates a stale one
                mode = "r+b" if offset else "wb"
                async with sftp.open(enc(part), mode) as remote_file:
                    await _push(src, remote_file, offset, counter, sftp)
                remote_size = (await sftp.stat(enc(part))).size
                if remote_size != size:
                    raise RemoteCommandError(
                        f"Upload of {src} incomplete: {remote_size} of {size} bytes arrived.",
                        hint="Run the upload again: it resumes.",
                    )
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, target, "upload to") from exc
        counter.add(0)
        digest = None
        if checksum:
            local_digest = await asyncio.to_thread(_sha256_file, src)
            remote_digest = await self._remote_sha256(node, part)
            if local_digest != remote_digest:
                raise RemoteCommandError(
                    f"Checksum mismatch after uploading {src} to {part}.",
                    hint="Delete the .part file and upload again.",
                )
            digest = local_digest
        async with session.sftp() as sftp:
            await _rename_over(sftp, part, target)
        return FileTransferResult(
            src, target, size, offset, digest, time.monotonic() - started, node
        )

    async def download(
        self,
        remote: str,
        local: Path | str,
        *,
        progress: ProgressCallback | None = None,
        checksum: bool = False,
        resume: bool = True,
        overwrite: bool = False,
        via: str | None = None,
    ) -> FileTransferResult:
        """Download one file over SFTP (``cold:REL`` reads through /union). If ``local`` is a
        directory the file keeps its name.

        Same contract as ``upload``: ``<target>.part``, resume from its size, size check,
        optional SHA-256, then a rename into place; an existing file is kept unless
        ``overwrite``.
        """
        source = self.resolve_read(remote)
        node = self.storage.read_node(source, via)
        target = Path(local)
        if await asyncio.to_thread(target.is_dir):
            target = target / posixpath.basename(source)
        if not overwrite and await asyncio.to_thread(target.exists):
            raise Refused(f"{target} exists.", hint="Download with overwrite to replace it.")
        part = target.with_name(target.name + PART_SUFFIX)
        started = time.monotonic()
        session = self.pool.session(node)
        async with session.sftp() as sftp:
            try:
                attrs = await sftp.stat(enc(source))
                if attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
                    raise Refused(f"{source} is a directory; download files one by one.")
                size = attrs.size or 0
                offset = part.stat().st_size if resume and part.exists() else 0
                if offset > size:
                    offset = 0
                counter = _Counter(offset, size, progress)
                with part.open("r+b" if offset else "wb") as local_file:
                    local_file.truncate(offset)
                    local_file.seek(offset)
                    async with sftp.open(enc(source), "rb") as remote_file:
                        await _pull(remote_file, local_file, offset, size, counter, sftp)
            except asyncssh.SFTPError as exc:
                raise sftp_error(exc, source, "download") from exc
        counter.add(0)
        got = part.stat().st_size
        if got != size:
            raise RemoteCommandError(
                f"Download of {source} incomplete: {got} of {size} bytes arrived.",
                hint="Run the download again: it resumes.",
            )
        digest = None
        if checksum:
            local_digest = await asyncio.to_thread(_sha256_file, part)
            remote_digest = await self._remote_sha256(node, source)
            if local_digest != remote_digest:
                raise RemoteCommandError(
                    f"Checksum mismatch after downloading {source}.",
                    hint=f"Delete {part} and download again.",
                )
            digest = local_digest
        os.replace(part, target)
        return FileTransferResult(
            target, source, size, offset, digest, time.monotonic() - started, node
        )

    async def _remote_sha256(self, node: str, path: str) -> str:
        result = await self.pool.session(node).run(["sha256sum", "--", path], timeout=3600)
        m = _SHA_LINE.match(result.stdout) if result.ok else None
        if m is None:
            raise RemoteCommandError(
                f"sha256sum failed on {node}: {result.stderr.strip()}",
                exit_status=result.exit_status,
                stderr=result.stderr,
            )
        return m[1]


# ---------------------------------------------------------------------------------------------


def _join(base: str, rel: str) -> str:
    rel = rel.strip("/")
    joined = normalize(f"{base}/{rel}" if rel else base)
    if joined != base and not joined.startswith(base + "/"):
        raise Refused(f"{rel!r} leaves your directory {base}.")
    return joined


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode()


async def _write_remote(sftp: asyncssh.SFTPClient, path: str, data: bytes) -> None:
    async with sftp.open(enc(path), "wb") as f:
        await f.write(data)


async def _rename_over(sftp: asyncssh.SFTPClient, src: str, dst: str) -> None:
    """Rename replacing ``dst``: posix-rename when the server has it, else remove + rename."""
    try:
        await sftp.posix_rename(enc(src), enc(dst))
    except asyncssh.SFTPOpUnsupported:
        with contextlib.suppress(asyncssh.SFTPNoSuchFile):
            await sftp.remove(enc(dst))
        await sftp.rename(enc(src), enc(dst))


def _block_size(sftp: asyncssh.SFTPClient, write: bool) -> int:
    limits = sftp.limits
    limit = limits.max_write_len if write else limits.max_read_len
    return max(4096, min(_BLOCK, limit or _BLOCK))


async def _push(
    src: Path,
    remote_file: asyncssh.SFTPClientFile,
    offset: int,
    counter: _Counter,
    sftp: asyncssh.SFTPClient,
) -> None:
    """Write ``src`` from ``offset`` with a window of requests in flight, acknowledged in
    order; on cancellation the outstanding requests are awaited so the file is closed clean."""
    block = _block_size(sftp, write=True)
    pending: deque[tuple[asyncio.Future[int], int]] = deque()
    pos = offset
    try:
        with src.open("rb") as f:
            f.seek(offset)
            eof = False
            while True:
                while not eof and len(pending) < _WINDOW:
                    # inline: a read of a local file is short, and a thread hop per block
                    # costs more CPU than the read (writes, which can stall, use a thread)
                    chunk = f.read(block)
                    if not chunk:
                        eof = True
                        break
                    task: asyncio.Future[int] = asyncio.ensure_future(remote_file.write(chunk, pos))
                    pending.append((task, len(chunk)))
                    pos += len(chunk)
                if not pending:
                    return
                task, n = pending.popleft()
                await task
                counter.add(n)
                # a finished request does not suspend, so a cancel (from the progress
                # callback, say) would wait for the whole window: let it land now
                await asyncio.sleep(0)
    finally:
        if pending:
            for task, _ in pending:
                task.cancel()
            await asyncio.gather(*(t for t, _ in pending), return_exceptions=True)


async def _pull(
    remote_file: asyncssh.SFTPClientFile,
    local_file: Any,
    offset: int,
    size: int,
    counter: _Counter,
    sftp: asyncssh.SFTPClient,
) -> None:
    """Read from ``offset`` with a window of requests in flight, writing them locally in
    order, so the local file is a clean prefix whenever this stops."""
    block = _block_size(sftp, write=False)
    pending: deque[tuple[asyncio.Future[bytes], int, int]] = deque()
    pos = offset
    try:
        while True:
            while pos < size and len(pending) < _WINDOW:
                n = min(block, size - pos)
                task: asyncio.Future[bytes] = asyncio.ensure_future(
                    _read_exact(remote_file, pos, n)
                )
                pending.append((task, pos, n))
                pos += n
            if not pending:
                return
            task, _, _ = pending.popleft()
            data = await task
            write = asyncio.ensure_future(asyncio.to_thread(local_file.write, data))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                # the thread cannot be stopped: let its bytes land whole before the file
                # closes, so the .part file stays a clean prefix
                await asyncio.wait([write])
                raise
            counter.add(len(data))
    finally:
        if pending:
            for task, _, _ in pending:
                task.cancel()
            await asyncio.gather(*(t for t, _, _ in pending), return_exceptions=True)
        local_file.flush()


async def _read_exact(remote_file: asyncssh.SFTPClientFile, pos: int, n: int) -> bytes:
    """``n`` bytes at ``pos`` (a server may return fewer per request); EOF early is an error."""
    out = b""
    while len(out) < n:
        data = cast(bytes, await remote_file.read(n - len(out), pos + len(out)))
        if not data:
            raise RemoteCommandError("The remote file shrank during the download.")
        out += data
    return out
