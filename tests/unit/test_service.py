"""The facade's own logic, with the transport swapped out: routing of a submission, and a
submit whose outcome is unknown being looked up by its tag, never sent twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.config import default_profile
from core.errors import NetworkError
from core.service import Suan, requested_partition
from core.slurm import sbatch
from core.slurm.models import Job, JobState
from tests.tui.hosts.jobs import make_job


@pytest.mark.parametrize(
    ("script", "options", "expected"),
    [
        ("#!/bin/bash\n#SBATCH -p a100\nsleep 1\n", [], "a100"),
        ("#!/bin/bash\n#SBATCH --partition=small,cpu\n", [], "small"),
        ("#!/bin/bash\n#SBATCH --partition small\n", [], "small"),
        ("#!/bin/bash\n#SBATCH -pdebug\n", [], "debug"),
        ("#!/bin/bash\necho hi\n#SBATCH -p a100\n", [], None),  # after a command: ignored
        ("#!/bin/bash\n#SBATCH -p a100\n", ["-p", "cpu"], "cpu"),  # options win
        ("#!/bin/bash\n", ["--partition=64c512g"], "64c512g"),
        ("#!/bin/bash\n", ["--mem=4G"], None),
    ],
)
def test_requested_partition(script: str, options: list[str], expected: str | None) -> None:
    assert requested_partition(script, options) == expected


def _suan(tmp_path: Path) -> Suan:
    from dataclasses import replace

    profile = replace(default_profile(), data_dir=tmp_path, username="hpcuser", secrets="file")
    return Suan(profile)


def _job(job_id: str, tag: str) -> Job:
    return make_job(
        job_id, partition="small", state=JobState.PENDING, cluster="sy", group="sy", comment=tag
    )


async def test_unknown_outcome_is_looked_up_by_tag_not_resubmitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    async def dropped_submit(runner: object, script: str, **kw: Any) -> object:
        calls.append(kw)
        raise NetworkError("connection lost")

    async def find_by_tag(runner: object, tag: str, **kw: Any) -> list[Job]:
        return [_job("500123", tag)]

    monkeypatch.setattr(sbatch, "submit", dropped_submit)
    monkeypatch.setattr(sbatch, "find_by_tag", find_by_tag)
    suan = _suan(tmp_path)
    result = await suan.submit("#!/bin/bash\n#SBATCH -p small\nsleep 1\n")
    assert len(calls) == 1  # never blindly retried
    assert (result.job_id, result.cluster, result.host) == ("500123", "sy", "sylogin")
    assert result.tag == calls[0]["tag"]


async def test_unknown_outcome_without_a_job_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def dropped_submit(runner: object, script: str, **kw: Any) -> object:
        raise NetworkError("connection lost")

    async def find_nothing(runner: object, tag: str, **kw: Any) -> list[Job]:
        return []

    monkeypatch.setattr(sbatch, "submit", dropped_submit)
    monkeypatch.setattr(sbatch, "find_by_tag", find_nothing)
    with pytest.raises(NetworkError):
        await _suan(tmp_path).submit("#!/bin/bash\nsleep 1\n", partition="cpu")
