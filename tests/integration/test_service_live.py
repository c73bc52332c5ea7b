"""The facade against the live testbed: every controller side by side, logs by range,
submit and cancel verified, read-only refusals. Logged in through the real API."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from core.config import Profile
from core.errors import NotFound, Refused
from core.service import Suan
from core.slurm.models import HistoryRecord, JobDetail, JobState
from tests.testbed_env import TestbedEnv

pytestmark = pytest.mark.testbed


async def test_partitions_of_every_group_with_site_descriptions(suan: Suan) -> None:
    parts = {p.name: p for p in await suan.partitions()}
    assert {"cpu", "debug", "huge", "arm128c256g", "small", "64c512g", "a100"} <= set(parts)
    assert parts["cpu"].group == "pi" and parts["arm128c256g"].group == "kp"
    assert parts["a100"].group == "sy" and parts["a100"].gpus_total == 8
    assert parts["huge"].state == "down"
    assert "A100" in parts["a100"].description


async def test_my_jobs_come_from_both_controllers(suan: Suan, testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    jobs = await suan.jobs()
    ids = {j.job_id for j in jobs}
    assert seeded["pi_running"] in ids and seeded["sy_running"] in ids
    assert seeded["kp_running"] in ids
    assert all(j.user == "hpcuser" for j in jobs)
    by_id = {j.job_id: j for j in jobs}
    assert by_id[seeded["sy_running"]].cluster == "sy"
    assert by_id[seeded["kp_running"]].group == "kp"
    # Array tasks are expanded, each with its own id.
    array = seeded["pi_array"]
    assert {f"{array}_{i}" for i in range(1, 7)} <= ids


async def test_everyone_includes_other_users(suan: Suan, testbed: TestbedEnv) -> None:
    jobs = await suan.jobs(everyone=True)
    assert testbed.seeded()["other_running"] in {j.job_id for j in jobs}


async def test_nasty_names_survive_exactly(suan: Suan, testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    names = {j.job_id: j.name for j in await suan.jobs()}
    assert names[seeded["pi_nasty_pipe"]] == "a|b|c"
    assert names[seeded["pi_nasty_cjk"]] == "训练作业"
    assert names[seeded["pi_nasty_subst"]] == "$(id) `id`"
    assert "\n" in names[seeded["pi_nasty_newline"]]


async def test_job_detail_live_and_finished(suan: Suan, testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    running = await suan.job(seeded["pi_running"])
    assert isinstance(running, JobDetail) and running.state is JobState.RUNNING
    assert running.stdout.endswith(f"slurm-{seeded['pi_running']}.out")
    failed = await suan.job(seeded["pi_failed"])
    assert failed.state is JobState.FAILED
    assert failed.exit_code.startswith("3")
    with pytest.raises(NotFound):
        await suan.job("987654321")


async def test_history_and_efficiency(suan: Suan, testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    records = await suan.history(start=datetime.now(UTC) - timedelta(days=1))
    states = {r.job_id: r.state for r in records}
    assert states[seeded["pi_completed"]] is JobState.COMPLETED
    assert states[seeded["pi_failed"]] is JobState.FAILED
    assert states[seeded["sy_completed"]] is JobState.COMPLETED
    eff = await suan.efficiency(seeded["pi_cpuburn"])
    assert eff.cpu_efficiency is not None and eff.cpu_efficiency > 0.2
    assert eff.alloc_cpus == 2


async def test_log_of_a_finished_job_is_read_by_range(suan: Suan, testbed: TestbedEnv) -> None:
    job_id = testbed.seeded()["pi_colour_log"]
    paths = await suan.log_paths(job_id)
    assert paths.stdout.endswith(f"colour-log-{job_id}.out")
    assert paths.stderr.endswith(f"colour-log-{job_id}.err")
    remote = await suan.open_log(job_id)
    lines = await remote.tail_lines(50)
    assert any("ERROR" in line for line in lines)
    assert any("\x1b[" in line for line in lines)  # colours are kept for the viewer
    script = await suan.batch_script(job_id)
    assert script is not None and "#SBATCH" in script


async def test_submit_then_cancel_on_the_partitions_own_group(suan: Suan) -> None:
    result = await suan.submit(
        "#!/bin/bash\nsleep 300\n",
        partition="small",
        options=["--job-name=suan-live-submit", "-t", "5"],
    )
    assert result.cluster == "sy" and result.host == "sylogin"
    assert int(result.job_id) >= 500000
    jobs = await suan.jobs_matching([result.job_id])
    assert [j.name for j in jobs] == ["suan-live-submit"]
    outcomes = await suan.cancel([result.job_id])
    assert [(o.job_id, o.cancelled) for o in outcomes] == [(result.job_id, True)]


async def test_cancelling_someone_elses_job_is_reported(suan: Suan, testbed: TestbedEnv) -> None:
    other = testbed.seeded()["other_running"]
    outcomes = await suan.cancel([other])
    assert len(outcomes) == 1 and not outcomes[0].cancelled
    assert "denied" in outcomes[0].message.lower() or "permission" in outcomes[0].message.lower()
    assert any(j.job_id == other for j in await suan.jobs(everyone=True))


async def test_unknown_ids_are_reported_not_cancelled(suan: Suan) -> None:
    outcomes = await suan.cancel(["987654321"])
    assert [(o.job_id, o.cancelled) for o in outcomes] == [("987654321", False)]


async def test_read_only_refuses_changes(logged_in: Profile) -> None:
    facade = Suan(dataclasses.replace(logged_in, read_only=True))
    try:
        with pytest.raises(Refused, match="Read-only"):
            await facade.cancel(["1000"])
        with pytest.raises(Refused, match="Read-only"):
            await facade.submit("#!/bin/bash\ntrue\n", partition="cpu")
        assert await facade.jobs()  # reads still work
    finally:
        await facade.close()


async def test_side_by_side_queries_share_one_connection_per_node(suan: Suan) -> None:
    await asyncio.gather(*(suan.jobs() for _ in range(8)))
    assert suan.pool.connects == 2  # pilogin (pi+kp controller) and sylogin (sy)


def test_cold_paths_in_a_script() -> None:
    script = (
        "#!/bin/bash\n#SBATCH -o /lustre/x.out\ncp /archive/home/acct-hpc/u/data.tar .\n"
        "python train.py --data /union/home/acct-hpc/u/set  # /vault in a comment\n"
    )
    cold = Suan.cold_paths(Suan.__new__(Suan), script)
    assert cold == ["/archive/home/acct-hpc/u/data.tar", "/union/home/acct-hpc/u/set"]


async def test_finished_job_falls_back_to_accounting(suan: Suan, testbed: TestbedEnv) -> None:
    job = await suan.job(testbed.seeded()["sy_completed"])
    assert job.state is JobState.COMPLETED
    assert isinstance(job, JobDetail | HistoryRecord)


async def test_killed_server_side_connection_is_reopened(suan: Suan) -> None:
    import subprocess

    await suan.jobs()
    before = suan.pool.connects
    # The per-connection sshd processes of hpcuser: killing them drops our connections.
    subprocess.run(["pkill", "-KILL", "-f", "^sshd: hpcuser"], check=False)
    jobs = await suan.jobs()
    assert jobs
    assert suan.pool.connects > before


async def test_history_name_filter_matches_part_of_a_name(suan: Suan, testbed: TestbedEnv) -> None:
    records = await suan.history(start=datetime.now(UTC) - timedelta(days=1), name="COLOUR")
    assert testbed.seeded()["pi_colour_log"] in {r.job_id for r in records}
    assert all("colour" in r.name.lower() for r in records)
