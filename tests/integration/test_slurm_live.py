"""core.slurm against the live testbed: real Slurm 22.05 on clusters ``pi`` and ``sy``.

Every call goes through ``tests.local_runner.LocalRunner`` as ``hpcuser`` (or
``otheruser``) with the cluster's ``SLURM_CONF``, exactly the argv the builders make.
Jobs submitted here are short and cancelled in teardown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import NotFound, RemoteCommandError
from core.slurm import sacct, sbatch, scancel, scontrol, sinfo, squeue
from core.slurm.models import HistoryRecord, Job, JobState
from core.slurm.reasons import REASONS, explain_reason
from tests.local_runner import LocalRunner
from tests.testbed_env import TestbedEnv
from tests.unit.slurm.nasty import NASTY_NAMES, accounting_name

pytestmark = pytest.mark.testbed

HOMES = {"pi": "/lustre/home/acct-hpc", "sy": "/dssg/home/acct-hpc"}
GROUPS = {
    "cpu": "pi",
    "debug": "pi",
    "huge": "pi",
    "arm128c256g": "kp",
    "small": "sy",
    "64c512g": "sy",
    "a100": "sy",
}

#: The seeded nasty names (tests/testbed/seed.py), by seeded.json key.
SEEDED_NASTY = {
    "pi_nasty_pipe": "a|b|c",
    "pi_nasty_brackets": "[x] job[1]",
    "pi_nasty_quotes": 'it\'s "quoted"',
    "pi_nasty_subst": "$(id) `id`",
    "pi_nasty_cjk": "训练作业",
    "pi_nasty_escape": "\x1b[31mred\x1b[0m",
    "pi_nasty_newline": "first line\nsecond line",
}

SLEEP = "#!/bin/bash\nsleep {seconds}\n"


def group_of(partition: str) -> str:
    """The testbed's partition → group table (the site file's, for these partitions)."""
    if partition not in GROUPS:
        raise NotFound(f"unknown partition {partition}")
    return GROUPS[partition]


def runner(env: TestbedEnv, cluster: str, user: str = "hpcuser") -> LocalRunner:
    return LocalRunner(user, env[f"SLURM_CONF_{cluster.upper()}"], cwd=f"{HOMES[cluster]}/{user}")


@dataclass
class Submitter:
    """Submits test jobs as hpcuser and remembers them for the teardown."""

    env: TestbedEnv
    submitted: list[tuple[str, str]] = field(default_factory=list)

    async def submit(
        self,
        cluster: str,
        script: str,
        options: Sequence[str] = (),
        *,
        tag: str | None = None,
        partition: str | None = None,
    ) -> str:
        result = await sbatch.submit(
            runner(self.env, cluster),
            script,
            options=options,
            cluster=cluster,
            group=cluster,
            host="local",
            tag=tag,
            partition=partition,
        )
        self.submitted.append((cluster, result.job_id))
        return result.job_id


@pytest.fixture
async def jobs(testbed: TestbedEnv) -> AsyncIterator[Submitter]:
    submitter = Submitter(testbed)
    yield submitter
    for cluster in ("pi", "sy"):
        ids = [job_id for c, job_id in submitter.submitted if c == cluster]
        if ids:
            await runner(testbed, cluster).run(["scancel", *ids])


async def finished_record(
    env: TestbedEnv, cluster: str, job_id: str, name: str | None = None
) -> HistoryRecord:
    """The accounting record once the job has finished (polled with a deadline).

    slurmdbd is eventually consistent: a job that just ended may briefly show the
    placeholder name "allocation" until the start record lands, so a ``name`` to wait
    for can be given as well.
    """
    seen: list[HistoryRecord] = []

    async def done() -> bool:
        try:
            record = await sacct.job_record(
                runner(env, cluster), job_id, cluster=cluster, group_of=group_of
            )
        except NotFound:
            return False
        seen[:] = [record]
        return record.state.is_finished and (name is None or record.name == name)

    deadline = time.monotonic() + 60
    while not await done():
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not settle in accounting: {seen}")
        await asyncio.sleep(0.5)
    return seen[0]


# --- partitions -----------------------------------------------------------------------


async def test_partitions_pi(testbed: TestbedEnv) -> None:
    parts = {
        p.name: p
        for p in await sinfo.partitions(runner(testbed, "pi"), cluster="pi", group_of=group_of)
    }
    assert list(parts) == ["cpu", "debug", "huge", "arm128c256g"]
    assert parts["cpu"].is_default
    assert not parts["debug"].is_default
    assert parts["debug"].time_limit == 20 * 60
    assert parts["cpu"].time_limit == 7 * 86400
    assert parts["huge"].state == "down"
    assert parts["cpu"].state == "up"
    assert parts["cpu"].cpus_total == 120
    assert parts["cpu"].cpus_alloc > 0  # seeded running jobs
    assert parts["arm128c256g"].group == "kp"
    assert parts["arm128c256g"].cpus_alloc >= 200  # kp_busy holds 2 × 100
    assert [n.name for n in parts["cpu"].nodes] == ["cas001", "cas002", "cas003"]
    assert parts["cpu"].memory_mb == 192000


async def test_partitions_sy_with_gpus(testbed: TestbedEnv) -> None:
    parts = {
        p.name: p
        for p in await sinfo.partitions(runner(testbed, "sy"), cluster="sy", group_of=group_of)
    }
    assert list(parts) == ["small", "64c512g", "a100"]
    assert parts["small"].is_default
    a100 = parts["a100"]
    assert a100.gpus_total == 8
    assert a100.gpus_used >= 2  # the seeded GPU job holds two
    assert a100.group == "sy"
    assert parts["small"].gpus_total == 0


# --- the queue ------------------------------------------------------------------------


async def test_queue_mine_and_everyone(testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    r = runner(testbed, "pi")
    mine = await squeue.list_jobs(r, cluster="pi", group_of=group_of, user="hpcuser")
    everyone = await squeue.list_jobs(r, cluster="pi", group_of=group_of)
    assert {job.user for job in mine} == {"hpcuser"}
    mine_ids = {job.job_id for job in mine}
    all_ids = {job.job_id for job in everyone}
    assert seeded["pi_running"] in mine_ids
    assert seeded["other_running"] not in mine_ids
    assert seeded["other_running"] in all_ids
    running = next(job for job in mine if job.job_id == seeded["pi_running"])
    assert running.state is JobState.RUNNING
    assert running.nodelist
    assert running.start_time is not None
    assert running.group == "pi"
    kp = next(job for job in mine if job.job_id == seeded["kp_running"])
    assert kp.group == "kp"
    assert kp.cluster == "pi"


async def test_queue_filters(testbed: TestbedEnv) -> None:
    r = runner(testbed, "pi")
    pending = await squeue.list_jobs(r, cluster="pi", group_of=group_of, states=["PENDING"])
    assert pending
    assert {job.state for job in pending} == {JobState.PENDING}
    arm = await squeue.list_jobs(r, cluster="pi", group_of=group_of, partition="arm128c256g")
    assert arm
    assert {job.partition for job in arm} == {"arm128c256g"}


async def queue_until(
    env: TestbedEnv, ready: Callable[[dict[str, Job]], bool], job_ids: Sequence[str] = ()
) -> dict[str, Job]:
    """hpcuser's pi queue once ``ready`` holds (the scheduler sets reasons on its passes)."""
    deadline = time.monotonic() + 30
    while True:
        jobs = {
            job.job_id: job
            for job in await squeue.list_jobs(
                runner(env, "pi"), cluster="pi", group_of=group_of, user="hpcuser", job_ids=job_ids
            )
        }
        if ready(jobs):
            return jobs
        if time.monotonic() > deadline:
            return jobs  # the assertions that follow say what is wrong
        await asyncio.sleep(0.5)


async def test_arrays_are_expanded(testbed: TestbedEnv) -> None:
    array_id = testbed.seeded()["pi_array"]

    def throttled(jobs: dict[str, Job]) -> bool:
        reasons = [job.reason for job in jobs.values() if job.state is JobState.PENDING]
        return reasons == ["JobArrayTaskLimit"] * 4

    jobs = list((await queue_until(testbed, throttled, job_ids=[array_id])).values())
    assert sorted(job.job_id for job in jobs) == [f"{array_id}_{i}" for i in range(1, 7)]
    assert {job.array_job_id for job in jobs} == {array_id}
    assert all("[" not in job.job_id for job in jobs)
    pending = [job for job in jobs if job.state is JobState.PENDING]
    assert len(pending) == 4
    assert {job.reason for job in pending} == {"JobArrayTaskLimit"}


async def test_pending_reasons_in_words(testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    expected = {
        "pi_held": "JobHeldUser",
        "pi_dependency": "Dependency",
        "pi_begin": "BeginTime",
        "pi_down": "PartitionDown",
    }

    def all_set(jobs: dict[str, Job]) -> bool:
        return all(
            seeded[key] in jobs and jobs[seeded[key]].reason == reason
            for key, reason in expected.items()
        )

    jobs = await queue_until(testbed, all_set)
    for key, reason in expected.items():
        job = jobs[seeded[key]]
        assert job.reason == reason
        assert explain_reason(job.reason) == REASONS[reason]


async def test_start_estimate(testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    r = runner(testbed, "pi")
    estimate = await squeue.start_estimate(r, seeded["pi_dependency"])
    assert estimate is not None
    assert estimate.job_id == seeded["pi_dependency"]
    assert estimate.reason == "Dependency"
    assert await squeue.start_estimate(r, seeded["pi_running"]) is None
    with pytest.raises(NotFound):
        await squeue.start_estimate(r, "99999999")


async def test_seeded_nasty_names_exact(testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    ids = [seeded[key] for key in SEEDED_NASTY]
    r = runner(testbed, "pi")
    jobs = {
        job.job_id: job
        for job in await squeue.list_jobs(r, cluster="pi", group_of=group_of, job_ids=ids)
    }
    history = {
        rec.job_id: rec
        for rec in await sacct.history(
            r, cluster="pi", group_of=group_of, start=datetime.now(UTC) - timedelta(days=2)
        )
    }
    for key, name in SEEDED_NASTY.items():
        job_id = seeded[key]
        assert jobs[job_id].name == name
        detail = await scontrol.show_job(r, job_id, cluster="pi", group_of=group_of)
        assert detail.name == name
        assert history[job_id].name == accounting_name(name)


# --- one job --------------------------------------------------------------------------


@pytest.mark.parametrize(("cluster", "key"), [("pi", "pi_running"), ("sy", "sy_running")])
async def test_detail_of_running_job(testbed: TestbedEnv, cluster: str, key: str) -> None:
    job_id = testbed.seeded()[key]
    detail = await scontrol.show_job(
        runner(testbed, cluster), job_id, cluster=cluster, group_of=group_of
    )
    assert detail.job_id == job_id
    assert detail.state is JobState.RUNNING
    assert detail.user == "hpcuser"
    assert detail.group == cluster
    assert detail.stdout == f"{HOMES[cluster]}/hpcuser/slurm-{job_id}.out"
    assert detail.work_dir == f"{HOMES[cluster]}/hpcuser"
    assert detail.fields["JobId"] == job_id


async def test_detail_of_gpu_job(testbed: TestbedEnv) -> None:
    job_id = testbed.seeded()["sy_gpu"]
    detail = await scontrol.show_job(runner(testbed, "sy"), job_id, cluster="sy", group_of=group_of)
    assert "gres/gpu=2" in detail.tres
    assert detail.partition == "a100"


async def test_finished_jobs_from_accounting(testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    completed = await finished_record(testbed, "pi", seeded["pi_completed"])
    assert completed.state is JobState.COMPLETED
    assert completed.exit_code == "0:0"
    failed = await finished_record(testbed, "pi", seeded["pi_failed"])
    assert failed.state is JobState.FAILED
    assert failed.exit_code == "3:0"
    assert failed.submit_line.startswith("sbatch ")
    assert failed.work_dir == f"{HOMES['pi']}/hpcuser"
    cancelled = await finished_record(testbed, "pi", seeded["pi_cancelled"])
    assert cancelled.state is JobState.CANCELLED
    sy = await finished_record(testbed, "sy", seeded["sy_completed"])
    assert sy.state is JobState.COMPLETED
    assert sy.group == "sy"


async def test_history_window(testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    records = await sacct.history(
        runner(testbed, "pi"),
        cluster="pi",
        group_of=group_of,
        start=datetime.now(UTC) - timedelta(days=2),
        states=["COMPLETED", "FAILED"],
    )
    ids = {record.job_id for record in records}
    assert seeded["pi_completed"] in ids
    assert seeded["pi_failed"] in ids
    assert seeded["pi_running"] not in ids
    assert seeded["other_completed"] not in ids  # not mine
    assert all("." not in job_id for job_id in ids)


async def test_efficiency_of_seeded_cpu_burn(testbed: TestbedEnv) -> None:
    job_id = testbed.seeded()["pi_cpuburn"]
    await finished_record(testbed, "pi", job_id)
    eff = await sacct.efficiency(runner(testbed, "pi"), job_id)
    assert eff.state is JobState.COMPLETED
    assert eff.alloc_cpus == 2
    assert eff.cpu_efficiency is not None
    assert eff.cpu_efficiency > 0
    assert eff.max_rss_mb is not None
    assert eff.max_rss_mb > 0
    assert eff.requested_mem_mb == 8000.0  # 2 CPUs × 4000 MiB
    assert eff.memory_efficiency is not None
    assert eff.gpu_efficiency is None


async def test_batch_script(testbed: TestbedEnv) -> None:
    r = runner(testbed, "pi")
    script = await sacct.batch_script(r, testbed.seeded()["pi_cpuburn"])
    assert script is not None
    assert script.startswith("#!/bin/bash\n#SBATCH -J seed-cpuburn\n")
    assert await sacct.batch_script(r, "99999999") is None


@pytest.mark.parametrize("cluster", ["pi", "sy"])
async def test_unknown_job_is_not_found(testbed: TestbedEnv, cluster: str) -> None:
    r = runner(testbed, cluster)
    with pytest.raises(NotFound):
        await scontrol.show_job(r, "99999999", cluster=cluster, group_of=group_of)
    with pytest.raises(NotFound):
        await sacct.job_record(r, "99999999", cluster=cluster, group_of=group_of)


# --- submit and cancel ----------------------------------------------------------------


async def test_submit_and_cancel_round_trip(testbed: TestbedEnv, jobs: Submitter) -> None:
    r = runner(testbed, "pi")
    tag = sbatch.new_tag()
    job_id = await jobs.submit("pi", SLEEP.format(seconds=120), ["-J", "suan-live-cancel"], tag=tag)
    found = await sbatch.find_by_tag(r, tag, cluster="pi", group_of=group_of, user="hpcuser")
    assert [job.job_id for job in found] == [job_id]
    (outcome,) = await scancel.cancel(r, [job_id])
    assert outcome.cancelled
    assert outcome.state in (JobState.CANCELLED, JobState.COMPLETING)
    record = await finished_record(testbed, "pi", job_id)
    assert record.state is JobState.CANCELLED


async def test_cancel_someone_elses_job_is_denied(testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    r = runner(testbed, "pi")
    (outcome,) = await scancel.cancel(r, [seeded["other_running"]])
    assert not outcome.cancelled
    assert "Permission denied" in outcome.message
    assert outcome.state is JobState.RUNNING
    (still,) = await squeue.list_jobs(
        r, cluster="pi", group_of=group_of, job_ids=[seeded["other_running"]]
    )
    assert still.state is JobState.RUNNING


async def test_cancel_unknown_job(testbed: TestbedEnv) -> None:
    (outcome,) = await scancel.cancel(runner(testbed, "sy"), ["99999999"])
    assert not outcome.cancelled
    assert outcome.state is None


@pytest.mark.parametrize(("cluster", "foreign"), [("pi", "a100"), ("sy", "cpu")])
async def test_submit_to_other_clusters_partition_fails(
    testbed: TestbedEnv, jobs: Submitter, cluster: str, foreign: str
) -> None:
    with pytest.raises(RemoteCommandError) as caught:
        await jobs.submit(cluster, SLEEP.format(seconds=1), partition=foreign)
    assert "Invalid partition name specified" in caught.value.message
    assert caught.value.hint is not None


@pytest.mark.parametrize("cluster", ["pi", "sy"])
async def test_own_nasty_names_round_trip(
    testbed: TestbedEnv, jobs: Submitter, cluster: str
) -> None:
    r = runner(testbed, cluster)
    ids = [
        await jobs.submit(cluster, SLEEP.format(seconds=1), [f"--job-name={name}", "-t", "2"])
        for name in NASTY_NAMES
    ]
    queue = {
        job.job_id: job
        for job in await squeue.list_jobs(
            r, cluster=cluster, group_of=group_of, job_ids=ids, states=["all"]
        )
    }
    for job_id, name in zip(ids, NASTY_NAMES, strict=True):
        assert queue[job_id].name == name
        detail = await scontrol.show_job(r, job_id, cluster=cluster, group_of=group_of)
        assert detail.name == name
    for job_id, name in zip(ids, NASTY_NAMES, strict=True):
        record = await finished_record(testbed, cluster, job_id, accounting_name(name))
        assert record.state is JobState.COMPLETED
        assert f"--job-name={name}" in record.submit_line
