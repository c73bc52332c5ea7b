"""Transfers against the fake cluster of ``test_storage``: the real detached script runs
locally under a stand-in ``tmux`` (sessions are marker files, jobs run in their own process
group) and a stand-in ``rsync`` (cp, one progress2 line, optionally held until released),
so start, restart, progress, state, move, cancel and forget are all exercised for real."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import NotFound, Refused, RemoteCommandError
from core.routing import Router
from core.site import load_site
from core.storage import Storage
from core.transfers import (
    PART_SUFFIX,
    TransferRecord,
    Transfers,
    new_transfer_id,
    parse_progress2,
    parse_status_line,
    run_argv,
    state_of,
    status_argv,
)
from tests.unit.test_storage import HOME, FakePool, LocalCluster, Sentinel, local_cluster

ARCHIVE = "/archive/home/acct-hpc/hpcuser"
UNION = "/union/home/acct-hpc/hpcuser"

FAKE_TMUX = r"""#!/bin/sh
# Stand-in tmux: a session is a marker file holding the pid of its own process group.
d=${FAKE_TMUX_DIR:?}
cmd=$1; shift
case $cmd in
new-session)
  name=
  while [ $# -gt 0 ]; do
    case $1 in -d) ;; -s) shift; name=$1 ;; --) shift; break ;; esac
    shift
  done
  [ -e "$d/$name" ] && { echo "duplicate session: $name" >&2; exit 1; }
  : >"$d/$name"
  # the job leads its own process group; its pid is the marker's content
  setsid -f sh -c 'm=$1; shift; echo $$ >"$m.pid"; "$@"; rm -f "$m"' fake-tmux "$d/$name" "$@" \
    </dev/null >/dev/null 2>&1
  while [ ! -s "$d/$name.pid" ]; do sleep 0.01; done
  cat "$d/$name.pid" >"$d/$name"
  ;;
has-session)
  [ -e "$d/${2#=}" ] ;;
kill-session)
  t=$d/${2#=}
  [ -e "$t" ] || { echo "can't find session: ${2#=}" >&2; exit 1; }
  kill -TERM -- "-$(cat "$t")" 2>/dev/null
  rm -f "$t" ;;
*) echo "fake tmux: $cmd unsupported" >&2; exit 1 ;;
esac
"""

FAKE_RSYNC = r"""#!/bin/sh
# Stand-in rsync: copies with cp -a, honours --remove-source-files, prints progress2 lines.
remove=0
while [ $# -gt 0 ]; do
  case $1 in --remove-source-files) remove=1 ;; --) shift; break ;; esac
  shift
done
if [ -n "$FAKE_RSYNC_HOLD" ]; then
  printf '\r         32,768   3%%    1.00MB/s    0:00:09  '
  while [ -e "$FAKE_RSYNC_HOLD" ]; do sleep 0.02; done
fi
n=$#; i=0; st=0
for a in "$@"; do i=$((i+1)); [ "$i" -eq "$n" ] && dst=$a; done
i=0
for a in "$@"; do
  i=$((i+1)); [ "$i" -eq "$n" ] && break
  if [ ! -e "$a" ]; then
    echo "rsync: [sender] link_stat \"$a\" failed: No such file or directory (2)" >&2
    st=23; continue
  fi
  cp -a -- "$a" "$dst/" || { st=23; continue; }
  if [ "$remove" = 1 ]; then find "$a" ! -type d -exec rm -f -- {} +; fi
done
printf '\r      1,048,576 100%%  512.00kB/s    0:00:02 (xfr#1, to-chk=0/1)\n'
exit $st
"""

LOG_CAPTURED = (
    "\r         32,768   0%    0.00kB/s    0:00:00  "
    "\r     50,000,000 100%  393.82MB/s    0:00:00 (xfr#1, to-chk=0/2)"
    "\r     50,000,000 100%  390.59MB/s    0:00:00 (xfr#1, to-chk=0/2)\n"
)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    for name, text in (("tmux", FAKE_TMUX), ("rsync", FAKE_RSYNC)):
        (fakebin / name).write_text(text)
        (fakebin / name).chmod(0o755)
    sessions = tmp_path / "tmux-sessions"
    sessions.mkdir()
    async with local_cluster(tmp_path) as c:
        c.env = {
            "PATH": f"{fakebin}:{os.environ['PATH']}",
            "FAKE_TMUX_DIR": str(sessions),
        }
        try:
            yield c
        finally:
            # stop any job a failing test left behind: only the groups this test started
            for pid_file in sessions.glob("*.pid"):
                with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                    os.killpg(int(pid_file.read_text()), signal.SIGTERM)


@pytest.fixture
def router() -> Router:
    return Router(load_site("sjtu"))


def make(cluster: LocalCluster, router: Router, data_dir: Path) -> Transfers:
    storage = Storage(router, FakePool(cluster), HOME)
    return Transfers(router, FakePool(cluster), storage, data_dir, profile="testbed")


@pytest.fixture
def transfers(cluster: LocalCluster, router: Router, data_dir: Path) -> Transfers:
    return make(cluster, router, data_dir)


async def wait_done(t: Transfers, transfer_id: str, timeout: float = 20) -> str:
    status = await t.wait(transfer_id, timeout=timeout, interval=0.05)
    return status.state


# --- parsing -------------------------------------------------------------------------------


def test_parse_progress2_captured_log() -> None:
    p = parse_progress2(LOG_CAPTURED)
    assert p is not None
    assert (p.bytes, p.percent, p.rate, p.eta) == (50_000_000, 100, "390.59MB/s", "0:00:00")
    assert p.rate_bytes == pytest.approx(390.59 * 1024**2)
    q = parse_progress2("\r  1,048,576  42%   512.00kB/s    1:02:03  ")
    assert q is not None
    assert (q.bytes, q.percent, q.eta_seconds) == (1_048_576, 42, 3723)
    assert q.rate_bytes == pytest.approx(512 * 1024)
    assert parse_progress2("sending incremental file list\n") is None
    assert parse_progress2("") is None


def test_state_of() -> None:
    assert state_of(True, "") == ("running", None)
    assert state_of(False, "") == ("lost", None)
    assert state_of(False, "0") == ("finished", 0)
    assert state_of(True, "0") == ("finished", 0)  # exit written, session closing
    assert state_of(False, "23") == ("failed", 23)
    assert state_of(False, "cancelled") == ("cancelled", None)
    assert state_of(False, "garbage") == ("failed", None)


def test_parse_status_line() -> None:
    tid = "20250101-120000-abcdef"
    line = f"{tid}\t1\t\t  1,024  50%  1.00MB/s  0:00:01\t"
    assert parse_status_line(line) == (tid, True, "", "  1,024  50%  1.00MB/s  0:00:01", "")
    assert parse_status_line("junk") is None
    assert parse_status_line("../../etc\t1\t\t\t") is None


def test_ids_are_shell_safe_and_sortable() -> None:
    a = new_transfer_id(1_700_000_000)
    b = new_transfer_id(1_700_000_001)
    assert a < b
    assert all(c.isalnum() or c == "-" for c in a)


def test_argv_keeps_every_path_one_argument() -> None:
    evil = "/lustre/home/acct-hpc/hpcuser/$(touch x); rm -rf ~ 'q\"\n中"
    record = TransferRecord(
        id="20250101-120000-abcdef",
        kind="move",
        sources=(evil, "/lustre/-dash"),
        dest="/archive/home/acct-hpc/hpcuser/dst dir",
        node="data",
        remote_dir="/lustre/home/acct-hpc/hpcuser/.suan/transfers/20250101-120000-abcdef",
        created=0.0,
        bwlimit=500,
    )
    argv = run_argv(record)
    assert argv[:9] == ["tmux", "new-session", "-d", "-s", "suan-" + record.id, "--", "sh", "-c",
                        argv[8]]  # fmt: skip
    assert argv[9:] == [
        "suan-transfer",
        record.remote_dir,
        "move",
        "500",
        record.dest,
        evil,
        "/lustre/-dash",
    ]
    # the script is constant: no path is pasted into it
    assert evil not in argv[8]
    assert record.dest not in argv[8]
    s = status_argv([record])
    assert s[-2:] == [record.id, record.remote_dir]


def test_record_json_round_trip() -> None:
    record = TransferRecord("20250101-120000-abcdef", "copy", ("/a",), "/b", "data", "/h", 1.5)
    assert TransferRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    with pytest.raises(ValueError):
        TransferRecord.from_json({"id": "../x", **{k: v for k, v in record.to_json().items()
                                                   if k != "id"}})  # fmt: skip
    with pytest.raises(ValueError):
        TransferRecord.from_json({"id": record.id})


# --- where transfers run -------------------------------------------------------------------


def test_node_for_transfer(transfers: Transfers) -> None:
    lustre = HOME + "/x"
    dssg = "/dssg/home/acct-hpc/hpcuser/x"
    node = transfers.node_for_transfer
    assert node([lustre], ARCHIVE).name == "data"
    assert node([dssg], ARCHIVE).name == "sydata"
    assert node([lustre], dssg).name == "data"
    assert node([dssg], HOME).name == "data"  # sydata does not see /lustre
    assert node([ARCHIVE + "/x"], HOME).name == "data"
    assert node([ARCHIVE + "/x"], "/dssg/home/acct-hpc/hpcuser").name == "sydata"
    assert node([lustre], HOME + "/y").name == "data"
    assert node([UNION + "/x"], "/vault/home/acct-hpc/hpcuser").name == "data"


async def test_cold_write_picks_most_free_and_cold_read_uses_union(
    transfers: Transfers, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = {"archive": (100, 1000), "vault": (500, 1000)}

    async def fake_free(pool: str) -> tuple[int, int] | None:
        return free[pool]

    monkeypatch.setattr(transfers.storage, "free_space", fake_free)
    assert await transfers.resolve_write("cold:results/run 1") == (
        "/vault/home/acct-hpc/hpcuser/results/run 1"
    )
    free["archive"] = (900, 1000)
    assert await transfers.resolve_write("cold:") == ARCHIVE
    assert transfers.resolve_read("cold:results") == UNION + "/results"
    with pytest.raises(Refused):
        transfers.resolve_read("cold:../../other")
    assert await transfers.resolve_write("/lustre/x/../y") == "/lustre/y"


async def test_pick_cold_pool_real_free_space(transfers: Transfers) -> None:
    pool = await transfers.pick_cold_pool()
    assert pool.name in ("archive", "vault")


def test_suggest_hot_copy(transfers: Transfers) -> None:
    assert transfers.suggest_hot_copy(ARCHIVE + "/data/set 1") == (
        ARCHIVE + "/data/set 1",
        HOME + "/data/set 1",
    )
    assert transfers.suggest_hot_copy(UNION + "/x", group="sy") == (
        UNION + "/x",
        "/dssg/home/acct-hpc/hpcuser/x",
    )
    assert transfers.suggest_hot_copy("/vault/shared/ds") == ("/vault/shared/ds", HOME + "/ds")
    assert transfers.suggest_hot_copy(ARCHIVE) == (ARCHIVE, HOME + "/from-archive")
    with pytest.raises(Refused):
        transfers.suggest_hot_copy(HOME + "/already-hot")


# --- pool to pool, detached ----------------------------------------------------------------


async def test_copy_runs_detached_survives_restart_and_finishes(
    cluster: LocalCluster, router: Router, data_dir: Path, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    cluster.env["FAKE_RSYNC_HOLD"] = str(hold)
    base = cluster.local(HOME)
    mark = Sentinel(base, cluster.local(ARCHIVE))
    evil = f"-data {mark.evil} 'q\"\n中"
    (base / evil).mkdir()
    (base / evil / "f").write_bytes(b"payload")

    first = make(cluster, router, data_dir)
    started = await first.copy([f"{HOME}/{evil}"], "/archive/home/acct-hpc/hpcuser/dst")
    assert started.state == "running"
    rec = started.record
    assert rec.node == "data"
    assert rec.remote_dir == f"/{'.suan/transfers'}/{rec.id}"  # the chroot's home is "/"
    remote_record = json.loads(cluster.local(rec.remote_dir + "/record.json").read_text())
    assert remote_record["sources"] == [f"{HOME}/{evil}"]
    assert (data_dir / "transfers" / f"{rec.id}.json").exists()
    (node, argv) = next(c for c in cluster.calls if c[1][0] == "tmux")
    assert node == "data"
    assert argv[-1] == f"{HOME}/{evil}"

    # "restart": a new Transfers with nothing in memory finds it through the local index
    second = make(cluster, router, data_dir)
    (listed,) = await second.list()
    assert listed.id == rec.id
    assert listed.state == "running"
    # the held rsync prints its first progress line soon after it starts
    deadline = time.monotonic() + 20
    while listed.progress is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        (listed,) = await second.list()
    assert listed.state == "running"
    assert listed.progress is not None
    assert listed.progress.percent == 3

    hold.unlink()
    assert await wait_done(second, rec.id) == "finished"
    status = await second.status(rec.id)
    assert status.exit_status == 0
    assert status.progress is not None
    assert status.progress.percent == 100
    assert (cluster.local(ARCHIVE) / "dst" / evil / "f").read_bytes() == b"payload"
    assert (base / evil / "f").exists()  # a copy leaves the source
    assert mark.untouched()

    await second.forget(rec.id)
    assert not cluster.local(rec.remote_dir).exists()
    assert await second.list() == []
    with pytest.raises(NotFound):
        await second.status(rec.id)


async def test_move_removes_sources_and_empty_dirs(
    transfers: Transfers, cluster: LocalCluster
) -> None:
    base = cluster.local(HOME)
    (base / "tree" / "sub").mkdir(parents=True)
    (base / "tree" / "sub" / "a").write_text("a")
    (base / "single").write_text("s")
    status = await transfers.copy([f"{HOME}/tree", f"{HOME}/single"], "cold:moved", move=True)
    assert await wait_done(transfers, status.id) == "finished"
    dest = Path(cluster.local(status.record.dest))
    assert status.record.dest.endswith("/home/acct-hpc/hpcuser/moved")
    assert (dest / "tree" / "sub" / "a").read_text() == "a"
    assert (dest / "single").read_text() == "s"
    assert not (base / "tree").exists()
    assert not (base / "single").exists()


async def test_failed_transfer_says_why(transfers: Transfers, cluster: LocalCluster) -> None:
    (cluster.local(HOME) / "f").write_text("x")
    started = await transfers.copy([f"{HOME}/f"], ARCHIVE + "/d2", bwlimit=100)
    assert "100" in next(c[1] for c in cluster.calls if started.id in " ".join(c[1]))
    done = await transfers.wait(started.id, timeout=20, interval=0.05)
    assert done.state == "finished"

    hold = cluster.root / "hold"
    hold.touch()
    cluster.env["FAKE_RSYNC_HOLD"] = str(hold)
    (cluster.local(HOME) / "soon-gone").write_text("x")
    running = await transfers.copy([f"{HOME}/soon-gone"], ARCHIVE + "/d3")
    (cluster.local(HOME) / "soon-gone").unlink()
    hold.unlink()
    failed = await transfers.wait(running.id, timeout=20, interval=0.05)
    assert failed.state == "failed"
    assert failed.exit_status == 23
    assert "link_stat" in failed.message


async def test_copy_refusals(transfers: Transfers, cluster: LocalCluster) -> None:
    (cluster.local(HOME) / "d").mkdir()
    with pytest.raises(Refused):
        await transfers.copy([], ARCHIVE)
    with pytest.raises(Refused):
        await transfers.copy([f"{HOME}/d"], f"{HOME}/d/inside")
    with pytest.raises(Refused):
        await transfers.copy([UNION + "/x"], HOME, move=True)
    with pytest.raises(NotFound):
        await transfers.copy([f"{HOME}/absent"], ARCHIVE)
    with pytest.raises(NotFound):
        await transfers.copy(["/etc/passwd"], ARCHIVE)
    assert not any(c[1][0] == "tmux" for c in cluster.calls)


async def test_lost_cancel_and_forget_rules(
    transfers: Transfers, cluster: LocalCluster, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    cluster.env["FAKE_RSYNC_HOLD"] = str(hold)
    (cluster.local(HOME) / "f").write_text("x")
    a = await transfers.copy([f"{HOME}/f"], ARCHIVE + "/a")
    with pytest.raises(Refused):
        await transfers.forget(a.id)
    cancelled = await transfers.cancel(a.id)
    assert cancelled.state == "cancelled"
    await transfers.forget(a.id)

    b = await transfers.copy([f"{HOME}/f"], ARCHIVE + "/b")
    # the session vanishes without an exit status (a node reboot)
    sessions = Path(cluster.env["FAKE_TMUX_DIR"])
    marker = sessions / f"suan-{b.id}"
    pid = int(marker.read_text())
    marker.unlink()
    os.killpg(pid, signal.SIGKILL)
    assert (await transfers.status(b.id)).state == "lost"

    cluster.fail_nodes.add("data")
    (unknown,) = await transfers.list()
    assert unknown.state == "unknown"
    assert "data" in unknown.message


async def test_list_include_remote_finds_records_made_elsewhere(
    cluster: LocalCluster, router: Router, tmp_path: Path
) -> None:
    (cluster.local(HOME) / "f").write_text("x")
    here = make(cluster, router, tmp_path / "machine-a")
    started = await here.copy([f"{HOME}/f"], ARCHIVE + "/x")
    await here.wait(started.id, timeout=20, interval=0.05)
    elsewhere = make(cluster, router, tmp_path / "machine-b")
    assert await elsewhere.list() == []
    (found,) = await elsewhere.list(include_remote=True)
    assert found.id == started.id
    assert found.state == "finished"
    assert (await elsewhere.status(started.id)).state == "finished"  # now indexed locally


# --- this machine <-> the cluster ----------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_upload_progress_resume_and_checksum(
    transfers: Transfers, cluster: LocalCluster, tmp_path: Path
) -> None:
    src = tmp_path / "up load 中.bin"
    # larger than the requests in flight (64 x 256 KiB), which land even after a cancel
    src.write_bytes(os.urandom(40 * 1024 * 1024 + 123))
    size = src.stat().st_size
    remote_dir = f"{HOME}/in-$(x)"
    (cluster.local(remote_dir)).mkdir()

    task: asyncio.Task[object] | None = None

    def cut(done: int, total: int) -> None:
        if task is not None and done > total // 4:
            task.cancel()

    task = asyncio.ensure_future(transfers.upload(src, remote_dir, progress=cut))
    with pytest.raises(asyncio.CancelledError):
        await task
    part = cluster.local(f"{remote_dir}/{src.name}{PART_SUFFIX}")
    partial = part.stat().st_size
    assert 0 < partial < size
    assert part.read_bytes() == src.read_bytes()[:partial]  # a clean prefix
    assert not cluster.local(f"{remote_dir}/{src.name}").exists()

    seen: list[tuple[int, int]] = []
    result = await transfers.upload(
        src, remote_dir, progress=lambda d, t: seen.append((d, t)), checksum=True
    )
    assert result.resumed_from == partial
    assert result.size == size
    assert result.node == "pilogin"
    assert result.sha256 == _sha(src)
    assert _sha(cluster.local(result.remote)) == _sha(src)
    assert not part.exists()
    assert seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # the checksum is taken of the .part file, before it is renamed into place
    assert ("pilogin", ("sha256sum", "--", result.remote + PART_SUFFIX)) in cluster.calls


async def test_upload_checksum_catches_a_bad_part(
    transfers: Transfers, cluster: LocalCluster, tmp_path: Path
) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(300_000))
    part = cluster.local(f"{HOME}/f.bin{PART_SUFFIX}")
    part.write_bytes(b"\0" * 1000)  # a part that is not this file's prefix
    with pytest.raises(RemoteCommandError) as info:
        await transfers.upload(src, f"{HOME}/f.bin", checksum=True)
    assert "Checksum mismatch" in info.value.message
    assert not cluster.local(f"{HOME}/f.bin").exists()
    result = await transfers.upload(src, f"{HOME}/f.bin", resume=False, checksum=True)
    assert result.resumed_from == 0
    assert _sha(cluster.local(f"{HOME}/f.bin")) == _sha(src)


async def test_upload_to_cold_goes_through_data_and_via_login_is_refused(
    transfers: Transfers, cluster: LocalCluster, tmp_path: Path
) -> None:
    src = tmp_path / "small"
    src.write_bytes(b"cold data")
    with pytest.raises(Refused) as info:
        await transfers.upload(src, ARCHIVE, via="pilogin")
    assert "read-only" in info.value.message
    result = await transfers.upload(src, ARCHIVE)
    assert result.node == "data"
    assert cluster.local(ARCHIVE + "/small").read_bytes() == b"cold data"
    spec = await transfers.upload(src, "cold:", overwrite=True)
    assert spec.node == "data"
    assert spec.remote in (ARCHIVE + "/small", "/vault/home/acct-hpc/hpcuser/small")
    cluster.local(UNION + "/seen").write_bytes(b"through the union")
    down = await transfers.download("cold:seen", tmp_path)
    assert down.remote == UNION + "/seen"
    assert (tmp_path / "seen").read_bytes() == b"through the union"
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert (await transfers.upload(empty, ARCHIVE)).size == 0
    with pytest.raises(NotFound):
        await transfers.upload(tmp_path / "absent", ARCHIVE)


async def test_download_progress_resume_and_checksum(
    transfers: Transfers, cluster: LocalCluster, tmp_path: Path
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 7)
    name = "-down load 'q' 中"
    cluster.local(ARCHIVE + "/" + name).write_bytes(data)
    dest = tmp_path / "dl"
    dest.mkdir()

    task: asyncio.Task[object] | None = None

    def cut(done: int, total: int) -> None:
        if task is not None and done > total // 3:
            task.cancel()

    task = asyncio.ensure_future(transfers.download(f"{ARCHIVE}/{name}", dest, progress=cut))
    with pytest.raises(asyncio.CancelledError):
        await task
    part = dest / (name + PART_SUFFIX)
    partial = part.stat().st_size
    assert 0 < partial < len(data)
    assert part.read_bytes() == data[:partial]

    seen: list[tuple[int, int]] = []
    result = await transfers.download(
        f"{ARCHIVE}/{name}", dest, progress=lambda d, t: seen.append((d, t)), checksum=True
    )
    assert result.resumed_from == partial
    assert result.node == "pilogin"  # reading cold data works from a login node
    assert (dest / name).read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert seen[-1] == (len(data), len(data))
    assert not part.exists()

    with pytest.raises(Refused):
        await transfers.download(ARCHIVE, dest)
    with pytest.raises(NotFound):
        await transfers.download(ARCHIVE + "/absent", dest)


async def test_download_speed_is_reasonable(
    transfers: Transfers, cluster: LocalCluster, tmp_path: Path
) -> None:
    # a guard against a regression to one request at a time (which is ~20x slower here)
    cluster.local(HOME + "/big").write_bytes(os.urandom(16 * 1024 * 1024))
    start = time.monotonic()
    await transfers.download(HOME + "/big", tmp_path / "big")
    assert time.monotonic() - start < 10


async def test_overwrite_refused_unless_asked(
    transfers: Transfers, cluster: LocalCluster, tmp_path: Path
) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"new")
    cluster.local(HOME + "/f").write_bytes(b"old")
    with pytest.raises(Refused):
        await transfers.upload(src, HOME)
    assert cluster.local(HOME + "/f").read_bytes() == b"old"
    await transfers.upload(src, HOME, overwrite=True)
    assert cluster.local(HOME + "/f").read_bytes() == b"new"

    local = tmp_path / "local"
    local.write_bytes(b"mine")
    with pytest.raises(Refused):
        await transfers.download(HOME + "/f", local)
    assert local.read_bytes() == b"mine"
    await transfers.download(HOME + "/f", local, overwrite=True)
    assert local.read_bytes() == b"new"


async def test_read_only_refuses_transfers(
    cluster: LocalCluster, router: Router, data_dir: Path, tmp_path: Path
) -> None:
    storage = Storage(router, FakePool(cluster), HOME, read_only=True)
    t = Transfers(router, FakePool(cluster), storage, data_dir)
    (cluster.local(HOME) / "f").write_text("x")
    src = tmp_path / "up"
    src.write_text("x")
    with pytest.raises(Refused):
        await t.copy([HOME + "/f"], ARCHIVE)
    with pytest.raises(Refused):
        await t.upload(src, HOME)
    result = await t.download(HOME + "/f", tmp_path / "down")  # reading is fine
    assert result.size == 1
    assert cluster.calls == []
