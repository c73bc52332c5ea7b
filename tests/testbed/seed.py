"""Seed the testbed with a realistic job mix, once per testbed life.

Every job is submitted as its user with ``runuser -u USER -- env -i … sbatch --parsable``
from the user's home on that cluster, exactly as a login session would. The ids go to
``$TESTBED/seeded.json``, whose presence also marks the testbed as seeded.

Keys of ``seeded.json`` (value: the job id as text; for the array, the array's job id):

Cluster ``pi`` (partition ``cpu`` unless said), user hpcuser:
    ``pi_running``       a long ``sleep``, RUNNING
    ``pi_completed``     COMPLETED quickly (prints a line)
    ``pi_failed``        FAILED, exit code 3 (stderr has a line)
    ``pi_cancelled``     CANCELLED by its user after it started
    ``pi_timeout``       ``-t 1`` sleeping longer: reaches TIMEOUT ~76 s after it started
    ``pi_cpuburn``       2 CPUs × 5 s of CPU time, 64 MiB held, COMPLETED: real efficiency
    ``pi_colour_log``    ``-J colour-log -o %x-%j.out -e %x-%j.err``: ANSI colours, carriage-
                         return progress and an ``ERROR`` line on stdout, a warning on stderr
    ``pi_array``         ``--array=1-6%2`` of long sleeps: 2 running, 4 pending (JobArrayTaskLimit)
    ``pi_held``          ``--hold``: pending JobHeldUser
    ``pi_dependency``    ``afterok`` on ``pi_running``: pending Dependency
    ``pi_begin``         ``--begin=now+1day``: pending BeginTime
    ``pi_down``          on partition ``huge`` (DOWN): pending PartitionDown
    ``pi_nasty_pipe``, ``pi_nasty_brackets``, ``pi_nasty_quotes``, ``pi_nasty_subst``,
    ``pi_nasty_cjk``, ``pi_nasty_escape``, ``pi_nasty_newline``
                         long sleeps, RUNNING, named by ``NASTY_NAMES`` below
Group ``kp`` (partition ``arm128c256g``, scheduled by the ``pi`` controller), hpcuser:
    ``kp_busy``          2 nodes × 100 CPUs, RUNNING (leaves 28 CPUs per node)
    ``kp_running``       4 CPUs, RUNNING
    ``kp_resources``     a whole node: pending Resources
    ``kp_priority``      64 CPUs on one node, queued behind it: pending Priority
Cluster ``sy``, hpcuser:
    ``sy_running``       partition ``small``, long sleep, RUNNING
    ``sy_completed``     partition ``small``, COMPLETED
    ``sy_gpu``           partition ``a100``, ``--gres=gpu:2``, long sleep, RUNNING
User otheruser:
    ``other_running``    pi ``cpu``, long sleep, RUNNING
    ``other_completed``  pi ``cpu``, COMPLETED
    ``other_sy_running`` sy ``small``, long sleep, RUNNING

Running jobs use one CPU each (except ``kp_busy``), so ``cpu`` and ``small`` keep most of
their CPUs idle for tests that need jobs to start at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import layout as L
from daemons import TestbedError, run, wait_until

LONG_SLEEP = "sleep 518400"  # 6 days: inside the 7-day limit, beyond any test session

NASTY_NAMES = {
    "pi_nasty_pipe": "a|b|c",
    "pi_nasty_brackets": "[x] job[1]",
    "pi_nasty_quotes": 'it\'s "quoted"',
    "pi_nasty_subst": "$(id) `id`",
    "pi_nasty_cjk": "训练作业",
    "pi_nasty_escape": "\x1b[31mred\x1b[0m",
    "pi_nasty_newline": "first line\nsecond line",
}

COLOUR_LOG_SCRIPT = r"""#!/bin/bash
#SBATCH -J colour-log
#SBATCH -o %x-%j.out
#SBATCH -e %x-%j.err
#SBATCH -t 10
printf '\033[32mINFO\033[0m starting the run\n'
for pct in 0 20 40 60 80 100; do printf '\rprogress %3d%%' "$pct"; done
printf '\n'
printf '\033[1;33mWARN\033[0m learning rate is high\n'
printf '\033[1;31mERROR\033[0m step 3 failed: loss is NaN\n'
echo 'warning: something went to stderr' >&2
printf 'done\n'
"""

CPUBURN_SCRIPT = r"""#!/bin/bash
#SBATCH -J seed-cpuburn
#SBATCH -c 2
#SBATCH -t 5
# Each burner stops after 5 s of its own CPU time (so the totals do not depend on the load
# of the machine), or after 20 s of wall time on a very busy one.
burn='import time
end = time.monotonic() + 20
while time.process_time() < 5.0 and time.monotonic() < end:
    for _ in range(100000):
        pass'
python3 -c "held = b'x' * (64 << 20); $burn" &
python3 -c "$burn" &
wait
"""

GPU_SCRIPT = f"""#!/bin/bash
#SBATCH -J seed-gpu
#SBATCH -p a100
#SBATCH --gres=gpu:2
echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"
{LONG_SLEEP}
"""

FINISHED_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


def _cluster_of(key: str) -> str:
    return "sy" if key.startswith(("sy_", "other_sy_")) else "pi"


def _user_env(user: str, cluster: str, lay: L.Layout) -> list[str]:
    home = L.home_of("dssg" if cluster == "sy" else "lustre", user)
    return [
        "env", "-i", f"HOME={home}", f"USER={user}", f"LOGNAME={user}", "SHELL=/bin/bash",
        "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
        f"SLURM_CONF={lay.slurm_conf(cluster)}",
    ]  # fmt: skip


def as_user(
    lay: L.Layout, user: str, cluster: str, argv: Sequence[str], input_text: str | None = None
) -> str:
    """Run a command as ``user`` in a clean login-like environment; its stdout."""
    home = L.home_of("dssg" if cluster == "sy" else "lustre", user)
    proc = run(
        ["runuser", "-u", user, "--", *_user_env(user, cluster, lay), *argv],
        input_text=input_text,
        cwd=home,
    )
    return proc.stdout


def submit(
    lay: L.Layout,
    user: str,
    cluster: str,
    options: Sequence[str],
    *,
    wrap: str | None = None,
    script: str | None = None,
) -> str:
    """sbatch as ``user``; the job id."""
    argv = ["sbatch", "--parsable", *options]
    if wrap is not None:
        argv.append(f"--wrap={wrap}")
    out = as_user(lay, user, cluster, argv, input_text=script)
    job_id = out.strip().split(";")[0]
    if not job_id.isdigit():
        raise TestbedError(f"sbatch printed {out!r}")
    return job_id


def _squeue_states(lay: L.Layout, cluster: str) -> dict[str, str]:
    proc = run(
        ["squeue", "-h", "-r", "-o", "%A|%T"], env={"SLURM_CONF": str(lay.slurm_conf(cluster))}
    )
    states: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        job_id, _, state = line.partition("|")
        states[job_id.strip()] = state.strip()
    return states


def _sacct_states(lay: L.Layout, cluster: str, ids: Sequence[str]) -> dict[str, str]:
    proc = run(
        ["sacct", "-n", "-P", "-X", "-a", "-j", ",".join(ids), "-o", "JobID,State"],
        env={"SLURM_CONF": str(lay.slurm_conf(cluster))},
        check=False,
    )
    states: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        job_id, _, state = line.partition("|")
        states[job_id.strip()] = state.strip().split()[0] if state.strip() else ""
    return states


def seed(lay: L.Layout) -> dict[str, str]:
    """Submit the job mix, wait (≤ 30 s) for the quick ones, write seeded.json."""
    ids: dict[str, str] = {}

    def pi(key: str, options: Sequence[str], **kw: str) -> None:
        ids[key] = submit(lay, "hpcuser", "pi", options, **kw)

    # Long runners first so the dependency has its target.
    pi("pi_running", ["-J", "seed-running"], wrap=LONG_SLEEP)
    pi("pi_array", ["-J", "seed-array", "--array=1-6%2"], wrap=LONG_SLEEP)
    for key, name in NASTY_NAMES.items():
        pi(key, ["-J", name], wrap=LONG_SLEEP)
    pi("pi_completed", ["-J", "seed-completed", "-t", "5"], wrap="echo hello from the testbed")
    pi("pi_failed", ["-J", "seed-failed", "-t", "5"], wrap="echo about to fail >&2; exit 3")
    pi("pi_cancelled", ["-J", "seed-cancelled"], wrap="sleep 600")
    pi("pi_timeout", ["-J", "seed-timeout", "-t", "1"], wrap="sleep 600")
    pi("pi_cpuburn", [], script=CPUBURN_SCRIPT)
    pi("pi_colour_log", [], script=COLOUR_LOG_SCRIPT)
    pi("pi_held", ["-J", "seed-held", "--hold"], wrap="sleep 60")
    pi("pi_dependency", ["-J", "seed-dependency", f"--dependency=afterok:{ids['pi_running']}"],
       wrap="sleep 60")  # fmt: skip
    pi("pi_begin", ["-J", "seed-begin", "--begin=now+1day"], wrap="sleep 60")
    pi("pi_down", ["-J", "seed-huge", "-p", "huge"], wrap="sleep 60")

    arm = ["-p", "arm128c256g"]
    pi("kp_busy", [*arm, "-J", "seed-kp-busy", "-N", "2", "--ntasks-per-node=100"], wrap=LONG_SLEEP)
    pi("kp_running", [*arm, "-J", "seed-kp-running", "-n", "4"], wrap=LONG_SLEEP)
    pi("kp_resources", [*arm, "-J", "seed-kp-whole-node", "-N", "1", "-n", "128"], wrap=LONG_SLEEP)
    pi("kp_priority", [*arm, "-J", "seed-kp-behind", "-N", "1", "-n", "64"], wrap=LONG_SLEEP)

    ids["sy_running"] = submit(lay, "hpcuser", "sy", ["-J", "seed-sy-running"], wrap=LONG_SLEEP)
    ids["sy_completed"] = submit(
        lay, "hpcuser", "sy", ["-J", "seed-sy-completed", "-t", "5"], wrap="hostname; echo ok"
    )
    ids["sy_gpu"] = submit(lay, "hpcuser", "sy", [], script=GPU_SCRIPT)

    ids["other_running"] = submit(lay, "otheruser", "pi", ["-J", "other-running"], wrap=LONG_SLEEP)
    ids["other_completed"] = submit(
        lay, "otheruser", "pi", ["-J", "other-completed", "-t", "5"], wrap="echo other"
    )
    ids["other_sy_running"] = submit(
        lay, "otheruser", "sy", ["-J", "other-sy-running"], wrap=LONG_SLEEP
    )

    # Cancel after it started, as its owner, so sacct shows a real CANCELLED run.
    if not wait_until(
        lambda: _squeue_states(lay, "pi").get(ids["pi_cancelled"]) == "RUNNING", 15.0, 0.2
    ):
        raise TestbedError("the job to cancel never started")
    as_user(lay, "hpcuser", "pi", ["scancel", ids["pi_cancelled"]])

    quick = {
        "pi": ["pi_completed", "pi_failed", "pi_cancelled", "pi_cpuburn", "pi_colour_log",
               "other_completed"],
        "sy": ["sy_completed"],
    }  # fmt: skip
    running = {
        "pi": ["pi_running", "kp_busy", "kp_running", "other_running",
               *NASTY_NAMES],
        "sy": ["sy_running", "sy_gpu", "other_sy_running"],
    }  # fmt: skip

    def settled() -> bool:
        for cluster, keys in quick.items():
            states = _sacct_states(lay, cluster, [ids[k] for k in keys])
            if any(states.get(ids[k]) not in FINISHED_STATES for k in keys):
                return False
        for cluster, keys in running.items():
            states = _squeue_states(lay, cluster)
            if any(states.get(ids[k]) != "RUNNING" for k in keys):
                return False
        return True

    deadline = time.monotonic() + 30.0
    if not wait_until(settled, max(0.0, deadline - time.monotonic()), 0.5):
        raise TestbedError(f"seeded jobs did not settle within 30 s: {ids}")
    lay.seeded_file.write_text(json.dumps(ids, indent=2, ensure_ascii=False) + "\n")
    return ids
