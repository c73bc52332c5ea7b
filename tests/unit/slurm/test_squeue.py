"""squeue: the queue from captured real output, and the async call end to end."""

from __future__ import annotations

import pytest

from core.errors import NotFound, RemoteCommandError
from core.slurm.markers import Marker
from core.slurm.models import JobState
from core.slurm.squeue import (
    list_jobs,
    parse_squeue,
    parse_start,
    squeue_argv,
    start_argv,
    start_estimate,
)
from tests.unit.slurm.captured import ReplayRunner, ScriptedRunner, load
from tests.unit.slurm.nasty import NASTY_NAMES

CLUSTERS = ["pi", "sy"]


def group_of(partition: str) -> str:
    groups = {"arm128c256g": "kp", "small": "sy", "64c512g": "sy", "a100": "sy"}
    return groups.get(partition, "pi")


def test_argv_filters() -> None:
    marker = Marker("0" * 16)
    argv = squeue_argv(
        marker, user="hpcuser", partition="cpu", states=["PD", "R"], job_ids=["1", "2_3"]
    )
    assert argv[:4] == ["squeue", "-h", "-r", "-o"]
    assert argv[4].endswith(marker.record)
    assert argv[5:] == ["-u", "hpcuser", "-p", "cpu", "-t", "PD,R", "-j", "1,2_3"]
    assert squeue_argv(marker)[5:] == []


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_nasty_names_round_trip(cluster: str) -> None:
    captured = load(f"{cluster}-squeue-all")
    assert captured.marker is not None
    jobs = parse_squeue(captured.stdout, captured.marker, cluster=cluster, group_of=group_of)
    by_id = {job.job_id: job for job in jobs}
    for job_id, name in zip(captured.context["nasty_ids"], NASTY_NAMES, strict=True):
        assert by_id[job_id].name == name
    assert all(job.cluster == cluster for job in jobs)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_arrays_are_expanded(cluster: str) -> None:
    captured = load(f"{cluster}-squeue-mine")
    assert captured.marker is not None
    jobs = parse_squeue(captured.stdout, captured.marker, cluster=cluster, group_of=group_of)
    array_id = captured.context["array_id"]
    tasks = sorted(job.job_id for job in jobs if job.array_job_id == array_id)
    assert tasks == [f"{array_id}_{i}" for i in range(1, 5)]
    for job in jobs:
        if job.array_job_id == array_id:
            assert job.array_task_id == job.job_id.split("_")[1]
            assert "[" not in job.job_id
    plain = next(job for job in jobs if job.job_id == captured.context["held_id"])
    assert plain.array_job_id is None
    assert plain.array_task_id is None


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_fields_are_typed(cluster: str) -> None:
    captured = load(f"{cluster}-squeue-all")
    assert captured.marker is not None
    jobs = parse_squeue(captured.stdout, captured.marker, cluster=cluster, group_of=group_of)
    by_id = {job.job_id: job for job in jobs}
    held = by_id[captured.context["held_id"]]
    assert held.state is JobState.PENDING
    assert held.reason == "JobHeldUser"
    assert held.user == "hpcuser"
    assert held.account == "acct-hpc"
    assert held.group == cluster
    assert {job.group for job in jobs if job.partition == "arm128c256g"} <= {"kp"}
    assert held.submit_time is not None
    assert held.start_time is None
    assert held.comment.startswith("suan:")
    assert held.work_dir.endswith("/hpcuser")
    dep = by_id[captured.context["dep_id"]]
    assert dep.reason == "Dependency"
    assert dep.time_limit == 300
    other = by_id[captured.context["other_id"]]
    assert other.user == "otheruser"
    assert any(job.state is JobState.RUNNING and job.nodelist for job in jobs)
    mine = load(f"{cluster}-squeue-mine")
    assert mine.marker is not None
    my_jobs = parse_squeue(mine.stdout, mine.marker, cluster=cluster, group_of=group_of)
    assert {job.user for job in my_jobs} == {"hpcuser"}


def test_gpu_job_gres() -> None:
    captured = load("sy-squeue-all")
    assert captured.marker is not None
    jobs = parse_squeue(captured.stdout, captured.marker, cluster="sy", group_of=group_of)
    gpu = next(job for job in jobs if job.job_id == captured.context["gpu_id"])
    assert gpu.partition == "a100"
    assert "gpu:2" in gpu.gres


def test_unknown_partition_falls_back_to_cluster() -> None:
    captured = load("pi-squeue-all")
    assert captured.marker is not None

    def strict(partition: str) -> str:
        raise NotFound(partition)

    jobs = parse_squeue(captured.stdout, captured.marker, cluster="pi", group_of=strict)
    assert jobs
    assert {job.group for job in jobs} == {"pi"}


async def test_list_jobs_end_to_end() -> None:
    runner = ReplayRunner([load("pi-squeue-mine")])
    jobs = await list_jobs(runner, cluster="pi", group_of=group_of, user="hpcuser")
    assert len(jobs) >= len(NASTY_NAMES)
    assert runner.calls[0][0] == "env"


async def test_list_jobs_unknown_ids_is_empty() -> None:
    runner = ScriptedRunner(
        lambda argv, n: (1, "", "slurm_load_jobs error: Invalid job id specified\n")
    )
    assert await list_jobs(runner, cluster="pi", group_of=group_of, job_ids=["9"]) == []


async def test_list_jobs_failure_is_worded() -> None:
    runner = ScriptedRunner(
        lambda argv, n: (1, "", "squeue: error: Invalid user: nobody-like-this\n")
    )
    with pytest.raises(RemoteCommandError) as caught:
        await list_jobs(runner, cluster="pi", group_of=group_of, user="nobody-like-this")
    assert "Invalid user" in caught.value.message
    assert "squeue:" not in caught.value.message


def test_start_estimate_of_pending_job() -> None:
    captured = load("pi-squeue-start")
    assert captured.marker is not None
    dep_id = captured.context["dep_id"]
    estimate = parse_start(captured.stdout, captured.marker, dep_id)
    assert estimate is not None
    assert estimate.job_id == dep_id
    assert estimate.reason == "Dependency"
    assert estimate.start_time is None
    assert estimate.nodes == ""
    assert start_argv(captured.marker, dep_id)[:5] == ["squeue", "--start", "-h", "-r", "-j"]


async def test_start_estimate_end_to_end_and_not_found() -> None:
    captured = load("sy-squeue-start")
    runner = ReplayRunner([captured])
    estimate = await start_estimate(runner, captured.context["dep_id"])
    assert estimate is not None
    assert estimate.reason == "Dependency"
    gone = ScriptedRunner(
        lambda argv, n: (1, "", "slurm_load_jobs error: Invalid job id specified\n")
    )
    with pytest.raises(NotFound):
        await start_estimate(gone, "42")


def test_start_estimate_with_time() -> None:
    marker = Marker("1" * 16)
    text = marker.format(["77", "2026-11-29T12:00:00", "cas001", "Resources"]) + "\n"
    estimate = parse_start(text, marker, "77")
    assert estimate is not None
    assert estimate.start_time is not None
    assert estimate.nodes == "cas001"
    assert parse_start("", marker, "77") is None
