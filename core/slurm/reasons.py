"""Why a job waits, in plain words.

Slurm's pending reasons are terse identifiers (``QOSMaxJobsPerUserLimit``). A user wants
to know whether to wait, change the job, or ask someone. ``explain_reason`` keeps Slurm's
word available (callers show both) and never raises on a reason it does not know.
"""

from __future__ import annotations

import re

#: Reason → what it means for the user. Grouped by what the user can do about it.
REASONS: dict[str, str] = {
    # Normal waiting: nothing to do.
    "None": "No reason recorded.",
    "Resources": "Waiting for enough free nodes, CPUs, memory or GPUs.",
    "Priority": "Other jobs ahead in the queue have higher priority.",
    "Prolog": "The job's prolog is running on the allocated nodes.",
    "Configuring": "The allocated nodes are booting or being configured.",
    "BeginTime": "The job was submitted with a start time (--begin) still in the future.",
    "Cleaning": "The job is being requeued and still cleaning up a previous run.",
    "Reservation": "Waiting for its advanced reservation to become usable.",
    "NodeDown": "A node the job needs is down.",
    "PartitionNodeLimit": "The job asks for more nodes than the partition allows.",
    "SchedDefer": "The scheduler deferred starting it right at submission; it will retry.",
    "FrontEndDown": "No front-end node is available to run the job.",
    "BadConstraints": "The job's constraints cannot be met by any node.",
    "PowerUpNode": "The nodes the job needs are powering up.",
    # Dependencies.
    "Dependency": "Waiting for the jobs it depends on to finish.",
    "DependencyNeverSatisfied": (
        "A job it depends on ended in a way that will never satisfy the dependency: "
        "this job will not start. Cancel it, or fix the dependency."
    ),
    # Held.
    "JobHeldUser": "You held this job (scontrol hold): release it to let it run.",
    "JobHeldAdmin": "An administrator held this job: ask the HPC staff to release it.",
    "launch failed requeued held": (
        "Slurm could not launch the job, requeued it and held it: ask the HPC staff."
    ),
    "JobLaunchFailure": "Slurm could not launch the job on its nodes.",
    "BadConstraintsHeld": "Held because its constraints cannot be met.",
    # The partition.
    "PartitionDown": "The partition is down: the job waits until it is brought back up.",
    "PartitionInactive": "The partition is inactive: it accepts no jobs for now.",
    "PartitionTimeLimit": (
        "The requested time limit exceeds the partition's maximum: it will never start "
        "there. Lower --time or choose another partition."
    ),
    "PartitionConfig": "The job's request does not fit the partition's configuration.",
    "ReqNodeNotAvail": (
        "A node the job needs is not available (down, drained or reserved, e.g. for maintenance)."
    ),
    "InvalidAccount": "The job's account is invalid.",
    "InvalidQOS": "The job's QOS is invalid.",
    "AccountNotAllowed": "The account is not allowed to use this partition.",
    "QOSNotAllowed": "The QOS is not allowed in this partition.",
    # Limits of the association / QOS.
    "JobArrayTaskLimit": "The array's limit on tasks running at once (--array=...%N) is reached.",
    "QOSMaxJobsPerUserLimit": "You already run as many jobs as your QOS allows at once.",
    "QOSMaxSubmitJobPerUserLimit": "You have as many queued jobs as your QOS allows.",
    "QOSMaxCpuPerUserLimit": "You already use as many CPUs as your QOS allows at once.",
    "QOSMaxGRESPerUser": "You already use as many GPUs as your QOS allows at once.",
    "QOSMaxNodePerUserLimit": "You already use as many nodes as your QOS allows at once.",
    "QOSMaxWallDurationPerJobLimit": "The requested time exceeds your QOS's maximum.",
    "QOSGrpCpuLimit": "The QOS's total CPUs in use are at their limit.",
    "QOSGrpGRES": "The QOS's total GPUs in use are at their limit.",
    "QOSGrpNodeLimit": "The QOS's total nodes in use are at their limit.",
    "QOSGrpJobsLimit": "The QOS's running jobs are at their limit.",
    "QOSResourceLimit": "A resource limit of the QOS is reached.",
    "AssocGrpCpuLimit": "Your group (account) uses as many CPUs as it may at once.",
    "AssocGrpGRES": "Your group (account) uses as many GPUs as it may at once.",
    "AssocGrpMemLimit": "Your group (account) uses as much memory as it may at once.",
    "AssocGrpNodeLimit": "Your group (account) uses as many nodes as it may at once.",
    "AssocGrpJobsLimit": "Your group (account) runs as many jobs as it may at once.",
    "AssocGrpSubmitJobsLimit": "Your group (account) has as many queued jobs as it may.",
    "AssocGrpCPUMinutesLimit": "Your group (account) has used up its CPU-minutes.",
    "AssocGrpBillingMinutes": "Your group (account) has used up its billing minutes.",
    "AssocMaxJobsLimit": "You run as many jobs as your account association allows.",
    "AssocMaxCpuPerJobLimit": "The job asks for more CPUs than one job may have.",
    "AssocMaxWallDurationPerJobLimit": "The requested time exceeds your account's maximum.",
    "AssocMaxNodePerJobLimit": "The job asks for more nodes than one job may have.",
    "MaxCpuPerAccount": "The account uses as many CPUs as it may.",
    "Licenses": "Waiting for licenses.",
    "BurstBufferResources": "Waiting for burst-buffer resources.",
    "DeadLine": "The job's deadline cannot be met.",
    "NonZeroExitCode": "The job ended with a non-zero exit code.",
    "TimeLimit": "The job reached its time limit.",
    "OutOfMemory": "The job used more memory than it asked for.",
    "SystemFailure": "A node or Slurm failure ended the job.",
    "InactiveLimit": "The job reached the system's inactivity limit.",
    "WaitingForScheduling": "The scheduler has not looked at this job yet.",
}

#: Reasons after which the job will never start on its own.
STUCK_REASONS = frozenset(
    {
        "DependencyNeverSatisfied",
        "JobHeldUser",
        "JobHeldAdmin",
        "PartitionTimeLimit",
        "PartitionConfig",
        "InvalidAccount",
        "InvalidQOS",
        "AccountNotAllowed",
        "QOSNotAllowed",
        "BadConstraints",
        "BadConstraintsHeld",
        "launch failed requeued held",
        "AssocGrpCPUMinutesLimit",
        "AssocGrpBillingMinutes",
    }
)

_SEPARATORS = re.compile(r"[,_ ]+")


def reason_key(reason: str) -> str:
    """The reason word itself: ``(ReqNodeNotAvail, UnavailableNodes:n1)`` → ``ReqNodeNotAvail``.

    squeue wraps reasons in parentheses in some columns, adds details after a comma, and
    scontrol writes spaces as underscores (``launch_failed_requeued_held``).
    """
    text = reason.strip().strip("()").strip()
    normalised = _SEPARATORS.sub(" ", text).strip()
    if normalised.lower() == "launch failed requeued held":
        return "launch failed requeued held"
    return re.split(r"[,\s]", text, maxsplit=1)[0]


def explain_reason(reason: str) -> str:
    """Plain words for a pending reason; Slurm's own word for one this does not know."""
    key = reason_key(reason)
    if not key:
        return ""
    if key in REASONS:
        words = REASONS[key]
        detail = reason.strip().strip("()")[len(key) :].lstrip(", ").strip()
        if detail and key == "ReqNodeNotAvail":
            words = f"{words} ({detail})"
        return words
    lowered = {k.lower(): v for k, v in REASONS.items()}
    if key.lower() in lowered:
        return lowered[key.lower()]
    if key.startswith(("QOS", "Assoc")) and "Limit" in key:
        return f"A limit of your QOS or account is reached ({key})."
    return key


def is_stuck(reason: str) -> bool:
    """True when the job will not start without someone doing something."""
    return reason_key(reason) in STUCK_REASONS
