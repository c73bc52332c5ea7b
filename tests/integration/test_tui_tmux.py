"""The real ``suan`` in a real terminal (tmux) against the live testbed, end to end.

A fresh data directory (not logged in): the password is typed in the login screen, the
second factor is approved through the API stand-in's control URL, the seeded jobs show
(the CJK name too), the colour log opens from the history with its ERROR line, and a job
submitted for the test is found with the filter, cancelled after the confirmation that
names it, and checked CANCELLED with sacct as its user. Every key is sent only after the
screen shows that the previous one was handled (a key sent too early can reach the
widget that had the focus before).

The first tests check the tmux driver itself with small shell programs (no testbed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import write_config
from tests.testbed_env import TestbedEnv
from tests.tmux_driver import TmuxError, TmuxSession

REPO = Path(__file__).resolve().parents[2]
HOME_PI = "/lustre/home/acct-hpc/hpcuser"  # hpcuser's home on the pi cluster

# runuser lives in /usr/sbin, which a minimal PATH (CI's) may lack.
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"

# Generous per-step deadlines: CI runs this on 2 busy cores. Each wait ends as soon as
# the screen shows what it waits for, so a healthy run takes a fraction of this.
STEP = 30.0


def _base_env(home: Path) -> dict[str, str]:
    """What the program in tmux gets, and nothing else (no TERM: the driver sets it)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    # The isolation the autouse fixture set up (XDG dirs, no keyring) reaches the app too.
    for key, value in os.environ.items():
        if key.startswith("XDG_") or key == "PYTHON_KEYRING_BACKEND":
            env[key] = value
    return env


# --- the driver itself -------------------------------------------------------------------


def test_driver_types_reads_and_reports_exit_status(tmp_path: Path) -> None:
    script = (
        'printf "ready\\n"; read -r line; printf "got <%s> 训练作业 %s\\n" "$line" "$TERM"; exit 7'
    )
    with TmuxSession(["bash", "-c", script], env=_base_env(tmp_path)) as tmux:
        tmux.wait_for("ready", timeout=STEP)
        tmux.send_text("a b;$(x)")
        tmux.send_keys("Enter")
        screen = tmux.wait_for(re.compile(r"got <.*> 训练作业"), timeout=STEP)
        assert "got <a b;$(x)> 训练作业 xterm-256color" in screen
        assert tmux.wait_exit(timeout=STEP) == 7


def test_driver_secret_is_typed_but_not_echoed(tmp_path: Path) -> None:
    script = 'printf "pw?\\n"; read -rs pw; printf "len=%s\\n" "${#pw}"'
    with TmuxSession(["bash", "-c", script], env=_base_env(tmp_path)) as tmux:
        tmux.wait_for("pw?", timeout=STEP)
        tmux.send_secret("s3cret value")
        tmux.send_keys("Enter")
        screen = tmux.wait_for("len=", timeout=STEP)
        assert "len=12" in screen
        assert "s3cret" not in screen


def test_driver_timeout_shows_the_last_screen(tmp_path: Path) -> None:
    with TmuxSession(
        ["bash", "-c", "echo on-screen; sleep 60"], env=_base_env(tmp_path), width=40, height=5
    ) as tmux:
        tmux.wait_for("on-screen", timeout=STEP)
        with pytest.raises(TmuxError) as caught:
            tmux.wait_for("never shown", timeout=0.3)
    message = str(caught.value)
    assert "'never shown'" in message
    assert "| on-screen" in message


def test_driver_fails_fast_when_the_program_exits(tmp_path: Path) -> None:
    with TmuxSession(["bash", "-c", "echo bye; exit 3"], env=_base_env(tmp_path)) as tmux:
        started = time.monotonic()
        with pytest.raises(TmuxError, match=r"exited \(status 3\)"):
            tmux.wait_for("never shown", timeout=STEP)
        assert time.monotonic() - started < STEP / 2


def test_driver_close_kills_a_program_that_ignores_hangup(tmp_path: Path) -> None:
    marker = f"hup-proof-{uuid.uuid4().hex[:8]}"
    script = f"trap '' HUP; echo {marker}; exec -a {marker} sleep 300"
    tmux = TmuxSession(["bash", "-c", script], env=_base_env(tmp_path))
    with tmux:
        tmux.wait_for(marker, timeout=STEP)
        pid = tmux.pane_pid
        assert pid is not None
    assert tmux.pane_pid is None
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == ""


def test_driver_works_without_term_or_tty(tmp_path: Path) -> None:
    """CI's conditions: no TERM, no TTY, a minimal environment around the driver."""
    code = (
        "from tests.tmux_driver import TmuxSession\n"
        "import os\n"
        "env = {'PATH': os.environ['PATH'], 'HOME': os.environ['HOME']}\n"
        "with TmuxSession(['bash', '-c', 'echo term=$TERM; sleep 30'], env=env) as t:\n"
        "    print(t.wait_for('term=', timeout=30).splitlines()[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=True,  # no controlling terminal either
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "term=xterm-256color"


# --- the real suan against the testbed ---------------------------------------------------


def _as_hpcuser(testbed: TestbedEnv, *argv: str) -> subprocess.CompletedProcess[str]:
    """A Slurm command as hpcuser on the pi cluster, the way a login session runs it."""
    home = HOME_PI
    session_env = [
        f"HOME={home}", "USER=hpcuser", "LOGNAME=hpcuser",
        "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
        f"SLURM_CONF={testbed['SLURM_CONF_PI']}",
    ]  # fmt: skip
    return subprocess.run(
        [RUNUSER, "-u", "hpcuser", "--", "env", "-i", *session_env, *argv],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def own_job(testbed: TestbedEnv) -> Iterator[tuple[str, str]]:
    """(job id, unique name) of a ``sleep 300`` job of hpcuser's; cancelled afterwards
    whatever the test did, so a failure leaves nothing running."""
    name = f"tmux-e2e-{uuid.uuid4().hex[:8]}"
    result = _as_hpcuser(
        testbed,
        "sbatch", "--parsable", "-J", name, "-p", "cpu", "-t", "10",
        "-D", HOME_PI, "-o", "/dev/null", "--wrap", "sleep 300",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip().split(";")[0]
    assert job_id.isdigit(), result.stdout
    try:
        yield job_id, name
    finally:
        _as_hpcuser(testbed, "scancel", job_id)


def _approve(testbed: TestbedEnv, user: str, timeout: float = STEP) -> None:
    """Approve ``user``'s pending second-factor request(s), polling until one shows."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=testbed.control_url.rstrip("/"), timeout=10) as client:
        while True:
            response = client.get("/pending")
            response.raise_for_status()
            mine = [item for item in response.json() if item["user"] == user]
            for item in mine:
                client.post("/approve", json={"id": item["id"]}).raise_for_status()
            if mine:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"no second-factor request from {user} to approve")
            time.sleep(0.1)


def _sacct_state(testbed: TestbedEnv, job_id: str) -> str:
    result = _as_hpcuser(testbed, "sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _filter_jobs(tmux: TmuxSession, text: str) -> list[str]:
    """Filter the jobs table (``/``, the text, enter); the rows it then shows."""
    tmux.send_keys("/")
    # The filter field opens and takes the focus: the table's keys leave the footer.
    tmux.wait_until(lambda s: "filter: id, name" in s and "space Mark" not in s, "the filter", STEP)
    tmux.send_text(text)
    tmux.wait_for(f"filter {text}", timeout=STEP)
    tmux.send_keys("Enter")
    screen = tmux.wait_for("space Mark", timeout=STEP)  # the table has the focus again
    table = screen.split("JOBID", 1)[-1]
    return [line for line in table.splitlines() if re.match(r"^\s*\d{3,}", line)]


def _line_of(screen: str, needle: str) -> str:
    return next((line for line in screen.splitlines() if needle in line), "")


@pytest.mark.testbed
@pytest.mark.timeout(240)
def test_suan_in_tmux_login_jobs_log_and_cancel(
    testbed: TestbedEnv, tmp_path: Path, data_dir: Path, own_job: tuple[str, str]
) -> None:
    job_id, job_name = own_job
    seeded = testbed.seeded()
    config = write_config(testbed, tmp_path / "config.toml", data_dir)
    env = _base_env(tmp_path) | {"SUAN_CONFIG": str(config)}
    suan = REPO / ".venv" / "bin" / "suan"
    argv = [str(suan)] if suan.exists() else [sys.executable, "-m", "core.cli"]

    started = time.monotonic()
    with TmuxSession(argv, env=env, width=100, height=30, cwd=REPO) as tmux:
        # Login: the fresh data dir has no certificate, so the login screen comes first.
        tmux.wait_for("Log in to SJTU HPC", timeout=STEP)
        password = testbed.password("hpcuser")
        # Pasted and sent at once, as a person pasting a password does: the login screen
        # must not send the password before the field has taken every character in.
        tmux.send_secret(password)
        tmux.send_keys("Enter")
        tmux.wait_for("Waiting for your approval", timeout=STEP)
        _approve(testbed, "hpcuser")
        screen = tmux.wait_for("Press enter to continue", timeout=STEP)
        assert "Certificate received" in screen
        assert password not in screen
        tmux.send_keys("Enter")

        # My jobs: the seeded ones (a job of other tests' can scroll rows further down
        # off the 30 rows, so the rest is looked for through the filter).
        screen = tmux.wait_for(
            re.compile(rf"^\s*{seeded['pi_running']}\s+seed-running\b", re.MULTILINE),
            timeout=STEP,
        )
        assert "My jobs" in screen
        assert "space Mark" in screen  # the table has the focus (its keys are in the footer)
        # The CJK name, typed into the filter through the terminal, and shown intact.
        rows = _filter_jobs(tmux, "训练作业")
        assert len(rows) == 1, rows
        assert re.match(rf"^\s*{seeded['pi_nasty_cjk']}\s+训练作业\s+cpu\s+RUNNING", rows[0])
        tmux.send_keys("Escape")
        tmux.wait_until(lambda s: "filter 训练作业" not in s, "the filter cleared", STEP)

        # The colour log, from the history (the job has finished): its ERROR line shows.
        tmux.send_keys("3")
        tmux.wait_for(re.compile(r"\d+ jobs since"), timeout=STEP)
        before = _line_of(tmux.capture(styled=True), "Name")
        tmux.send_keys("/")
        # The name field's look changes when it takes the focus: only then type into it.
        tmux.wait_until(
            lambda s: _line_of(s, "Name") != before, "the name field's focus", STEP, styled=True
        )
        tmux.send_text("colour-log")
        tmux.wait_for("Name  colour-log", timeout=STEP)
        tmux.send_keys("Enter")
        colour = seeded["pi_colour_log"]
        tmux.wait_for(re.compile(rf"^\s*{colour}\s+colour-log\s+COMPLETED", re.M), timeout=STEP)
        tmux.wait_for(re.compile(r"^\s*1 jobs since", re.M), timeout=STEP)
        tmux.send_keys("o")
        screen = tmux.wait_for("ERROR step 3 failed: loss is NaN", timeout=STEP)
        assert f"colour-log-{colour}.out" in screen
        assert "INFO starting the run" in screen
        assert "\x1b" not in screen
        tmux.send_keys("Escape")
        tmux.wait_for(re.compile(r"^\s*1 jobs since", re.M), timeout=STEP)

        # Back to the jobs; filter down to the test's job.
        tmux.send_keys("1")
        tmux.wait_for("My jobs", timeout=STEP)
        rows = _filter_jobs(tmux, job_name)
        assert len(rows) == 1, rows
        assert re.match(rf"^\s*{job_id}\s+{job_name}\s+cpu\s", rows[0]), rows

        # Cancel: the confirmation names the job; y; the verified result.
        tmux.send_keys("c")
        screen = tmux.wait_for("Cancel 1 job?", timeout=STEP)
        assert re.search(rf"{job_id}\s+{job_name}", screen), screen
        tmux.send_keys("y")
        screen = tmux.wait_for("Cancelled 1 of 1", timeout=STEP)
        assert re.search(rf"{job_id}\s+cancelled \(CANCELLED\)", screen), screen
        tmux.send_keys("Enter")
        tmux.wait_until_gone("Cancelled 1 of 1", timeout=STEP)

        tmux.send_keys("q")
        assert tmux.wait_exit(timeout=STEP) == 0

    # What Slurm says, asked as the job's user: not in the queue, CANCELLED in sacct.
    queue = _as_hpcuser(testbed, "squeue", "-h", "-j", job_id, "-o", "%T")
    assert queue.stdout.strip() in ("", "CANCELLED"), queue.stdout
    deadline = time.monotonic() + STEP
    state = _sacct_state(testbed, job_id)
    while not state.startswith("CANCELLED") and time.monotonic() < deadline:
        time.sleep(0.2)
        state = _sacct_state(testbed, job_id)
    assert state.startswith("CANCELLED"), state
    assert time.monotonic() - started < 120
