"""scancel: per-job outcomes confirmed with squeue/sacct."""

from __future__ import annotations

import pytest

from core.errors import NotFound
from core.slurm.markers import Marker
from core.slurm.models import JobState
from core.slurm.scancel import (
    cancel,
    parse_sacct_states,
    parse_scancel_errors,
    parse_states,
    scancel_argv,
)
from tests.unit.slurm.captured import ScriptedRunner, load, marker_in, program

CLUSTERS = ["pi", "sy"]


def squeue_rows(argv: tuple[str, ...], rows: list[tuple[str, str, str, str]]) -> str:
    marker = marker_in(argv)
    return "".join(marker.format(list(row)) + "\n" for row in rows)


def test_argv_refuses_non_ids() -> None:
    assert scancel_argv(["12", "34_5"]) == ["scancel", "12", "34_5"]
    for bad in ["--user=x", "-u", "12;rm", "", "12_[1-3]"]:
        with pytest.raises(NotFound):
            scancel_argv([bad])


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_denied_message_per_job(cluster: str) -> None:
    captured = load(f"{cluster}-scancel-denied")
    other_id = captured.context["other_id"]
    assert captured.exit_status == 210
    assert parse_scancel_errors(captured.stderr) == {other_id: "Access/permission denied"}


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_states_after_cancel(cluster: str) -> None:
    captured = load(f"{cluster}-squeue-states-after-cancel")
    assert captured.marker is not None
    ctx = captured.context
    ids = [ctx["array_id"], ctx["held_id"], ctx["dep_id"]]
    states = parse_states(captured.stdout, captured.marker, ids)
    assert len(states[ctx["array_id"]]) == 4  # the master id stands for its tasks
    assert states[ctx["held_id"]] == [JobState.CANCELLED]
    assert states[ctx["dep_id"]] == [JobState.CANCELLED]
    assert all(s in (JobState.CANCELLED, JobState.COMPLETING) for s in states[ctx["array_id"]])


def test_sacct_states() -> None:
    marker = Marker("5" * 16)
    sep = marker.field
    text = f"7{sep}CANCELLED by 5001{sep}\n8_1{sep}COMPLETED{sep}\n8_2{sep}CANCELLED{sep}\n"
    states = parse_sacct_states(text, marker, ["7", "8", "9"])
    assert states == {
        "7": [JobState.CANCELLED],
        "8": [JobState.COMPLETED, JobState.CANCELLED],
    }


@pytest.mark.parametrize("cluster", CLUSTERS)
async def test_cancel_other_users_job_is_denied(cluster: str) -> None:
    captured = load(f"{cluster}-scancel-denied")
    other_id = captured.context["other_id"]

    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        if program(argv) == "scancel":
            return captured.exit_status, captured.stdout, captured.stderr
        return 0, squeue_rows(argv, [(other_id, other_id, "N/A", "PENDING")]), ""

    runner = ScriptedRunner(answer)
    (outcome,) = await cancel(runner, [other_id], settle_timeout=5)
    assert not outcome.cancelled
    assert outcome.state is JobState.PENDING
    assert "Permission denied" in outcome.message
    assert len(runner.calls) == 2  # no polling for a job we may not touch


async def test_cancel_running_job_waits_for_completing() -> None:
    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        if program(argv) == "scancel":
            return 0, "", ""
        state = "COMPLETING" if n < 4 else "CANCELLED"
        return 0, squeue_rows(argv, [("11", "11", "N/A", state)]), ""

    runner = ScriptedRunner(answer)
    (outcome,) = await cancel(runner, ["11"], settle_timeout=10, poll_interval=0.01)
    assert outcome.cancelled
    assert outcome.state is JobState.CANCELLED
    assert len(runner.calls) == 4


async def test_cancel_gives_up_waiting_at_the_deadline() -> None:
    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        if program(argv) == "scancel":
            return 0, "", ""
        return 0, squeue_rows(argv, [("11", "11", "N/A", "COMPLETING")]), ""

    (outcome,) = await cancel(
        ScriptedRunner(answer), ["11"], settle_timeout=0.05, poll_interval=0.01
    )
    assert outcome.cancelled
    assert outcome.state is JobState.COMPLETING
    assert "cleaning up" in outcome.message


async def test_cancel_unknown_job() -> None:
    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        name = program(argv)
        if name == "scancel":
            return 0, "", ""  # scancel says nothing for an unknown job
        if name == "squeue":
            return 1, "", "slurm_load_jobs error: Invalid job id specified\n"
        return 0, "", ""  # sacct: nothing either

    (outcome,) = await cancel(ScriptedRunner(answer), ["424242"], settle_timeout=1)
    assert not outcome.cancelled
    assert outcome.state is None
    assert "No such job" in outcome.message


async def test_cancel_finished_job_found_in_accounting() -> None:
    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        name = program(argv)
        if name == "scancel":
            return (
                0,
                "",
                "scancel: error: Kill job error on job id 5: "
                "Job/step already completing or completed\n",
            )
        if name == "squeue":
            return 1, "", "slurm_load_jobs error: Invalid job id specified\n"
        sep = marker_in(argv).field
        return 0, f"5{sep}COMPLETED{sep}\n", ""

    (outcome,) = await cancel(ScriptedRunner(answer), ["5"], settle_timeout=1)
    assert not outcome.cancelled
    assert outcome.state is JobState.COMPLETED
    assert "Already finished" in outcome.message


async def test_cancel_several_mixed() -> None:
    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        if program(argv) == "scancel":
            return 1, "", "scancel: error: Kill job error on job id 2: Access/permission denied\n"
        return (
            0,
            squeue_rows(argv, [("1", "1", "N/A", "CANCELLED"), ("2", "2", "N/A", "RUNNING")]),
            "",
        )

    outcomes = await cancel(ScriptedRunner(answer), ["1", "2", "1"], settle_timeout=1)
    assert [(o.job_id, o.cancelled) for o in outcomes] == [("1", True), ("2", False)]
    assert await cancel(ScriptedRunner(answer), []) == []


async def test_cancel_when_scancel_fails_for_all() -> None:
    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        if program(argv) == "scancel":
            return 1, "", "scancel: error: Unable to contact slurm controller (connect failure)\n"
        return (
            0,
            squeue_rows(argv, [("1", "1", "N/A", "RUNNING"), ("2", "2", "N/A", "PENDING")]),
            "",
        )

    runner = ScriptedRunner(answer)
    outcomes = await cancel(runner, ["1", "2"], settle_timeout=5)
    assert [o.cancelled for o in outcomes] == [False, False]
    assert all("Unable to contact slurm controller" in o.message for o in outcomes)
    assert len(runner.calls) == 2  # nothing to wait for
