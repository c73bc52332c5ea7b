"""Capture real Slurm 22.05 outputs from the live testbed into ``tests/unit/slurm/data/``.

Every capture runs the exact argv the builders of ``core.slurm`` make (with the neutral
environment of ``core.slurm.env``) through ``tests.local_runner.LocalRunner`` as
``hpcuser``, and stores argv, marker token, exit status, stdout and stderr as JSON. Unit
tests parse those files, so they run without the testbed.

Usage: ``.venv/bin/python scripts/capture_slurm.py`` (as root, with the testbed up).
It submits its own short jobs (the nasty names among them) and cancels what it leaves.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.slurm import sacct, sbatch, scancel, scontrol, sinfo, squeue  # noqa: E402
from core.slurm.common import run_slurm  # noqa: E402
from core.slurm.markers import Marker  # noqa: E402
from tests.local_runner import LocalRunner  # noqa: E402
from tests.testbed_env import TestbedEnv, load_testbed_env  # noqa: E402
from tests.unit.slurm.nasty import NASTY_NAMES  # noqa: E402

DATA = ROOT / "tests" / "unit" / "slurm" / "data"

HOMES = {"pi": "/lustre/home/acct-hpc", "sy": "/dssg/home/acct-hpc"}
OTHER_PARTITION = {"pi": "a100", "sy": "cpu"}

SLEEP = "#!/bin/bash\nsleep {seconds}\n"
BURN = (
    "#!/bin/bash\n"
    "# burn one CPU for a few seconds so accounting has something to measure\n"
    "end=$((SECONDS + 4)); while [ $SECONDS -lt $end ]; do :; done\n"
    "python3 -c 'x = bytearray(64 * 1024 * 1024); import time; time.sleep(1)'\n"
)


async def capture(
    name: str,
    runner: LocalRunner,
    argv: Sequence[str],
    *,
    marker: Marker | None = None,
    input: str | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``argv`` and store what came back as ``data/<name>.json``."""
    result = await run_slurm(runner, argv, input=input)
    record: dict[str, Any] = {
        "argv": list(argv),
        "marker": marker.token if marker else None,
        "exit_status": result.exit_status,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "context": context or {},
    }
    (DATA / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n")
    print(f"{name}: exit {result.exit_status}, {len(result.stdout)} bytes")
    return record


async def submit(runner: LocalRunner, script: str, options: Sequence[str]) -> str:
    result = await sbatch.submit(
        runner, script, options=options, cluster="", group="", host="local"
    )
    return result.job_id


async def wait_for_states(
    runner: LocalRunner, job_ids: Sequence[str], wanted: set[str], deadline: float
) -> None:
    """Poll accounting until every job is in one of ``wanted`` (or the deadline passes)."""
    while time.monotonic() < deadline:
        marker = Marker.new()
        result = await run_slurm(runner, scancel.sacct_states_argv(marker, job_ids))
        states = scancel.parse_sacct_states(result.stdout, marker, job_ids)
        if all(any(s.value in wanted for s in states.get(job_id, [])) for job_id in job_ids):
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"jobs {job_ids} did not reach {wanted} in time")


async def capture_cluster(env: TestbedEnv, cluster: str) -> None:
    conf = env[f"SLURM_CONF_{cluster.upper()}"]
    home = f"{HOMES[cluster]}/hpcuser"
    me = LocalRunner("hpcuser", conf, cwd=home)
    other = LocalRunner("otheruser", conf, cwd=f"{HOMES[cluster]}/otheruser")
    p = f"{cluster}-"

    # Jobs of our own: nasty names (running a short sleep), a burner, a pending array,
    # a held job, and one of another user.
    nasty_ids = [
        await submit(me, SLEEP.format(seconds=3), [f"--job-name={name}", "-t", "2"])
        for name in NASTY_NAMES
    ]
    burn_id = await submit(me, BURN, ["--job-name=cpu-burn", "-t", "2"])
    array_id = await submit(
        me, SLEEP.format(seconds=60), ["--job-name=arr", "--array=1-4%2", "-t", "5"]
    )
    held_id = await submit(me, SLEEP.format(seconds=60), ["--job-name=held", "--hold"])
    dep_id = await submit(
        me,
        SLEEP.format(seconds=60),
        ["--job-name=dep", f"--dependency=afterok:{held_id}", "-t", "5"],
    )
    other_id = await submit(
        other, SLEEP.format(seconds=60), ["--job-name=not-mine", "-t", "5", "--hold"]
    )
    gpu_id = None
    if cluster == "sy":
        gpu_id = await submit(
            me,
            SLEEP.format(seconds=60),
            ["--job-name=gpu-job", "-p", "a100", "--gres=gpu:2", "-t", "5"],
        )
    context = {
        "nasty_ids": nasty_ids,
        "nasty_names": list(NASTY_NAMES),
        "burn_id": burn_id,
        "array_id": array_id,
        "held_id": held_id,
        "dep_id": dep_id,
        "other_id": other_id,
        "gpu_id": gpu_id,
        "cluster": cluster,
        "user": "hpcuser",
    }
    await asyncio.sleep(1.5)  # let the scheduler start what can start

    m = Marker.new()
    await capture(p + "sinfo-partitions", me, sinfo.partitions_argv(m), marker=m)
    m = Marker.new()
    await capture(p + "sinfo-nodes", me, sinfo.nodes_argv(m), marker=m)
    m = Marker.new()
    await capture(p + "squeue-all", me, squeue.squeue_argv(m), marker=m, context=context)
    m = Marker.new()
    await capture(
        p + "squeue-mine", me, squeue.squeue_argv(m, user="hpcuser"), marker=m, context=context
    )
    m = Marker.new()
    await capture(p + "squeue-start", me, squeue.start_argv(m, dep_id), marker=m, context=context)
    await capture(p + "scontrol-nasty", me, scontrol.scontrol_argv(nasty_ids[8]), context=context)
    await capture(p + "scontrol-newline", me, scontrol.scontrol_argv(nasty_ids[7]), context=context)
    await capture(p + "scontrol-array", me, scontrol.scontrol_argv(array_id), context=context)
    await capture(p + "scontrol-held", me, scontrol.scontrol_argv(held_id), context=context)
    await capture(p + "scontrol-dependency", me, scontrol.scontrol_argv(dep_id), context=context)
    await capture(p + "scontrol-unknown", me, scontrol.scontrol_argv("999999999"))
    if gpu_id:
        await capture(p + "scontrol-gpu", me, scontrol.scontrol_argv(gpu_id), context=context)
    await capture(
        p + "sbatch-invalid-partition",
        me,
        sbatch.sbatch_argv(partition=OTHER_PARTITION[cluster]),
        input=SLEEP.format(seconds=1),
    )
    await capture(p + "scancel-denied", me, scancel.scancel_argv([other_id]), context=context)

    deadline = time.monotonic() + 90
    await wait_for_states(me, [*nasty_ids, burn_id], {"COMPLETED", "FAILED"}, deadline)
    await capture(p + "scontrol-finished", me, scontrol.scontrol_argv(burn_id), context=context)
    m = Marker.new()
    await capture(
        p + "sacct-nasty",
        me,
        sacct.history_argv(m, job_ids=[*nasty_ids, burn_id]),
        marker=m,
        context=context,
    )
    m = Marker.new()
    since = datetime.now(UTC) - timedelta(days=1)
    await capture(
        p + "sacct-history", me, sacct.history_argv(m, start=since, user="hpcuser"), marker=m
    )
    m = Marker.new()
    await capture(
        p + "sacct-efficiency", me, sacct.efficiency_argv(m, burn_id), marker=m, context=context
    )
    await capture(p + "sacct-script", me, sacct.batch_script_argv(burn_id), context=context)
    await capture(p + "sacct-script-unknown", me, sacct.batch_script_argv("999999999"))

    leftovers = [array_id, held_id, dep_id] + ([gpu_id] if gpu_id else [])
    await capture(p + "scancel-mine", me, scancel.scancel_argv(leftovers), context=context)
    await other.run(["scancel", other_id])
    m = Marker.new()
    await capture(
        p + "squeue-states-after-cancel",
        me,
        scancel.states_argv(m, leftovers),
        marker=m,
        context=context,
    )


async def main() -> None:
    env = load_testbed_env()
    if env is None:
        raise SystemExit("the testbed is not up")
    DATA.mkdir(parents=True, exist_ok=True)
    for cluster in ("pi", "sy"):
        await capture_cluster(env, cluster)


if __name__ == "__main__":
    asyncio.run(main())
