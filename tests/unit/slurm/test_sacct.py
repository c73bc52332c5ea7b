"""sacct: history, efficiency and batch scripts from captured real output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.errors import NotFound, RemoteCommandError
from core.slurm.markers import Marker
from core.slurm.models import JobState
from core.slurm.sacct import (
    EFFICIENCY_FIELDS,
    batch_script,
    efficiency,
    fold_efficiency,
    history,
    history_argv,
    job_record,
    parse_batch_script,
    parse_efficiency,
    parse_history,
)
from tests.unit.slurm.captured import ReplayRunner, ScriptedRunner, load
from tests.unit.slurm.nasty import NASTY_NAMES, accounting_name

CLUSTERS = ["pi", "sy"]


def group_of(partition: str) -> str:
    return "sy" if partition in {"small", "64c512g", "a100"} else "pi"


def test_history_argv() -> None:
    marker = Marker("4" * 16)
    shanghai = timezone(timedelta(hours=8))
    start = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    argv = history_argv(
        marker,
        start=start,
        end=start + timedelta(hours=1),
        user="hpcuser",
        states=["CD", "F"],
        name="x",
        tz=shanghai,
    )
    assert argv[:5] == ["sacct", "-n", "-p", f"--delimiter={marker.field}", "-o"]
    assert "-X" in argv
    assert "--starttime=2026-11-29T08:00:00" in argv
    assert "--endtime=2026-11-29T09:00:00" in argv
    assert "--user=hpcuser" in argv
    assert "--state=CD,F" in argv
    assert "--name=x" in argv
    assert "--allusers" in history_argv(marker, all_users=True, user="x")
    assert "-P" not in argv  # -p: the delimiter after the last field too
    # sacct 22.05 ends a --state window at its start unless told otherwise.
    assert "--endtime=now" in history_argv(marker, start=start, states=["CD"])
    assert not any(a.startswith("--endtime") for a in history_argv(marker, job_ids=["1"]))


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_nasty_names_round_trip(cluster: str) -> None:
    captured = load(f"{cluster}-sacct-nasty")
    assert captured.marker is not None
    records = parse_history(captured.stdout, captured.marker, cluster=cluster, group_of=group_of)
    by_id = {r.job_id: r for r in records}
    assert len(records) == len(NASTY_NAMES) + 1
    for job_id, name in zip(captured.context["nasty_ids"], NASTY_NAMES, strict=True):
        record = by_id[job_id]
        assert record.name == accounting_name(name)
        assert record.state is JobState.COMPLETED
        # The submit line keeps the name exactly as typed, quotes and all.
        assert f"--job-name={name}" in record.submit_line


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_history_fields(cluster: str) -> None:
    captured = load(f"{cluster}-sacct-nasty")
    assert captured.marker is not None
    records = parse_history(captured.stdout, captured.marker, cluster=cluster, group_of=group_of)
    burn = next(r for r in records if r.job_id == captured.context["burn_id"])
    assert burn.name == "cpu-burn"
    assert burn.user == "hpcuser"
    assert burn.account == "acct-hpc"
    assert burn.exit_code == "0:0"
    assert burn.elapsed is not None
    assert burn.elapsed >= 4
    assert burn.time_limit == 120
    assert burn.num_cpus == 1
    assert burn.num_nodes == 1
    assert burn.nodelist
    assert burn.work_dir.endswith("/hpcuser")
    assert burn.submit_line.startswith("sbatch ")
    assert burn.start_time is not None
    assert burn.end_time is not None
    assert burn.submit_time is not None
    assert burn.group == cluster
    assert burn.cluster == cluster


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_history_window(cluster: str) -> None:
    captured = load(f"{cluster}-sacct-history")
    assert captured.marker is not None
    records = parse_history(captured.stdout, captured.marker, cluster=cluster, group_of=group_of)
    assert len(records) >= len(NASTY_NAMES)
    assert {r.user for r in records} == {"hpcuser"}
    assert all("." not in r.job_id for r in records)  # -X: no steps
    # JobIDRaw is kept: an array task's own id, what %j expands to in its log's name.
    assert all(r.job_id_raw.isdigit() for r in records)
    assert all(r.job_id_raw == r.job_id for r in records if "_" not in r.job_id)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_efficiency_of_cpu_burn(cluster: str) -> None:
    captured = load(f"{cluster}-sacct-efficiency")
    assert captured.marker is not None
    burn_id = captured.context["burn_id"]
    eff = parse_efficiency(captured.stdout, captured.marker, burn_id)
    assert eff.job_id == burn_id
    assert eff.state is JobState.COMPLETED
    assert eff.alloc_cpus == 1
    assert eff.elapsed >= 4
    assert eff.total_cpu_seconds > 0
    assert eff.cpu_efficiency is not None
    assert 0 < eff.cpu_efficiency <= 1
    assert eff.max_rss_mb is not None
    assert eff.max_rss_mb > 10  # the script holds 64 MiB for a second
    assert eff.requested_mem_mb == (4000.0 if cluster == "pi" else 8000.0)
    assert eff.memory_efficiency == pytest.approx(eff.max_rss_mb / eff.requested_mem_mb)
    assert eff.gpus == 0
    assert eff.gpu_efficiency is None


def _row(**values: str) -> dict[str, str]:
    row = dict.fromkeys(EFFICIENCY_FIELDS, "")
    row.update(values)
    return row


def test_fold_with_gpus_and_per_cpu_memory() -> None:
    rows = [
        _row(
            JobID="9",
            State="COMPLETED",
            ElapsedRaw="100",
            AllocCPUS="4",
            NNodes="1",
            TotalCPU="00:00:00",
            CPUTimeRAW="400",
            ReqMem="1000Mc",
            AllocTRES="cpu=4,gres/gpu=2,gres/gpu:a100=2,node=1",
        ),
        _row(
            JobID="9.batch",
            TotalCPU="00:03:20",
            MaxRSS="2048000K",
            TRESUsageInAve="cpu=00:03:20,gres/gpuutil=150,mem=2000M",
        ),
        _row(JobID="9.extern", TotalCPU="00:00.001", MaxRSS="100K"),
    ]
    eff = fold_efficiency(rows, "9")
    assert eff.total_cpu_seconds == pytest.approx(200.001)
    assert eff.cpu_efficiency == pytest.approx(200.001 / 400)
    assert eff.requested_mem_mb == 4000.0
    assert eff.max_rss_mb == 2000.0
    assert eff.memory_efficiency == pytest.approx(0.5)
    assert eff.gpus == 2
    assert eff.gpu_efficiency == pytest.approx(0.75)


def test_fold_nothing_ran() -> None:
    rows = [_row(JobID="5", State="CANCELLED by 5001", ElapsedRaw="0", AllocCPUS="0")]
    eff = fold_efficiency(rows, "5")
    assert eff.state is JobState.CANCELLED
    assert eff.cpu_efficiency is None
    assert eff.memory_efficiency is None
    assert eff.max_rss_mb is None
    with pytest.raises(NotFound):
        fold_efficiency([], "5")


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_batch_script(cluster: str) -> None:
    captured = load(f"{cluster}-sacct-script")
    script = parse_batch_script(captured.stdout)
    assert script is not None
    assert script.startswith("#!/bin/bash\n# burn one CPU")
    assert script.endswith("time.sleep(1)'\n")
    assert parse_batch_script(load(f"{cluster}-sacct-script-unknown").stdout) is None
    assert parse_batch_script("Batch Script for 5\n----\nNONE\n") is None


async def test_async_calls_end_to_end() -> None:
    nasty = load("pi-sacct-nasty")
    eff = load("pi-sacct-efficiency")
    script = load("pi-sacct-script")
    runner = ReplayRunner([nasty, eff, script])
    burn_id = nasty.context["burn_id"]
    assert (await efficiency(runner, burn_id)).cpu_efficiency is not None
    text = await batch_script(runner, burn_id)
    assert text is not None
    assert text.startswith("#!/bin/bash")


async def test_job_record_and_history_through_runner() -> None:
    marker_answers: dict[str, str] = {}

    def answer(argv: tuple[str, ...], n: int) -> tuple[int, str, str]:
        sep = next(a for a in argv if a.startswith("--delimiter=")).split("=", 1)[1]
        marker_answers["sep"] = sep
        fields = ["7", "7", "job name", "hpcuser", "acct-hpc", "cpu", "COMPLETED", "0:0"]
        fields += ["2026-11-29T10:00:00"] * 3 + ["5", "10", "1", "1", "cas001", "/w", "sbatch x"]
        return 0, "".join(f"{f}{sep}" for f in fields) + "\n", ""

    runner = ScriptedRunner(answer)
    record = await job_record(runner, "7", cluster="pi", group_of=group_of)
    assert record.name == "job name"
    assert record.time_limit == 600
    records = await history(
        runner, cluster="pi", group_of=group_of, start=datetime.now(UTC) - timedelta(days=1)
    )
    assert [r.job_id for r in records] == ["7"]
    with pytest.raises(NotFound):
        await job_record(runner, "8_1", cluster="pi", group_of=group_of)


async def test_sacct_failure() -> None:
    runner = ScriptedRunner(
        lambda argv, n: (
            1,
            "",
            "sacct: error: Problem talking to the database: Connection refused\n",
        )
    )
    with pytest.raises(RemoteCommandError) as caught:
        await history(runner, cluster="pi", group_of=group_of, start=datetime.now(UTC))
    assert "database" in caught.value.message
