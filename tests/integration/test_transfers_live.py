"""Transfers on the live testbed: a copy to cold storage runs in tmux on ``data`` and outlives
the connection that started it; cold reads go through /union; a move between hot pools runs
on a data node; uploads and downloads resume after an interruption and verify themselves."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core.storage import Storage
from core.transfers import PART_SUFFIX, ProgressCallback, Transfers
from tests.integration.test_storage_live import HOME, Live, live_env, scratch_dirs
from tests.testbed_env import TestbedEnv

pytestmark = pytest.mark.testbed


@pytest.fixture
async def live(testbed: TestbedEnv, tmp_path: Path) -> AsyncIterator[Live]:
    async with live_env(testbed, tmp_path) as env:
        yield env


def _random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


async def _remote_sha(live: Live, node: str, path: str) -> str:
    result = await live.pool.session(node).run(["sha256sum", "--", path], timeout=120)
    assert result.ok, result.stderr
    return result.stdout.split()[0].lstrip("\\")


async def test_copy_to_cold_runs_in_tmux_on_data_and_survives_a_restart(
    live: Live, tmp_path: Path
) -> None:
    src = tmp_path / "payload 中.bin"
    size = 12 * 1024 * 1024
    digest = _random_file(src, size)
    async with scratch_dirs(live, "lustre", "archive") as dirs:
        uploaded = await live.transfers.upload(src, dirs["lustre"])
        # 12 MiB at 2000 KiB/s: about six seconds, ample time to drop the connection mid-way
        started = await live.transfers.copy([uploaded.remote], dirs["archive"], bwlimit=2000)
        record = started.record
        assert record.node == "data"
        assert record.remote_dir == f"{HOME}/.suan/transfers/{record.id}"
        alive = await live.pool.session("data").run(
            ["tmux", "has-session", "-t", f"={record.session_name}"], timeout=30
        )
        assert alive.ok, alive.stderr
        assert (await live.transfers.status(record.id)).state == "running"

        # suan goes away: every connection closed, nothing kept in memory
        await live.pool.close()
        live.pool = live.new_pool()
        storage = Storage(live.router, live.pool, HOME, live.api)
        again = Transfers(live.router, live.pool, storage, live.data_dir, profile="testbed")
        live.storage, live.transfers = storage, again

        (found,) = [s for s in await again.list() if s.id == record.id]
        assert found.record == record
        assert found.state in ("running", "finished")
        done = await again.wait(record.id, timeout=90)
        assert done.state == "finished", done
        assert done.exit_status == 0
        assert done.progress is not None
        assert done.progress.percent == 100
        assert done.progress.bytes == size
        copied = f"{dirs['archive']}/{src.name}"
        assert await _remote_sha(live, "data", copied) == digest
        gone = await live.pool.session("data").run(
            ["tmux", "has-session", "-t", f"={record.session_name}"], timeout=30
        )
        assert not gone.ok
        await again.forget(record.id)
        assert not await storage.exists(record.remote_dir)
        assert [s for s in await again.list() if s.id == record.id] == []


async def test_cold_spec_reads_union_and_move_between_hot_pools(live: Live, tmp_path: Path) -> None:
    src = tmp_path / "small.bin"
    digest = _random_file(src, 256 * 1024)
    async with scratch_dirs(live, "lustre", "dssg", "archive", "vault") as dirs:
        tag = dirs["archive"].rsplit("/", 1)[1]
        cold_dest = await live.transfers.resolve_write(f"cold:{tag}")
        assert cold_dest in (dirs["archive"], dirs["vault"])
        await live.transfers.upload(src, cold_dest)  # cold: routed through data
        assert live.transfers.resolve_read(f"cold:{tag}/small.bin").startswith("/union/")

        back = await live.transfers.copy([f"cold:{tag}/small.bin"], dirs["lustre"])
        assert back.record.sources == (f"/union/home/acct-hpc/hpcuser/{tag}/small.bin",)
        assert back.record.node == "data"
        assert (await live.transfers.wait(back.id, timeout=60)).state == "finished"
        here = f"{dirs['lustre']}/small.bin"
        assert await _remote_sha(live, "pilogin", here) == digest

        moved = await live.transfers.copy([here], dirs["dssg"], move=True)
        assert moved.record.node == "data"  # /lustre's data node also sees /dssg
        assert (await live.transfers.wait(moved.id, timeout=60)).state == "finished"
        assert not await live.storage.exists(here)
        assert await _remote_sha(live, "sylogin", f"{dirs['dssg']}/small.bin") == digest
        for t in (back, moved):
            await live.transfers.forget(t.id)


async def _interrupted(
    coro_factory: Callable[[ProgressCallback], Awaitable[object]], fraction: float
) -> None:
    """Run a transfer and cancel it once ``fraction`` of it is done."""
    task: asyncio.Future[object] | None = None

    def cut(done: int, total: int) -> None:
        if task is not None and done > total * fraction:
            task.cancel()

    task = asyncio.ensure_future(coro_factory(cut))
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_upload_and_download_resume_and_verify(live: Live, tmp_path: Path) -> None:
    # well above the 16 MiB of requests in flight, which land even after a cut
    size = 48 * 1024 * 1024
    src = tmp_path / "big 'up'.bin"
    digest = _random_file(src, size)
    async with scratch_dirs(live, "lustre") as dirs:
        target = f"{dirs['lustre']}/-up {src.name}"
        await _interrupted(lambda cb: live.transfers.upload(src, target, progress=cb), 0.25)
        part = await live.storage.stat(target + PART_SUFFIX)
        assert 0 < part.size < size
        assert not await live.storage.exists(target)

        seen: list[int] = []
        up = await live.transfers.upload(
            src, target, progress=lambda d, t: seen.append(d), checksum=True
        )
        assert up.resumed_from == part.size
        assert up.sha256 == digest
        assert seen[-1] == size
        assert (await live.storage.stat(target)).size == size
        assert not await live.storage.exists(target + PART_SUFFIX)

        dest = tmp_path / "down.bin"
        await _interrupted(lambda cb: live.transfers.download(target, dest, progress=cb), 0.25)
        local_part = dest.with_name(dest.name + PART_SUFFIX)
        partial = local_part.stat().st_size
        assert 0 < partial < size
        t0 = time.monotonic()
        down = await live.transfers.download(target, dest, checksum=True)
        assert time.monotonic() - t0 < 60
        assert down.resumed_from == partial
        assert down.sha256 == digest
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest
        assert not local_part.exists()
