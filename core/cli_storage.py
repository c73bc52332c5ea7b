"""Storage commands of the ``suan`` command line: ls, df, quota, mkdir, rm, cp, transfers.

A path is remote when it is absolute on the cluster (``/lustre/...``) or written
``cold:REL``; ``suan cp`` treats anything else (``./data``, ``~/x``) as a local path, so
``cp ./a /lustre/...`` uploads and ``cp /lustre/... ./a`` downloads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import humanout
from core.errors import Refused, SuanError

if TYPE_CHECKING:
    from core.cli import Handler
    from core.service import Suan

AddCommand = Callable[[str, "Handler", str], argparse.ArgumentParser]

REMOTE_ROOTS = ("/lustre", "/dssg", "/archive", "/vault", "/union", "/scratch")


def is_remote(path: str) -> bool:
    """A cluster path (a pool mount, or ``cold:``), as opposed to a path on this machine."""
    if path.startswith("cold:"):
        return True
    return any(path == r or path.startswith(r + "/") for r in REMOTE_ROOTS)


def local_path(text: str) -> Path:
    """A path on this machine, ``~`` expanded."""
    return Path(text).expanduser()


def _out(args: argparse.Namespace, data: Any, human: Callable[[], str]) -> None:
    from core.cli import _out as out

    out(args, data, human)


def _ask(question: str) -> bool:
    from core.cli import _ask as ask

    return ask(question)


async def cmd_ls(suan: Suan, args: argparse.Namespace) -> int:
    storage = await suan.storage()
    path = args.path or storage.home
    entries = await storage.list_dir(path)
    entries = sorted(entries, key=lambda e: (not e.is_dir, e.name))
    _out(
        args,
        {"path": path, "entries": entries},
        lambda: humanout.table(
            ["PERMISSIONS", "OWNER", "SIZE", "MODIFIED", "NAME"],
            [
                [
                    e.permissions,
                    e.owner,
                    humanout.size(e.size) if not e.is_dir else "-",
                    humanout.local_time(e.mtime),
                    e.name + ("/" if e.is_dir else ""),
                ]
                for e in entries
            ],
            flex=4,
        ),
    )
    return 0


async def cmd_df(suan: Suan, args: argparse.Namespace) -> int:
    storage = await suan.storage()
    pools = await storage.pools_overview()
    _out(
        args,
        pools,
        lambda: humanout.table(
            ["POOL", "KIND", "SEEN BY", "WRITABLE ON", "FREE", "TOTAL", "MY DIRECTORY"],
            [
                [
                    p.mount,
                    p.kind,
                    ",".join(p.visible_to),
                    ",".join(p.writable_on),
                    humanout.size(p.free_bytes),
                    humanout.size(p.total_bytes),
                    p.personal_dir
                    if p.personal_exists is not False
                    else p.personal_dir + " (missing)",
                ]
                for p in pools
            ],
        ),
    )
    return 0


async def cmd_quota(suan: Suan, args: argparse.Namespace) -> int:
    storage = await suan.storage()
    quotas = await storage.quotas()
    _out(
        args,
        quotas,
        lambda: humanout.table(
            ["KIND", "NAME", "FILESYSTEM", "USED", "LIMIT", "FILES", "FILE LIMIT"],
            [
                [
                    q.kind,
                    q.subject,
                    q.filesystem if not q.error else f"error: {q.error}",
                    humanout.size(q.used_bytes),
                    humanout.size(q.limit_bytes),
                    "-" if q.used_files is None else str(q.used_files),
                    "-" if q.limit_files is None else str(q.limit_files),
                ]
                for q in quotas
            ],
        ),
    )
    return 0


async def cmd_mkdir(suan: Suan, args: argparse.Namespace) -> int:
    suan.require_writable("creating directories")
    storage = await suan.storage()
    await storage.mkdir(args.path, parents=args.parents)
    _out(args, {"created": args.path}, lambda: f"Created {args.path}")
    return 0


async def cmd_rm(suan: Suan, args: argparse.Namespace) -> int:
    suan.require_writable("deleting files")
    storage = await suan.storage()
    plan = await storage.delete_plan(args.paths)
    if not args.json or not args.yes:
        print(
            "This deletes:\n" + "\n".join(f"  {line}" for line in plan.describe()), file=sys.stderr
        )
    if not args.yes and not _ask("Delete exactly these?"):
        raise Refused("Nothing was deleted.")
    await storage.delete(plan)
    _out(args, {"deleted": plan}, lambda: f"Deleted {plan.entries} entries.")
    return 0


def _progress_printer(args: argparse.Namespace) -> Callable[[int, int], None] | None:
    if args.json or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        pct = done * 100 // total if total else 100
        print(
            f"\r{humanout.size(done)} / {humanout.size(total)} ({pct}%)",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return show


async def cmd_cp(suan: Suan, args: argparse.Namespace) -> int:
    transfers = await suan.transfers()
    sources, dest = args.sources, args.dest
    remote_src = [is_remote(s) for s in sources]
    if all(remote_src) and is_remote(dest):
        suan.require_writable("copying between pools")
        status = await transfers.copy(sources, dest, move=args.move)
        _out(
            args,
            status,
            lambda: (
                f"Transfer {status.record.id} started on {status.record.node} in tmux "
                f"(survives this process): suan transfers"
            ),
        )
        return 0
    if len(sources) != 1:
        raise SuanError("Upload and download take one file at a time.")
    src = sources[0]
    if not remote_src[0] and is_remote(dest):
        suan.require_writable("uploading")
        result = await transfers.upload(
            local_path(src),
            dest,
            progress=_progress_printer(args),
            checksum=args.checksum,
            overwrite=args.overwrite,
        )
    elif remote_src[0] and not is_remote(dest):
        result = await transfers.download(
            src,
            local_path(dest),
            progress=_progress_printer(args),
            checksum=args.checksum,
            overwrite=args.overwrite,
        )
    else:
        raise SuanError("Neither path is on the cluster: use cp.")
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    _out(args, result, lambda: humanout.pairs((k, v) for k, v in humanout.fields(result).items()))
    return 0


async def cmd_transfers(suan: Suan, args: argparse.Namespace) -> int:
    transfers = await suan.transfers()
    if args.forget:
        await transfers.forget(args.forget)
        _out(args, {"forgotten": args.forget}, lambda: f"Forgot transfer {args.forget}.")
        return 0
    if args.cancel:
        suan.require_writable("cancelling transfers")
        status = await transfers.cancel(args.cancel)
        _out(args, status, lambda: f"Transfer {args.cancel}: {status.state}")
        return 0
    items = await transfers.list(include_remote=True)
    _out(
        args,
        items,
        lambda: (
            humanout.table(
                ["ID", "STATE", "NODE", "PROGRESS", "FROM", "TO"],
                [
                    [
                        t.record.id,
                        t.state,
                        t.record.node,
                        f"{t.progress.percent}% {t.progress.rate}" if t.progress else "-",
                        " ".join(t.record.sources),
                        t.record.dest,
                    ]
                    for t in items
                ],
            )
            if items
            else "No transfers."
        ),
    )
    return 0


def add_commands(add: AddCommand) -> None:
    """Register the storage subcommands on the main parser."""
    p = add("ls", cmd_ls, "list a directory on the cluster (default: home)")
    p.add_argument("path", nargs="?")
    add("df", cmd_df, "pools side by side: who sees them, where they are writable, free space")
    add("quota", cmd_quota, "user and account quotas")
    p = add("mkdir", cmd_mkdir, "make a directory (cold pools through a data node)")
    p.add_argument("path")
    p.add_argument("--parents", "-p", action="store_true")
    p = add("rm", cmd_rm, "delete files or directories after naming exactly what goes")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p = add("cp", cmd_cp, "copy between pools (on a data node, in tmux) or to/from here")
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("dest", metavar="DST")
    p.add_argument("--move", action="store_true", help="move between pools")
    p.add_argument("--checksum", action="store_true", help="verify SHA-256 after up/download")
    p.add_argument("--overwrite", action="store_true", help="replace an existing target file")
    p = add("transfers", cmd_transfers, "running, finished and failed transfers")
    p.add_argument("--forget", metavar="ID", help="drop a finished transfer from the list")
    p.add_argument("--cancel", metavar="ID", help="stop a running transfer")
