"""Neutralise the environment variables that change what Slurm commands print or do.

A user's shell may set ``SQUEUE_FORMAT``, ``SACCT_FORMAT``, ``SLURM_TIME_FORMAT`` or
``SCANCEL_INTERACTIVE`` (which would make scancel wait for a "y" on stdin). Every argv
this package builds goes through :func:`slurm_argv`, so output is what the parsers expect
whatever the remote login shell exports.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.runner import with_env

#: Variables unset before every Slurm command. SLURM_CONF is kept on purpose: it is how
#: an entry node points its sessions at its own group's controller.
UNSET_VARS: tuple[str, ...] = (
    "SLURM_CLUSTERS",
    "SLURM_BITSTR_LEN",
    "SQUEUE_ACCOUNT",
    "SQUEUE_ALL",
    "SQUEUE_ARRAY",
    "SQUEUE_ARRAY_UNIQUE",
    "SQUEUE_FEDERATION",
    "SQUEUE_FORMAT",
    "SQUEUE_FORMAT2",
    "SQUEUE_LICENSES",
    "SQUEUE_LOCAL",
    "SQUEUE_NAMES",
    "SQUEUE_PARTITION",
    "SQUEUE_PRIORITY",
    "SQUEUE_QOS",
    "SQUEUE_SIBLING",
    "SQUEUE_SORT",
    "SQUEUE_STATES",
    "SQUEUE_USERS",
    "SINFO_ALL",
    "SINFO_FEDERATION",
    "SINFO_FORMAT",
    "SINFO_LOCAL",
    "SINFO_PARTITION",
    "SINFO_SORT",
    "SACCT_FEDERATION",
    "SACCT_FORMAT",
    "SACCT_LOCAL",
    "SCANCEL_ACCOUNT",
    "SCANCEL_BATCH",
    "SCANCEL_CTLD",
    "SCANCEL_FULL",
    "SCANCEL_HURRY",
    "SCANCEL_INTERACTIVE",
    "SCANCEL_NAME",
    "SCANCEL_PARTITION",
    "SCANCEL_QOS",
    "SCANCEL_STATE",
    "SCANCEL_USER",
    "SCANCEL_VERBOSE",
    "SCANCEL_WCKEY",
    "SBATCH_CLUSTERS",
)

#: Variables set before every Slurm command.
SET_VARS: dict[str, str] = {"SLURM_TIME_FORMAT": "standard"}


def slurm_argv(argv: Sequence[str]) -> list[str]:
    """``env -u ... SLURM_TIME_FORMAT=standard <argv>``: Slurm with a neutral environment."""
    prefixed = with_env(SET_VARS, argv)
    unset = [flag for name in UNSET_VARS for flag in ("-u", name)]
    # with_env yields ["env", "K=V", ..., *argv]; env's -u options must come before the
    # assignments, so they go right after "env".
    return [prefixed[0], *unset, *prefixed[1:]]
