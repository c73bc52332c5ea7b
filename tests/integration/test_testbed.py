"""The testbed keeps its promises: proved with plain OpenSSH and Slurm, not with suan's code.

Certificate-only logins on every entry node, each node reaching its own controller, storage
visibility and cold read-only per node, homes per group, accounting, the seeded jobs, and an
idempotent ``up``. The first tests need no testbed: they check the pid bookkeeping that
``down`` relies on to stop only what ``up`` started.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.openssh import Identity, make_identity, sftp_run, ssh_run, without_certificate
from tests.testbed_env import TestbedEnv

REPO = Path(__file__).resolve().parents[2]
TESTBED_CODE = REPO / "tests" / "testbed"

NODES = ("pilogin", "sylogin", "armlogin", "data", "sydata")
PI_PARTITIONS = "arm128c256g,cpu,debug,huge"
SY_PARTITIONS = "64c512g,a100,small"

# node → (cluster partitions, home pool, hot pools seen, cold pools writable)
EXPECTED: dict[str, tuple[str, str, set[str], bool]] = {
    "pilogin": (PI_PARTITIONS, "lustre", {"lustre"}, False),
    "sylogin": (SY_PARTITIONS, "dssg", {"dssg"}, False),
    "armlogin": (PI_PARTITIONS, "lustre", {"lustre"}, False),
    "data": (PI_PARTITIONS, "lustre", {"lustre", "dssg"}, True),
    "sydata": (SY_PARTITIONS, "dssg", {"lustre", "dssg"}, True),
}

SEEDED_KEYS = {
    "pi_running", "pi_completed", "pi_failed", "pi_cancelled", "pi_timeout", "pi_cpuburn",
    "pi_colour_log", "pi_array", "pi_held", "pi_dependency", "pi_begin", "pi_down",
    "pi_nasty_pipe", "pi_nasty_brackets", "pi_nasty_quotes", "pi_nasty_subst", "pi_nasty_cjk",
    "pi_nasty_escape", "pi_nasty_newline", "kp_busy", "kp_running", "kp_resources",
    "kp_priority", "sy_running", "sy_completed", "sy_gpu", "other_running", "other_completed",
    "other_sy_running",
}  # fmt: skip

# Prints key=value facts about the session it runs in; $1 is the raw storage directory.
PROBE = r"""
echo "user=$(whoami)"
echo "home=$HOME"
echo "pwd=$PWD"
echo "slurm_conf=$SLURM_CONF"
echo "partitions=$(sinfo -h -o %R | sort | paste -sd, -)"
for pool in lustre dssg archive vault union; do
    dir=/$pool/home/acct-hpc/$(whoami)
    if [ -d "$dir" ]; then echo "see_$pool=yes"; else echo "see_$pool=no"; fi
    probe=$dir/.testbed-probe-$$
    if ( : > "$probe" ) 2>/dev/null; then rm -f "$probe"; echo "write_$pool=yes";
    else echo "write_$pool=no"; fi
done
if [ -d "$1/lustre/home" ]; then echo raw=yes; else echo raw=no; fi
"""


# ---------------------------------------------------------------------------- no testbed


@functools.cache
def _load(name: str) -> ModuleType:
    """A testbed module (stdlib-only scripts, not a package) loaded from its file.

    Only ``daemons`` and ``layout`` are loaded: they import nothing local, so no path
    games are needed, and a private module name keeps them from shadowing anything.
    """
    spec = importlib.util.spec_from_file_location(
        f"_suan_testbed_{name}", TESTBED_CODE / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Any]:
    daemons = _load("daemons")
    reg = daemons.Registry(tmp_path / "pids")
    yield reg
    for name in reg.names():
        reg.stop(name, timeout=5.0)


def _sleeper(daemons: Any, tmp_path: Path, name: str = "sleeper") -> Any:
    return daemons.Daemon(
        name=name, argv=("/bin/sleep", "300"), exe="/bin/sleep", log=tmp_path / f"{name}.log"
    )


def test_registry_starts_checks_and_stops_by_record(registry: Any, tmp_path: Path) -> None:
    daemons = _load("daemons")
    record, started = registry.ensure(_sleeper(daemons, tmp_path))
    assert started
    assert registry.running("sleeper") == record
    again, started_again = registry.ensure(_sleeper(daemons, tmp_path))
    assert (again, started_again) == (record, False)
    assert registry.stop("sleeper")
    assert daemons.process_state(record.pid) in (None, "Z")
    assert registry.load("sleeper") is None


def test_registry_names_daemons_that_died_without_stop(registry: Any, tmp_path: Path) -> None:
    daemons = _load("daemons")
    alive = registry.start(_sleeper(daemons, tmp_path, "alive"))
    gone = registry.start(_sleeper(daemons, tmp_path, "gone"))
    assert registry.dead() == []
    os.kill(gone.pid, 9)
    assert _wait(lambda: registry.dead() == ["gone"])
    assert registry.running("alive") == alive


def _wait(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_registry_refuses_a_recycled_pid(registry: Any, tmp_path: Path) -> None:
    daemons = _load("daemons")
    record = registry.start(_sleeper(daemons, tmp_path))
    # Same pid, another start time: a different process that happens to reuse the pid.
    forged = daemons.Record("forged", record.pid, record.start_time + 1, record.exe, "x")
    registry.save(forged)
    assert registry.running("forged") is None
    assert not registry.stop("forged")
    assert daemons.process_state(record.pid) not in (None, "Z")  # left alone
    # Same pid and start time, but another binary than recorded.
    wrong_exe = daemons.Record("wrong", record.pid, record.start_time, "/usr/sbin/sshd", "x")
    assert not registry.alive(wrong_exe)
    assert registry.alive(record)


def test_registry_restarts_when_the_config_changes(registry: Any, tmp_path: Path) -> None:
    daemons = _load("daemons")
    config = tmp_path / "sleeper.conf"
    config.write_text("one\n")
    daemon = daemons.Daemon(
        name="sleeper",
        argv=("/bin/sleep", "300"),
        exe="/bin/sleep",
        log=tmp_path / "sleeper.log",
        inputs=(config,),
    )
    first, _ = registry.ensure(daemon)
    config.write_text("two\n")
    second, restarted = registry.ensure(daemon)
    assert restarted
    assert second.pid != first.pid
    assert daemons.process_state(first.pid) in (None, "Z")


def test_layout_files_have_the_promised_shapes(tmp_path: Path) -> None:
    layout = _load("layout")
    lay = layout.Layout(tmp_path, REPO)
    assert layout.known_hosts_text("ssh-ed25519 AAAA ca\n") == (
        "@cert-authority [127.0.0.*]:2222 ssh-ed25519 AAAA ca\n"
    )
    env = dict(
        line.split("=", 1)
        for line in layout.testbed_env_text(lay, {"hpcuser": "a", "otheruser": "b"}).splitlines()
    )
    assert set(env) == {
        "TESTBED", "SUAN_CONFIG", "KNOWN_HOSTS", "HPC_API_URL", "HPC_API_CONTROL_URL",
        "HPCUSER_PASSWORD", "OTHERUSER_PASSWORD", "USER_CA", "HOST_CA_PUB", "SLURM_CONF_PI",
        "SLURM_CONF_SY", "ENTRY_NODES", "SSH_CONFIG", "HPC_API_APPROVE_URL",
    }  # fmt: skip
    assert env["ENTRY_NODES"] == (
        "pilogin=127.0.0.2:2222,sylogin=127.0.0.3:2222,armlogin=127.0.0.4:2222,"
        "data=127.0.0.5:2222,sydata=127.0.0.6:2222"
    )
    passwd = layout.passwd_text(
        "root:x:0:0:root:/root:/bin/bash\nhpcuser:x:5001:5000::/lustre/home/acct-hpc/hpcuser:/bin/sh\n",
        "dssg",
    )
    assert "hpcuser:x:5001:5000::/dssg/home/acct-hpc/hpcuser:/bin/bash" in passwd
    assert passwd.startswith("root:x:0:0:root:/root:/bin/bash\n")


# ---------------------------------------------------------------------------- live testbed


@pytest.fixture(scope="module")
def keys(testbed: TestbedEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Identity]:
    base = tmp_path_factory.mktemp("ssh-keys")
    return {
        "hpcuser": make_identity(base / "hpcuser", testbed.user_ca, "hpcuser"),
        "otheruser": make_identity(base / "otheruser", testbed.user_ca, "otheruser"),
    }


@pytest.fixture(scope="module")
def facts(testbed: TestbedEnv, keys: dict[str, Identity]) -> dict[str, dict[str, str]]:
    """The PROBE's answers on every entry node, one login each."""
    raw = str(testbed.root / "storage")
    answers: dict[str, dict[str, str]] = {}
    for node in NODES:
        proc = ssh_run(testbed, keys["hpcuser"], node, ["bash", "-c", PROBE, "probe", raw])
        assert proc.returncode == 0, (node, proc.stderr)
        answers[node] = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    return answers


def _ssh_ok(testbed: TestbedEnv, identity: Identity, node: str, argv: list[str]) -> str:
    proc = ssh_run(testbed, identity, node, argv)
    assert proc.returncode == 0, (node, argv, proc.stderr)
    return proc.stdout


@pytest.mark.testbed
@pytest.mark.parametrize("node", NODES)
def test_certificate_login_works_and_the_shell_is_quiet(
    testbed: TestbedEnv, keys: dict[str, Identity], node: str
) -> None:
    proc = ssh_run(testbed, keys["otheruser"], node, ["true"])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert _ssh_ok(testbed, keys["otheruser"], node, ["id", "-un"]) == "otheruser\n"


@pytest.mark.testbed
def test_sftp_starts_in_the_home_of_the_node(
    testbed: TestbedEnv, keys: dict[str, Identity]
) -> None:
    for node, home in (("pilogin", "/lustre"), ("sydata", "/dssg")):
        proc = sftp_run(testbed, keys["hpcuser"], node, "pwd\n")
        assert proc.returncode == 0, proc.stderr
        assert f"Remote working directory: {home}/home/acct-hpc/hpcuser" in proc.stdout


@pytest.mark.testbed
def test_key_without_certificate_is_refused(
    testbed: TestbedEnv, keys: dict[str, Identity], tmp_path: Path
) -> None:
    bare = without_certificate(keys["hpcuser"], tmp_path / "bare")
    proc = ssh_run(testbed, bare, "pilogin", ["true"])
    assert proc.returncode == 255
    assert "Permission denied" in proc.stderr


@pytest.mark.testbed
def test_wrong_principal_and_expired_certificates_are_refused(
    testbed: TestbedEnv, tmp_path: Path
) -> None:
    wrong = make_identity(tmp_path / "wrong", testbed.user_ca, "hpcuser", principals=["otheruser"])
    expired = make_identity(tmp_path / "old", testbed.user_ca, "hpcuser", validity="-2h:-1h")
    for identity in (wrong, expired):
        proc = ssh_run(testbed, identity, "sylogin", ["true"])
        assert proc.returncode == 255
        assert "Permission denied" in proc.stderr


@pytest.mark.testbed
def test_host_keys_are_checked(
    testbed: TestbedEnv, keys: dict[str, Identity], tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    proc = ssh_run(testbed, keys["hpcuser"], "data", ["true"], known_hosts=empty)
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr
    line = testbed.known_hosts.read_text().strip()
    assert line.startswith("@cert-authority [127.0.0.*]:2222 ssh-ed25519 ")


@pytest.mark.testbed
@pytest.mark.parametrize("node", NODES)
def test_node_reaches_its_own_controller_and_home(
    testbed: TestbedEnv, facts: dict[str, dict[str, str]], node: str
) -> None:
    partitions, home_pool, _, _ = EXPECTED[node]
    got = facts[node]
    home = f"/{home_pool}/home/acct-hpc/hpcuser"
    assert got["user"] == "hpcuser"
    assert (got["home"], got["pwd"]) == (home, home)
    cluster = "sy" if home_pool == "dssg" else "pi"
    assert got["slurm_conf"] == testbed[f"SLURM_CONF_{cluster.upper()}"]
    assert got["partitions"] == partitions


@pytest.mark.testbed
@pytest.mark.parametrize("node", NODES)
def test_storage_visibility_and_cold_read_only(facts: dict[str, dict[str, str]], node: str) -> None:
    _, _, hot_seen, cold_writable = EXPECTED[node]
    got = facts[node]
    for pool in ("lustre", "dssg"):
        seen = "yes" if pool in hot_seen else "no"
        assert (got[f"see_{pool}"], got[f"write_{pool}"]) == (seen, seen), pool
    for pool in ("archive", "vault", "union"):
        assert got[f"see_{pool}"] == "yes", pool
        assert got[f"write_{pool}"] == ("yes" if cold_writable else "no"), pool
    assert got["raw"] == "no"  # the raw pools cannot be reached around the rules


@pytest.mark.testbed
def test_union_merges_archive_and_vault(testbed: TestbedEnv, keys: dict[str, Identity]) -> None:
    name = f"union-probe-{os.getpid()}"
    script = (
        f"cd /vault/home/acct-hpc/hpcuser && echo vault > {name} && "
        f"cat /union/home/acct-hpc/hpcuser/{name}; rm -f {name}"
    )
    assert _ssh_ok(testbed, keys["hpcuser"], "data", ["bash", "-c", script]) == "vault\n"


@pytest.mark.testbed
def test_each_entry_node_submits_only_to_its_group(
    testbed: TestbedEnv, keys: dict[str, Identity]
) -> None:
    gpu_job = ["sbatch", "--parsable", "-p", "a100", "--gres=gpu:1", "-t", "1", "--wrap", "true"]
    refused = ssh_run(
        testbed, keys["hpcuser"], "pilogin", ["sbatch", "-p", "a100", "--wrap", "true"]
    )
    assert refused.returncode != 0
    assert "invalid partition" in refused.stderr.lower()
    assert ssh_run(testbed, keys["hpcuser"], "pilogin", gpu_job).returncode != 0
    job_id = _ssh_ok(testbed, keys["hpcuser"], "sylogin", gpu_job).strip().split(";")[0]
    assert int(job_id) >= 500000
    arm = ["sbatch", "--test-only", "-p", "arm128c256g", "-n", "1", "--wrap", "true"]
    assert ssh_run(testbed, keys["hpcuser"], "armlogin", arm).returncode == 0
    assert ssh_run(testbed, keys["hpcuser"], "sylogin", arm).returncode != 0


@pytest.mark.testbed
def test_seeded_ids_are_present(testbed: TestbedEnv) -> None:
    seeded = testbed.seeded()
    assert set(seeded) >= SEEDED_KEYS
    for key, job_id in seeded.items():
        sy = key.startswith(("sy_", "other_sy_"))
        assert (int(job_id) >= 500000) == sy, key


def _parse_time(text: str) -> float:
    """sacct's [D-][HH:]MM:SS[.mmm] in seconds."""
    days, _, rest = text.rpartition("-")
    parts = [float(part) for part in rest.split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds + (int(days) * 86400 if days else 0)


@pytest.mark.testbed
def test_accounting_keeps_finished_jobs_states_names_and_scripts(
    testbed: TestbedEnv, keys: dict[str, Identity]
) -> None:
    seeded = testbed.seeded()
    wanted = ["pi_completed", "pi_failed", "pi_cancelled", "pi_cpuburn", "pi_nasty_cjk"]
    ids = ",".join(seeded[key] for key in wanted)
    out = _ssh_ok(
        testbed,
        keys["hpcuser"],
        "pilogin",
        ["sacct", "-n", "-P", "-X", "-j", ids, "-o", "JobID,State,ExitCode,JobName,User"],
    )
    rows = {line.split("|")[0]: line.split("|") for line in out.splitlines()}
    assert rows[seeded["pi_completed"]][1:3] == ["COMPLETED", "0:0"]
    assert rows[seeded["pi_failed"]][1:3] == ["FAILED", "3:0"]
    assert rows[seeded["pi_cancelled"]][1].startswith("CANCELLED")
    assert rows[seeded["pi_nasty_cjk"]][3] == "训练作业"
    assert {row[4] for row in rows.values()} == {"hpcuser"}
    burn = _ssh_ok(
        testbed,
        keys["hpcuser"],
        "pilogin",
        ["sacct", "-n", "-P", "-j", seeded["pi_cpuburn"], "-o", "JobID,TotalCPU,MaxRSS,AllocCPUS"],
    )
    steps = {line.split("|")[0]: line.split("|") for line in burn.splitlines()}
    batch = steps[f"{seeded['pi_cpuburn']}.batch"]
    assert _parse_time(batch[1]) > 4.0  # two CPUs × 5 s of CPU time: real efficiency numbers
    assert batch[2].endswith("K")
    assert int(batch[2][:-1]) > 60 * 1024
    script = _ssh_ok(
        testbed,
        keys["hpcuser"],
        "pilogin",
        ["sacct", "--batch-script", "-j", seeded["pi_completed"]],
    )
    assert "hello from the testbed" in script
    sy = _ssh_ok(
        testbed,
        keys["hpcuser"],
        "sylogin",
        ["sacct", "-n", "-P", "-X", "-j", seeded["sy_completed"], "-o", "State"],
    )
    assert sy.strip() == "COMPLETED"


@pytest.mark.testbed
def test_seeded_queue_has_every_pending_reason(
    testbed: TestbedEnv, keys: dict[str, Identity]
) -> None:
    seeded = testbed.seeded()
    out = _ssh_ok(testbed, keys["hpcuser"], "pilogin", ["squeue", "-h", "-a", "-o", "%A|%T|%r"])
    queue = {line.split("|")[0]: tuple(line.split("|")[1:]) for line in out.splitlines()}
    assert queue[seeded["pi_running"]][0] == "RUNNING"
    assert queue[seeded["other_running"]][0] == "RUNNING"
    assert queue[seeded["kp_running"]][0] == "RUNNING"
    assert queue[seeded["pi_held"]] == ("PENDING", "JobHeldUser")
    assert queue[seeded["pi_dependency"]] == ("PENDING", "Dependency")
    assert queue[seeded["pi_begin"]] == ("PENDING", "BeginTime")
    assert queue[seeded["pi_down"]] == ("PENDING", "PartitionDown")
    assert queue[seeded["kp_resources"]] == ("PENDING", "Resources")
    assert queue[seeded["kp_priority"]] == ("PENDING", "Priority")
    array = _ssh_ok(
        testbed,
        keys["hpcuser"],
        "pilogin",
        ["squeue", "-h", "-r", "-j", seeded["pi_array"], "-o", "%T|%r"],
    )
    states = sorted(array.splitlines())
    assert states == ["PENDING|JobArrayTaskLimit"] * 4 + ["RUNNING|None"] * 2
    sy = _ssh_ok(testbed, keys["hpcuser"], "sylogin", ["squeue", "-h", "-a", "-o", "%A|%T|%b"])
    sy_queue = {line.split("|")[0]: tuple(line.split("|")[1:]) for line in sy.splitlines()}
    assert sy_queue[seeded["sy_gpu"]] == ("RUNNING", "gres:gpu:2")
    assert sy_queue[seeded["other_sy_running"]][0] == "RUNNING"


@pytest.mark.testbed
def test_seeded_outputs_are_where_jobs_wrote_them(
    testbed: TestbedEnv, keys: dict[str, Identity]
) -> None:
    seeded = testbed.seeded()
    log = _ssh_ok(
        testbed, keys["hpcuser"], "pilogin", ["cat", f"colour-log-{seeded['pi_colour_log']}.out"]
    )
    assert "\x1b[1;31mERROR\x1b[0m" in log
    assert "\rprogress 100%" in log
    err = _ssh_ok(
        testbed, keys["hpcuser"], "pilogin", ["cat", f"colour-log-{seeded['pi_colour_log']}.err"]
    )
    assert "stderr" in err
    gpu = _ssh_ok(testbed, keys["hpcuser"], "sylogin", ["cat", f"slurm-{seeded['sy_gpu']}.out"])
    assert re.search(r"^CUDA_VISIBLE_DEVICES=\d,\d$", gpu, re.MULTILINE)


@pytest.mark.testbed
def test_up_again_is_fast_and_changes_nothing(testbed: TestbedEnv) -> None:
    pids = testbed.root / "pids"
    records = {path.name: path.read_text() for path in sorted(pids.glob("*.json"))}
    env_mtime = (testbed.root / "testbed.env").stat().st_mtime_ns
    seeded = (testbed.root / "seeded.json").read_text()
    started = time.monotonic()
    proc = subprocess.run(
        ["/usr/bin/python3", str(TESTBED_CODE / "testbed.py"), "up", "--seed"],
        env={**os.environ, "TESTBED": str(testbed.root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 3.0, proc.stderr
    assert {path.name: path.read_text() for path in sorted(pids.glob("*.json"))} == records
    assert (testbed.root / "testbed.env").stat().st_mtime_ns == env_mtime
    assert (testbed.root / "seeded.json").read_text() == seeded
    assert json.loads(seeded)


@pytest.mark.testbed
@pytest.mark.parametrize("node", ["pilogin", "sylogin", "armlogin", "data", "sydata"])
def test_ssh_config_aliases_log_in_with_a_current_certificate(
    testbed: TestbedEnv, node: str
) -> None:
    result = subprocess.run(
        ["ssh", "-F", testbed["SSH_CONFIG"], node, "id -un; printenv SLURM_CONF"],
        capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    user, conf = result.stdout.split()
    assert user == "hpcuser"
    group_conf = "SLURM_CONF_SY" if node in ("sylogin", "sydata") else "SLURM_CONF_PI"
    assert conf == testbed[group_conf]


@pytest.mark.testbed
async def test_approve_url_approves_every_pending_request(testbed: TestbedEnv) -> None:
    import asyncio

    import httpx

    from core.hpc_api import HpcApi

    async with HpcApi(testbed.api_url) as api:
        token = await api.get_token("hpcuser", testbed.password())
        _private, public = await api.gen_key(token, "hpcuser")
        waits = [
            asyncio.ensure_future(api.sign_cert(token, "hpcuser", public, 600)) for _ in range(2)
        ]
        async with httpx.AsyncClient(timeout=10) as client:
            deadline = asyncio.get_running_loop().time() + 30
            while len((await client.get(f"{testbed.control_url}/pending")).json()) < 2:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            answer = await client.post(testbed["HPC_API_APPROVE_URL"])
            assert answer.status_code == 200
        certs = await asyncio.wait_for(asyncio.gather(*waits), 30)
    assert all(c.startswith("ssh-ed25519-cert-v01@openssh.com ") for c in certs)
