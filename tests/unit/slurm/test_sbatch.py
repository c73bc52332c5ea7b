"""sbatch: argv, parsable output, worded refusals, lookup by tag."""

from __future__ import annotations

import pytest

from core.errors import RemoteCommandError
from core.slurm.sbatch import find_by_tag, new_tag, parse_submit, sbatch_argv, submit
from core.slurm.squeue import parse_squeue
from tests.unit.slurm.captured import ScriptedRunner, load, marker_in, program

CLUSTERS = ["pi", "sy"]


def group_of(partition: str) -> str:
    return "pi"


def test_argv_order() -> None:
    argv = sbatch_argv(
        script_path="/home/u/my job.sh",
        partition="cpu",
        options=["-t", "10", "--job-name=x y"],
        workdir="/home/u/w d",
        tag="suan:abc",
    )
    assert argv == [
        "sbatch",
        "--parsable",
        "--comment=suan:abc",
        "--partition=cpu",
        "--chdir=/home/u/w d",
        "-t",
        "10",
        "--job-name=x y",
        "/home/u/my job.sh",
    ]
    assert sbatch_argv() == ["sbatch", "--parsable"]


def test_tags_are_unique() -> None:
    assert new_tag() != new_tag()
    assert new_tag().startswith("suan:")


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("1234\n", ("1234", None)),
        ("1234;pi\n", ("1234", "pi")),
        ("sbatch: warning: something\n500001\n", ("500001", None)),
    ],
)
def test_parse_submit(stdout: str, expected: tuple[str, str | None]) -> None:
    assert parse_submit(stdout) == expected


def test_parse_submit_without_id() -> None:
    with pytest.raises(RemoteCommandError):
        parse_submit("Submitted batch job\n")


async def test_submit_sends_script_on_stdin() -> None:
    runner = ScriptedRunner(lambda argv, n: (0, "4321\n", ""))
    result = await submit(
        runner, "#!/bin/bash\nsleep 1\n", cluster="pi", group="pi", host="pilogin"
    )
    assert result.job_id == "4321"
    assert result.cluster == "pi"
    assert result.host == "pilogin"
    assert result.tag.startswith("suan:")
    assert runner.inputs == ["#!/bin/bash\nsleep 1\n"]
    assert f"--comment={result.tag}" in runner.calls[0]
    assert program(runner.calls[0]) == "sbatch"


async def test_submit_remote_file_and_cluster_suffix() -> None:
    runner = ScriptedRunner(lambda argv, n: (0, "77;sy\n", ""))
    result = await submit(
        runner, script_path="/dssg/x.sh", tag="suan:t", cluster="", group="sy", host="sylogin"
    )
    assert (result.job_id, result.cluster, result.tag) == ("77", "sy", "suan:t")
    assert runner.calls[0][-1] == "/dssg/x.sh"
    assert runner.inputs == [None]


async def test_submit_needs_exactly_one_script() -> None:
    runner = ScriptedRunner(lambda argv, n: (0, "1\n", ""))
    with pytest.raises(ValueError, match="exactly one"):
        await submit(runner, cluster="pi", group="pi", host="h")
    with pytest.raises(ValueError, match="exactly one"):
        await submit(runner, "x", script_path="/y", cluster="pi", group="pi", host="h")


@pytest.mark.parametrize("cluster", CLUSTERS)
async def test_invalid_partition_is_worded(cluster: str) -> None:
    captured = load(f"{cluster}-sbatch-invalid-partition")
    other = {"pi": "a100", "sy": "cpu"}[cluster]

    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        assert f"--partition={other}" in argv
        return captured.exit_status, captured.stdout, captured.stderr

    with pytest.raises(RemoteCommandError) as caught:
        await submit(
            ScriptedRunner(answer),
            "#!/bin/bash\ntrue\n",
            partition=other,
            cluster=cluster,
            group=cluster,
            host="h",
        )
    error = caught.value
    assert "Invalid partition name specified" in error.message
    assert "sbatch: error" not in error.message
    assert error.hint is not None
    assert "node group" in error.hint
    assert error.exit_status == 1


async def test_find_by_tag() -> None:
    captured = load("pi-squeue-all")
    assert captured.marker is not None
    held_id = captured.context["held_id"]

    # The capture holds the comment of every job; find the held one's tag through it.
    jobs = parse_squeue(captured.stdout, captured.marker, cluster="pi", group_of=group_of)
    tag = next(job.comment for job in jobs if job.job_id == held_id)

    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        assert "-t" in argv
        assert argv[argv.index("-t") + 1] == "all"
        marker = marker_in(argv)
        assert captured.marker is not None
        return 0, captured.stdout.replace(captured.marker.token, marker.token), ""

    found = await find_by_tag(ScriptedRunner(answer), tag, cluster="pi", group_of=group_of)
    assert [job.job_id for job in found] == [held_id]
    assert (
        await find_by_tag(ScriptedRunner(answer), "suan:none", cluster="pi", group_of=group_of)
        == []
    )
