"""scontrol -o show job: every field, values with spaces and look-alike keys."""

from __future__ import annotations

import pytest

from core.errors import NotFound, RemoteCommandError
from core.slurm.models import JobState
from core.slurm.scontrol import parse_fields, parse_show_job, scontrol_argv, show_job, split_records
from tests.unit.slurm.captured import ReplayRunner, ScriptedRunner, load
from tests.unit.slurm.nasty import NASTY_NAMES

CLUSTERS = ["pi", "sy"]


def group_of(partition: str) -> str:
    return "sy" if partition in {"small", "64c512g", "a100"} else "pi"


def test_argv() -> None:
    assert scontrol_argv("12_3") == ["scontrol", "-o", "show", "job", "12_3"]


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_name_with_key_lookalikes(cluster: str) -> None:
    captured = load(f"{cluster}-scontrol-nasty")
    job_id = captured.context["nasty_ids"][8]
    detail = parse_show_job(captured.stdout, job_id, cluster=cluster, group_of=group_of)
    assert detail.name == NASTY_NAMES[8]
    assert detail.user == "hpcuser"
    assert detail.account == "acct-hpc"
    assert detail.fields["GroupId"] == "acct-hpc(5000)"
    assert detail.group == cluster
    assert detail.fields["Comment"].startswith("suan:")
    assert not detail.fields["Comment"].endswith(" ")


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_name_with_newline(cluster: str) -> None:
    captured = load(f"{cluster}-scontrol-newline")
    job_id = captured.context["nasty_ids"][7]
    assert len(split_records(captured.stdout)) == 1
    detail = parse_show_job(captured.stdout, job_id, cluster=cluster, group_of=group_of)
    assert detail.name == "line1\nline2"
    assert detail.job_id == job_id


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_finished_job(cluster: str) -> None:
    captured = load(f"{cluster}-scontrol-finished")
    job_id = captured.context["burn_id"]
    detail = parse_show_job(captured.stdout, job_id, cluster=cluster, group_of=group_of)
    assert detail.state is JobState.COMPLETED
    assert detail.exit_code == "0:0"
    assert detail.start_time is not None
    assert detail.end_time is not None
    assert detail.end_time >= detail.start_time
    assert detail.run_time is not None
    assert detail.run_time >= 4
    assert detail.nodelist
    assert detail.stdout.endswith(f"slurm-{job_id}.out")
    assert detail.work_dir.endswith("/hpcuser")
    assert detail.command == ""  # submitted on stdin
    assert detail.name == "cpu-burn"
    assert detail.time_limit == 120
    assert detail.num_cpus == 1


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_held_and_dependent(cluster: str) -> None:
    held = load(f"{cluster}-scontrol-held")
    detail = parse_show_job(
        held.stdout, held.context["held_id"], cluster=cluster, group_of=group_of
    )
    assert detail.state is JobState.PENDING
    assert detail.reason == "JobHeldUser"
    dep = load(f"{cluster}-scontrol-dependency")
    detail = parse_show_job(dep.stdout, dep.context["dep_id"], cluster=cluster, group_of=group_of)
    assert detail.reason == "Dependency"
    assert detail.dependency == f"afterok:{dep.context['held_id']}(unfulfilled)"


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_array_records(cluster: str) -> None:
    captured = load(f"{cluster}-scontrol-array")
    array_id = captured.context["array_id"]
    records = split_records(captured.stdout)
    assert records
    detail = parse_show_job(captured.stdout, array_id, cluster=cluster, group_of=group_of)
    assert detail.array_job_id == array_id
    assert detail.array_task_id is not None


def test_gpu_job_fields() -> None:
    captured = load("sy-scontrol-gpu")
    detail = parse_show_job(
        captured.stdout, captured.context["gpu_id"], cluster="sy", group_of=group_of
    )
    assert detail.partition == "a100"
    assert "gres/gpu=2" in detail.tres
    assert detail.fields["TresPerNode"] == "gres:gpu:2"
    assert detail.group == "sy"


def test_paths_with_spaces_and_unknown_keys() -> None:
    line = (
        "JobId=7 JobName=x y UserId=u(1) GroupId=g(2) Account=a JobState=RUNNING "
        "Reason=None Partition=cpu NumNodes=1-1 NumCPUs=2 NewKey23=v "
        "Command=/my dir/run.sh --opt=1 WorkDir=/my dir StdErr=/my dir/e f.err "
        "StdIn=/dev/null StdOut=/my dir/o=1.out Power= TresPerNode=gres:gpu:1 "
    )
    fields = parse_fields(line)
    assert fields["JobName"] == "x y"
    assert fields["Command"] == "/my dir/run.sh --opt=1"
    assert fields["WorkDir"] == "/my dir"
    assert fields["StdErr"] == "/my dir/e f.err"
    assert fields["StdOut"] == "/my dir/o=1.out"
    assert fields["NewKey23"] == "v"
    assert fields["NumCPUs"] == "2"
    assert fields["TresPerNode"] == "gres:gpu:1"
    assert fields["Power"] == ""
    detail = parse_show_job(line, "7", cluster="pi", group_of=group_of)
    assert detail.num_nodes == 1
    assert detail.num_cpus == 2


def test_name_imitating_a_whole_run_of_keys() -> None:
    fake = "n UserId=x(9) GroupId=y(9) MCS_label=N/A Priority=1"
    line = (
        f"JobId=8 JobName={fake} UserId=u(1) GroupId=g(2) MCS_label=N/A Priority=5 "
        "Nice=0 Account=a QOS=normal JobState=PENDING Reason=Priority"
    )
    fields = parse_fields(line)
    assert fields["JobName"] == fake
    assert fields["UserId"] == "u(1)"
    assert fields["Priority"] == "5"


def test_no_record_is_not_found() -> None:
    with pytest.raises(NotFound):
        parse_show_job("", "1", cluster="pi", group_of=group_of)


async def test_show_job_end_to_end() -> None:
    captured = load("pi-scontrol-held")
    runner = ReplayRunner([captured])
    detail = await show_job(runner, captured.context["held_id"], cluster="pi", group_of=group_of)
    assert detail.reason == "JobHeldUser"


@pytest.mark.parametrize("cluster", CLUSTERS)
async def test_unknown_job_is_not_found(cluster: str) -> None:
    runner = ReplayRunner([load(f"{cluster}-scontrol-unknown")])
    with pytest.raises(NotFound):
        await show_job(runner, "999999999", cluster=cluster, group_of=group_of)


async def test_other_failures_are_remote_errors() -> None:
    runner = ScriptedRunner(
        lambda argv, n: (1, "", "slurm_load_jobs error: Unable to contact slurm controller\n")
    )
    with pytest.raises(RemoteCommandError):
        await show_job(runner, "1", cluster="pi", group_of=group_of)
