"""How long ``Storage.list_dir`` takes on a 10,000-entry directory of the live testbed.

Goal: ≤ 1 s. Run with the testbed up: ``python -m bench.storage_listing [--entries N]``.
Prints the first (new connection) and the median of further listings, next to ``ls -la``
run on the node through the same connection for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from core.certs import ClientCredentials
from core.config import load_config
from core.routing import Router
from core.ssh import SessionPool
from core.storage import Storage
from tests.testbed_env import TestbedEnv, load_testbed_env

HOME = "/lustre/home/acct-hpc/hpcuser"
GOAL_SECONDS = 1.0

# Creates $2 empty files in $1 with varied names (spaces, CJK); constant text, paths as args.
_MAKE = r"""
cd -- "$1" || exit 1
i=0
while [ "$i" -lt "$2" ]; do
  : >"file $i 数据.txt"
  i=$((i+1))
done
"""


def credentials_for(testbed: TestbedEnv, directory: Path) -> ClientCredentials:
    """A key signed by the testbed's user CA for hpcuser."""
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(testbed.user_ca), "-I", "bench", "-n", "hpcuser",
         "-V", "-5m:+1h", f"{key}.pub"],
        check=True,
    )  # fmt: skip
    return ClientCredentials(key.read_text(), Path(f"{key}-cert.pub").read_text())


def make_pool(testbed: TestbedEnv, creds: ClientCredentials) -> tuple[SessionPool, Router]:
    """A SessionPool for the testbed profile."""
    profile = load_config(testbed.config_path).profile("testbed")
    site = profile.site()

    async def credentials() -> ClientCredentials:
        return creds

    return SessionPool(site, profile.username, credentials, profile.known_hosts), Router(site)


async def main(entries: int, rounds: int) -> int:
    """Run the benchmark; exit status 0 when the goal is met."""
    testbed = load_testbed_env()
    if testbed is None:
        print("the testbed is not up: bash tests/testbed/up.sh", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        pool, router = make_pool(testbed, credentials_for(testbed, Path(tmp)))
        storage = Storage(router, pool, HOME)
        directory = f"{HOME}/suan-bench-{uuid.uuid4().hex[:8]}"
        node = pool.session("pilogin")
        try:
            await storage.mkdir(directory)
            made = await node.run(["sh", "-c", _MAKE, "make", directory, str(entries)], timeout=300)
            if not made.ok:
                print(made.stderr, file=sys.stderr)
                return 1
            await pool.close()  # the first listing below pays for a new connection
            t0 = time.perf_counter()
            listed = await storage.list_dir(directory)
            first = time.perf_counter() - t0
            assert len(listed) == entries, len(listed)
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await storage.list_dir(directory)
                times.append(time.perf_counter() - t0)
            ls_times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await node.run(["ls", "-la", "--", directory], timeout=60)
                ls_times.append(time.perf_counter() - t0)
        finally:
            await node.run(["rm", "-rf", "--", directory], timeout=300)
            await pool.close()
    median = statistics.median(times)
    print(f"entries:                    {entries}")
    print(f"list_dir, new connection:   {first:.3f} s")
    print(f"list_dir, median of {rounds}:     {median:.3f} s  (goal ≤ {GOAL_SECONDS:.1f} s)")
    print(f"ls -la over SSH, median:    {statistics.median(ls_times):.3f} s (text only)")
    ok = max(first, median) <= GOAL_SECONDS
    print("goal met" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.entries, args.rounds)))
