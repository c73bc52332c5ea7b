"""The real ``suan`` command against the testbed: JSON contracts, exit codes, confirmations."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli, write_config
from tests.testbed_env import TestbedEnv

pytestmark = pytest.mark.testbed


def test_jobs_json_is_a_list_of_records(cli_config: Path, testbed: TestbedEnv) -> None:
    result = run_cli(cli_config, "jobs", "--json")
    assert result.returncode == 0, result.stderr
    jobs = json.loads(result.stdout)
    ids = {j["job_id"] for j in jobs}
    assert testbed.seeded()["pi_running"] in ids
    assert {"job_id", "name", "state", "partition", "cluster", "group"} <= set(jobs[0])


def test_partitions_plain_text(cli_config: Path) -> None:
    result = run_cli(cli_config, "partitions")
    assert result.returncode == 0, result.stderr
    assert "a100" in result.stdout and "cpu*" in result.stdout


def test_missing_job_exits_9_with_words(cli_config: Path) -> None:
    result = run_cli(cli_config, "job", "987654321")
    assert result.returncode == 9
    assert "987654321" in result.stderr and "Traceback" not in result.stderr
    as_json = run_cli(cli_config, "--json", "job", "987654321")
    assert json.loads(as_json.stdout)["error"]["kind"] == "not_found"


def test_not_logged_in_exits_3(tmp_path: Path, testbed: TestbedEnv) -> None:
    config = write_config(testbed, tmp_path / "config.toml", tmp_path / "empty")
    result = run_cli(config, "jobs")
    assert result.returncode == 3, result.stderr
    assert "suan login" in result.stderr


def test_wrong_password_exits_4_and_never_echoes_it(tmp_path: Path, testbed: TestbedEnv) -> None:
    config = write_config(testbed, tmp_path / "config.toml", tmp_path / "data")
    secret = "not-the-password-Zq81"
    result = run_cli(config, "login", "--password-stdin", input=secret + "\n")
    assert result.returncode == 4
    assert secret not in result.stdout + result.stderr
    assert "password" in result.stderr.lower()


def test_cancel_names_the_jobs_and_needs_yes_without_a_terminal(cli_config: Path) -> None:
    submitted = run_cli(
        cli_config, "--json", "submit", str(_script(cli_config.parent)), "-p", "cpu"
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["submitted"]["job_id"]
    refused = run_cli(cli_config, "cancel", job_id)
    assert refused.returncode == 10  # no terminal to confirm on: nothing happens
    assert job_id in refused.stderr and "cli-live" in refused.stderr
    done = run_cli(cli_config, "--json", "cancel", job_id, "--yes")
    assert done.returncode == 0, done.stderr
    assert (
        json.loads(done.stdout)
        == [{"job_id": job_id, "cancelled": True, "state": "CANCELLED", "message": ""}]
        or json.loads(done.stdout)[0]["cancelled"] is True
    )


def test_submit_warns_about_cold_storage(cli_config: Path, tmp_path: Path) -> None:
    script = tmp_path / "cold.sh"
    script.write_text("#!/bin/bash\ncat /archive/home/acct-hpc/hpcuser/data.txt\n")
    result = run_cli(cli_config, "submit", str(script), "-p", "debug")
    assert result.returncode == 10
    assert (
        "cold storage" in result.stderr
        and "/archive/home/acct-hpc/hpcuser/data.txt" in result.stderr
    )


def test_log_prints_the_tail_without_escapes(cli_config: Path, testbed: TestbedEnv) -> None:
    result = run_cli(cli_config, "log", testbed.seeded()["pi_colour_log"], "-n", "10")
    assert result.returncode == 0, result.stderr
    assert "ERROR" in result.stdout and "\x1b" not in result.stdout
    assert "progress 100%" in result.stdout and "progress  20%" not in result.stdout


def _script(directory: Path) -> Path:
    path = directory / "cli-live.sh"
    path.write_text("#!/bin/bash\n#SBATCH --job-name=cli-live\n#SBATCH -t 5\nsleep 300\n")
    return path


def test_unknown_host_is_the_users_decision(
    cli_config: Path, tmp_path: Path, testbed: TestbedEnv
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    data_dir = Path(tomllib.loads(cli_config.read_text())["profiles"]["testbed"]["data_dir"])
    config = write_config(testbed, tmp_path / "config.toml", data_dir, known_hosts=known)
    refused = run_cli(config, "jobs")
    assert refused.returncode == 6, refused.stderr
    assert "SHA256:" in refused.stderr and "suan trust-host" in refused.stderr
    for node in ("pilogin", "sylogin"):
        trusted = run_cli(config, "trust-host", node, "--yes")
        assert trusted.returncode == 0, trusted.stderr
        assert "SHA256:" in trusted.stdout
    assert run_cli(config, "jobs").returncode == 0
    assert known.read_text().count("\n") == 2


def test_login_with_a_password_file_then_cert(tmp_path: Path, testbed: TestbedEnv) -> None:
    import httpx

    config = write_config(testbed, tmp_path / "config.toml", tmp_path / "data")
    password_file = tmp_path / "password"
    password_file.write_text(testbed.password() + "\n")
    httpx.post(f"{testbed.control_url}/config", json={"auto_approve_seconds": 0.5}, timeout=10)
    try:
        login = run_cli(
            config, "login", "--password-file", str(password_file), "--valid-time", "7200"
        )
    finally:
        httpx.post(f"{testbed.control_url}/config", json={"auto_approve_seconds": None}, timeout=10)
    assert login.returncode == 0, login.stderr
    assert not password_file.exists()  # deleted after reading, as the platform's client does
    cert = run_cli(config, "--json", "cert")
    info = json.loads(cert.stdout)["certificate"]
    assert info["principals"] == ["hpcuser"]
    assert run_cli(config, "jobs", "--user", "otheruser").returncode == 0


@pytest.mark.parametrize(
    ("partition", "cluster", "host"),
    [("debug", "pi", "pilogin"), ("arm128c256g", "pi", "armlogin"), ("small", "sy", "sylogin")],
)
def test_submit_goes_through_the_entry_node_of_the_partitions_group(
    cli_config: Path, partition: str, cluster: str, host: str
) -> None:
    script = cli_config.parent / f"route-{partition}.sh"
    script.write_text("#!/bin/bash\n#SBATCH -t 2\nsleep 120\n")
    result = run_cli(cli_config, "--json", "submit", str(script), "-p", partition)
    assert result.returncode == 0, result.stderr
    submitted = json.loads(result.stdout)["submitted"]
    assert (submitted["cluster"], submitted["host"]) == (cluster, host)
    job = json.loads(run_cli(cli_config, "--json", "job", submitted["job_id"]).stdout)
    assert job["partition"] == partition
    done = run_cli(cli_config, "--json", "cancel", submitted["job_id"], "--yes")
    assert json.loads(done.stdout)[0]["cancelled"] is True
