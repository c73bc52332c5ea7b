"""Storage commands of the real ``suan`` against the testbed: ls, df, quota, mkdir, rm, cp,
transfers — with their JSON contracts and confirmations."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

pytestmark = pytest.mark.testbed

HOME = "/lustre/home/acct-hpc/hpcuser"


def _json(config: Path, *args: str) -> object:
    result = run_cli(config, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_df_lists_the_five_pools(cli_config: Path) -> None:
    pools = _json(cli_config, "df")
    assert isinstance(pools, list)
    assert [p["mount"] for p in pools] == ["/lustre", "/dssg", "/archive", "/vault", "/union"]
    cold = {p["mount"]: p["writable_on"] for p in pools}
    assert set(cold["/archive"]) == {"data", "sydata"}


def test_quota_has_user_and_account(cli_config: Path) -> None:
    quotas = _json(cli_config, "quota")
    assert isinstance(quotas, list)
    assert {q["kind"] for q in quotas} == {"user", "account"}


def test_mkdir_ls_rm_with_a_nasty_name(cli_config: Path) -> None:
    name = f"cli $(touch suan-cli-pwned) 'q\"训练 -x {uuid.uuid4().hex[:6]}"
    path = f"{HOME}/{name}"
    assert run_cli(cli_config, "mkdir", path).returncode == 0
    listing = _json(cli_config, "ls", HOME)
    assert isinstance(listing, dict)
    assert name in [e["name"] for e in listing["entries"]]
    refused = run_cli(cli_config, "rm", path)
    assert refused.returncode == 10  # no terminal to confirm on
    assert name in refused.stderr
    assert run_cli(cli_config, "rm", path, "--yes").returncode == 0
    listing = _json(cli_config, "ls", HOME)
    assert isinstance(listing, dict)
    names = [e["name"] for e in listing["entries"]]
    assert name not in names
    assert "suan-cli-pwned" not in names  # nothing in the name was ever run


def test_cold_mkdir_goes_through_a_data_node(cli_config: Path) -> None:
    path = f"/archive/home/acct-hpc/hpcuser/cli-{uuid.uuid4().hex[:8]}"
    assert run_cli(cli_config, "mkdir", path).returncode == 0
    listing = _json(cli_config, "ls", "/archive/home/acct-hpc/hpcuser")
    assert isinstance(listing, dict)
    assert path.rsplit("/", 1)[1] in [e["name"] for e in listing["entries"]]
    assert run_cli(cli_config, "rm", path, "--yes").returncode == 0


def test_upload_download_and_a_pool_copy(cli_config: Path, tmp_path: Path) -> None:
    local = tmp_path / "payload.bin"
    local.write_bytes(b"\x00suan\xff" * 200_000)
    remote_dir = f"{HOME}/cli-cp-{uuid.uuid4().hex[:8]}"
    assert run_cli(cli_config, "mkdir", remote_dir).returncode == 0
    up = _json(cli_config, "cp", str(local), f"{remote_dir}/", "--checksum")
    assert isinstance(up, dict) and up["size"] == local.stat().st_size
    back = tmp_path / "back.bin"
    down = _json(cli_config, "cp", f"{remote_dir}/payload.bin", str(back), "--checksum")
    assert isinstance(down, dict)
    assert back.read_bytes() == local.read_bytes()

    status = _json(cli_config, "cp", remote_dir, "cold:cli-copies")
    assert isinstance(status, dict)
    transfer_id = status["record"]["id"]
    assert status["record"]["node"] == "data"
    deadline = time.monotonic() + 60
    while True:
        items = _json(cli_config, "transfers")
        assert isinstance(items, list)
        mine = [t for t in items if t["record"]["id"] == transfer_id]
        assert mine, items
        if mine[0]["state"] != "running":
            break
        assert time.monotonic() < deadline, mine
        time.sleep(0.5)
    assert mine[0]["state"] == "finished", mine
    assert run_cli(cli_config, "transfers", "--forget", transfer_id).returncode == 0
    assert run_cli(cli_config, "rm", remote_dir, "--yes").returncode == 0
