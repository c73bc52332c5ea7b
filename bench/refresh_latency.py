"""Latency of one queue refresh (squeue on an entry node), three ways, median of N.

* suan's core: ``Suan.jobs()`` — squeue on every controller over kept asyncssh connections;
* OpenSSH with a ControlMaster (one squeue per controller, sequentially, as a shell script would);
* a new ``ssh`` process per command (what a naive wrapper does).

Run against the live testbed: ``python -m bench.refresh_latency [N]``.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.service import Suan
from tests.integration.conftest import live_profile, login
from tests.openssh import make_identity, ssh_argv
from tests.testbed_env import load_testbed_env


def _median_ms(samples: list[float]) -> str:
    p90 = sorted(samples)[max(0, int(len(samples) * 0.9) - 1)]
    return f"{statistics.median(samples) * 1000:7.1f} ms (p90 {p90 * 1000:.1f})"


async def core_latency(suan: Suan, n: int) -> list[float]:
    await suan.jobs()  # connect first: steady state is what a refresh costs
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await suan.jobs()
        out.append(time.perf_counter() - t)
    return out


def openssh_latency(argvs: list[list[str]], n: int) -> list[float]:
    for argv in argvs:
        subprocess.run(argv, capture_output=True, check=True)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        for argv in argvs:
            subprocess.run(argv, capture_output=True, check=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    testbed = load_testbed_env()
    if testbed is None:
        sys.exit("the testbed is not up: bash tests/testbed/up.sh --seed")
    with tempfile.TemporaryDirectory() as tmp:
        profile = live_profile(testbed, Path(tmp) / "data")

        async def run_core() -> list[float]:
            await login(testbed, profile)
            suan = Suan(profile)
            try:
                return await core_latency(suan, n)
            finally:
                await suan.close()

        core = asyncio.run(run_core())
        identity = make_identity(Path(tmp) / "key", testbed.user_ca)
        squeue = ["squeue", "-h", "-r", "-u", "hpcuser", "-o", "%i|%j|%T"]
        nodes = [testbed.entry_nodes()[n] for n in ("pilogin", "sylogin")]
        plain = [ssh_argv(identity, h, p, testbed.known_hosts, squeue) for h, p in nodes]
        control = Path(tmp) / "cm-%h-%p"
        master = [
            [a[0], "-o", "ControlMaster=auto", "-o", f"ControlPath={control}",
             "-o", "ControlPersist=60", *a[1:]]
            for a in plain
        ]  # fmt: skip
        cm = openssh_latency(master, n)
        fresh = openssh_latency(plain, max(5, n // 4))
        for argv in master:
            subprocess.run([argv[0], "-o", f"ControlPath={control}", "-O", "exit",
                            argv[-3]], capture_output=True, check=False)  # fmt: skip
    print(f"queue refresh over 2 controllers, median of {n}:")
    print(f"  suan core (asyncssh, kept connections, side by side): {_median_ms(core)}")
    print(f"  OpenSSH ControlMaster (sequential):                  {_median_ms(cm)}")
    print(f"  new ssh process per command:                         {_median_ms(fresh)}")
    core_median = statistics.median(core)
    print(
        f"ratios: ControlMaster / core = {statistics.median(cm) / core_median:.2f}x, "
        f"new ssh / core = {statistics.median(fresh) / core_median:.2f}x (goal: ControlMaster / "
        "core >= 1)"
    )


if __name__ == "__main__":
    main()
