"""Cancelling: ``scancel`` and then a look at what really happened.

scancel exits 0 for a job that does not exist and prints nothing, and a running job
passes through COMPLETING before it is CANCELLED. So the outcome of each job is read back
from squeue (and sacct once the controller has forgotten the job), polling until the
state settles or a deadline passes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence

from core.errors import NotFound
from core.runner import CommandRunner
from core.slurm.common import INVALID_JOB, command_error, run_slurm, slurm_message
from core.slurm.markers import Marker
from core.slurm.models import CancelOutcome, JobState

_JOB_ID = re.compile(r"^\d+(?:_\d+)?$")
_KILL_ERROR = re.compile(r"job id (\S+?):\s*(.+)$")

#: States that show the cancel has not finished yet.
_SETTLING = frozenset(
    {JobState.COMPLETING, JobState.RUNNING, JobState.CONFIGURING, JobState.PENDING}
)

_STATE_FIELDS = ("%i", "%F", "%K", "%T")


def scancel_argv(job_ids: Sequence[str]) -> list[str]:
    """``scancel ID ...``; ids are checked so none can pass for an option."""
    for job_id in job_ids:
        if not _JOB_ID.match(job_id):
            raise NotFound(f"{job_id!r} is not a job id (expected 1234 or 1234_5).")
    return ["scancel", *job_ids]


def parse_scancel_errors(stderr: str) -> dict[str, str]:
    """Job id → Slurm's complaint, from lines like
    ``scancel: error: Kill job error on job id 1234: Access/permission denied``."""
    errors: dict[str, str] = {}
    for line in stderr.splitlines():
        match = _KILL_ERROR.search(line)
        if match:
            errors[match.group(1)] = match.group(2).strip()
    return errors


def states_argv(marker: Marker, job_ids: Sequence[str]) -> list[str]:
    """``squeue -h -r -t all -j IDS -o <id, array id, task, state>``."""
    return [
        "squeue",
        "-h",
        "-r",
        "-t",
        "all",
        "-j",
        ",".join(job_ids),
        "-o",
        marker.format(_STATE_FIELDS),
    ]


def parse_states(text: str, marker: Marker, job_ids: Sequence[str]) -> dict[str, list[JobState]]:
    """Requested id → the states of its rows (several for an array master id)."""
    out: dict[str, list[JobState]] = {}
    for job_id, array_id, task, state in marker.records(text, len(_STATE_FIELDS)):
        for wanted in job_ids:
            is_master = "_" not in wanted and task not in ("N/A", "") and array_id == wanted
            if wanted == job_id or is_master:
                out.setdefault(wanted, []).append(JobState.parse(state))
    return out


def sacct_states_argv(marker: Marker, job_ids: Sequence[str]) -> list[str]:
    """``sacct -X -n -p --delimiter=<marker> -o JobID,State -j IDS``."""
    return [
        "sacct",
        "-X",
        "-n",
        "-p",
        f"--delimiter={marker.field}",
        "-o",
        "JobID,State",
        f"--jobs={','.join(job_ids)}",
    ]


def parse_sacct_states(
    text: str, marker: Marker, job_ids: Sequence[str]
) -> dict[str, list[JobState]]:
    """Requested id → states, from :func:`sacct_states_argv` output."""
    out: dict[str, list[JobState]] = {}
    for job_id, state in marker.delimited_records(text, 2):
        for wanted in job_ids:
            if wanted == job_id or ("_" not in wanted and job_id.startswith(f"{wanted}_")):
                out.setdefault(wanted, []).append(JobState.parse(state))
    return out


async def _query_states(runner: CommandRunner, job_ids: Sequence[str]) -> dict[str, list[JobState]]:
    marker = Marker.new()
    result = await run_slurm(runner, states_argv(marker, job_ids))
    if result.ok:
        states = parse_states(result.stdout, marker, job_ids)
    elif INVALID_JOB in result.stderr:
        states = {}
    else:
        raise command_error(result, "Checking the cancelled jobs")
    missing = [job_id for job_id in job_ids if job_id not in states]
    if missing:
        marker = Marker.new()
        result = await run_slurm(runner, sacct_states_argv(marker, missing))
        if result.ok:
            states.update(parse_sacct_states(result.stdout, marker, missing))
    return states


def _settled(states: list[JobState]) -> bool:
    return not any(state in _SETTLING for state in states)


def _summary(states: list[JobState]) -> JobState:
    """One state for a job or array: CANCELLED only if every task is."""
    if all(state is JobState.CANCELLED for state in states):
        return JobState.CANCELLED
    unsettled = [state for state in states if state in _SETTLING]
    return unsettled[0] if unsettled else states[0]


def _outcome(job_id: str, states: list[JobState] | None, error: str | None) -> CancelOutcome:
    if error and ("permission" in error.lower() or "access" in error.lower()):
        state = _summary(states) if states else None
        return CancelOutcome(job_id, False, state, f"Permission denied: {error}")
    if not states:
        return CancelOutcome(job_id, False, None, "No such job on this cluster.")
    state = _summary(states)
    if state is JobState.CANCELLED:
        return CancelOutcome(job_id, True, state, "Cancelled.")
    if state is JobState.COMPLETING:
        return CancelOutcome(job_id, True, state, "Cancelled; the job is still cleaning up.")
    if state.is_finished:
        return CancelOutcome(job_id, False, state, f"Already finished ({state.value}).")
    detail = f": {error}" if error else ""
    return CancelOutcome(job_id, False, state, f"Still {state.value.lower()}{detail}.")


async def cancel(
    runner: CommandRunner,
    job_ids: Sequence[str],
    *,
    settle_timeout: float = 15.0,
    poll_interval: float = 0.25,
) -> list[CancelOutcome]:
    """Cancel ``job_ids`` and report, per job, what the cluster says happened.

    A job that is not ours comes back ``cancelled=False`` with "Permission denied"; an
    unknown id comes back ``cancelled=False`` with state None. A running job is given
    ``settle_timeout`` seconds to leave COMPLETING.
    """
    if not job_ids:
        return []
    ids = list(dict.fromkeys(job_ids))
    result = await run_slurm(runner, scancel_argv(ids))
    errors = parse_scancel_errors(result.stderr)
    if not result.ok and not errors and result.exit_status == 127:
        raise command_error(result, "Cancelling")
    if not result.ok and not errors:
        # A failure not tied to one job (the controller is down, or a single job's
        # "Access/permission denied" without its id): it concerns every job asked for.
        message = slurm_message(result.stderr) or f"scancel exited {result.exit_status}"
        errors = dict.fromkeys(ids, message)
    watched = [job_id for job_id in ids if job_id not in errors]
    deadline = time.monotonic() + settle_timeout
    states = await _query_states(runner, ids)
    while watched and time.monotonic() < deadline:
        if all(_settled(states.get(job_id, [])) for job_id in watched):
            break
        await asyncio.sleep(poll_interval)
        states.update(await _query_states(runner, watched))
    return [_outcome(job_id, states.get(job_id), errors.get(job_id)) for job_id in ids]
