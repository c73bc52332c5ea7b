"""Upload and download throughput of ``Transfers.upload/download`` against OpenSSH ``sftp``,
and the time of a big pool-to-pool copy (rsync in tmux on ``data``, /lustre → /archive).

Goal: suan ≥ 0.9× OpenSSH's sftp on the same testbed node. Run with the testbed up:
``python -m bench.sftp_throughput [--mib 1024] [--copy-mib 2048] [--rounds 2]``. OpenSSH
runs with its default cipher and with AES-GCM (the cipher suan prefers), so the comparison
is fair; with several rounds each figure is the best one. The machine is shared: compare
figures taken together, not across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.storage_listing import HOME, credentials_for, make_pool
from core.storage import Storage
from core.transfers import Transfers
from tests.testbed_env import TestbedEnv, load_testbed_env

GOAL_RATIO = 0.9


def _make_file(path: Path, mib: int) -> None:
    block = os.urandom(1024 * 1024)
    with path.open("wb") as f:
        for i in range(mib):
            # vary each MiB a little so nothing along the way can deduplicate it
            f.write(i.to_bytes(8, "little") + block[8:])


def _openssh(testbed: TestbedEnv, key: Path, node: str, batch: str, cipher: str | None) -> float:
    host, port = testbed.entry_nodes()[node]
    argv = [
        "sftp", "-q", "-b", "-", "-P", str(port), "-i", str(key),
        "-o", f"CertificateFile={key}-cert.pub",
        "-o", f"UserKnownHostsFile={testbed.known_hosts}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes", "-F", "/dev/null",
    ]  # fmt: skip
    if cipher:
        argv += ["-o", f"Ciphers={cipher}"]
    argv.append(f"hpcuser@{host}")
    t0 = time.perf_counter()
    subprocess.run(argv, input=batch.encode(), check=True)
    return time.perf_counter() - t0


def _rate(mib: int, seconds: float) -> str:
    return f"{mib / seconds:7.1f} MiB/s ({seconds:6.2f} s)"


_MAKE_FILE = 'head -c "$1" /dev/urandom >"$2"'


async def _pool_copy(
    transfers: Transfers, pool_node: str, src_dir: str, dst: str, mib: int
) -> float:
    """Seconds for a ``mib`` MiB copy from ``src_dir`` to ``dst`` through Transfers.copy."""
    session = transfers.pool.session(pool_node)
    path = f"{src_dir}/copy.bin"
    made = await session.run(
        ["sh", "-c", _MAKE_FILE, "make", str(mib * 1024 * 1024), path], timeout=600
    )
    if not made.ok:
        raise RuntimeError(made.stderr)
    t0 = time.perf_counter()
    status = await transfers.copy([path], dst)
    done = await transfers.wait(status.id, timeout=1800, interval=0.2)
    seconds = time.perf_counter() - t0
    if done.state != "finished":
        raise RuntimeError(f"copy {done.state}: {done.message}")
    await transfers.forget(status.id)
    return seconds


async def main(mib: int, node: str, copy_mib: int = 2048, rounds: int = 2) -> int:
    """Run the benchmark; exit status 0 when both directions meet the goal."""
    testbed = load_testbed_env()
    if testbed is None:
        print("the testbed is not up: bash tests/testbed/up.sh", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp_name:
        tmp = Path(tmp_name)
        creds = credentials_for(testbed, tmp)
        key = tmp / "id_ed25519"
        pool, router = make_pool(testbed, creds)
        storage = Storage(router, pool, HOME)
        transfers = Transfers(router, pool, storage, tmp / "data")
        tag = f"suan-bench-{uuid.uuid4().hex[:8]}"
        remote_dir = f"{HOME}/{tag}"
        cold_dir = f"{storage.personal_dir('archive')}/{tag}"
        src = tmp / "payload.bin"
        _make_file(src, mib)
        results: dict[str, float] = {}

        def best(name: str, seconds: float) -> None:
            results[name] = min(seconds, results.get(name, seconds))

        try:
            await storage.mkdir(remote_dir)
            # warm the connection so the figures are about moving data
            await pool.session(node).run(["true"])

            async def suan_put() -> float:
                t0 = time.perf_counter()
                await transfers.upload(src, f"{remote_dir}/suan.bin", via=node, overwrite=True)
                return time.perf_counter() - t0

            async def suan_get() -> float:
                t0 = time.perf_counter()
                await transfers.download(f"{remote_dir}/suan.bin", tmp / "down", via=node)
                return time.perf_counter() - t0

            def ssh_put(cipher: str | None) -> float:
                batch = f'put "{src}" "{remote_dir}/ssh.bin"\n'
                return _openssh(testbed, key, node, batch, cipher)

            def ssh_get(cipher: str | None) -> float:
                batch = f'get "{remote_dir}/ssh.bin" "{tmp}/down"\n'
                return _openssh(testbed, key, node, batch, cipher)

            ciphers = (("default", None), ("aes128-gcm", "aes128-gcm@openssh.com"))
            for round_no in range(rounds):
                # odd rounds put OpenSSH first, so neither side always meets a busy disk
                order = ["suan", "ssh"] if round_no % 2 == 0 else ["ssh", "suan"]
                for who in order:
                    for direction in ("put", "get"):
                        variants = [("", None)] if who == "suan" else list(ciphers)
                        for label, cipher in variants:
                            # flush the page cache's dirty data first: writes compete otherwise
                            await asyncio.to_thread(os.sync)
                            if who == "suan":
                                seconds = await (suan_put() if direction == "put" else suan_get())
                                name = f"suan {direction}"
                            else:
                                run = ssh_put if direction == "put" else ssh_get
                                seconds = await asyncio.to_thread(run, cipher)
                                name = f"sftp {direction} {label}"
                            best(name, seconds)
                            if direction == "get":
                                (tmp / "down").unlink()
            src.unlink()
            copy_seconds = None
            if copy_mib:
                await storage.mkdir(cold_dir)
                copy_seconds = await _pool_copy(transfers, node, remote_dir, cold_dir, copy_mib)
        finally:
            data = pool.session("data")
            await data.run(["rm", "-rf", "--", remote_dir, cold_dir], timeout=600)
            await pool.close()
    print(f"file: {mib} MiB, node: {node}")
    for name, seconds in results.items():
        print(f"  {name:22s} {_rate(mib, seconds)}")
    ok = True
    for direction in ("put", "get"):
        best_ssh = min(
            results[f"sftp {direction} default"], results[f"sftp {direction} aes128-gcm"]
        )
        ratio = best_ssh / results[f"suan {direction}"]
        ok = ok and ratio >= GOAL_RATIO
        print(f"  {direction}: suan / best OpenSSH = {ratio:.2f}× (goal ≥ {GOAL_RATIO}×)")
    if copy_seconds is not None:
        print(f"pool copy {copy_mib} MiB /lustre → /archive (rsync in tmux on data):")
        print(f"  {'Transfers.copy':22s} {_rate(copy_mib, copy_seconds)}")
    print("goal met" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--node", default="pilogin")
    parser.add_argument("--copy-mib", type=int, default=2048, help="0 to skip the pool copy")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.mib, args.node, args.copy_mib, args.rounds)))
