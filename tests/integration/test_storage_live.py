"""Storage on the live testbed: the user's directory in all five pools through every node
that sees it, nasty names handled exactly (and never executed), cold writes refused from a
login node with the site's words and done through a data node, quotas from the HPC API."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.certs import ClientCredentials
from core.config import Profile, load_config
from core.errors import Refused
from core.hpc_api import HpcApi
from core.routing import Router
from core.site import Site
from core.ssh import SessionPool
from core.storage import Storage
from core.transfers import Transfers
from tests.testbed_env import TestbedEnv

pytestmark = pytest.mark.testbed

HOME = "/lustre/home/acct-hpc/hpcuser"
SY_HOME = "/dssg/home/acct-hpc/hpcuser"


def make_credentials(testbed: TestbedEnv, directory: Path) -> ClientCredentials:
    """A fresh key signed by the testbed's user CA for hpcuser, valid for an hour."""
    key = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "storage-test", "-f", str(key)],
        check=True,
    )
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(testbed.user_ca), "-I", "test", "-n", "hpcuser",
         "-V", "-5m:+1h", f"{key}.pub"],
        check=True,
    )  # fmt: skip
    return ClientCredentials(key.read_text(), Path(f"{key}-cert.pub").read_text())


@dataclass
class Live:
    """Everything a live test needs, built from ``load_config($SUAN_CONFIG)``."""

    site: Site
    router: Router
    pool: SessionPool
    storage: Storage
    transfers: Transfers
    api: HpcApi
    data_dir: Path
    credentials: ClientCredentials
    profile: Profile

    def new_pool(self) -> SessionPool:
        """Another pool with new connections (what a restarted suan would have)."""
        creds = self.credentials

        async def credentials() -> ClientCredentials:
            return creds

        return SessionPool(self.site, self.profile.username, credentials, self.profile.known_hosts)


@asynccontextmanager
async def live_env(testbed: TestbedEnv, tmp_path: Path) -> AsyncIterator[Live]:
    """A session pool logged in as hpcuser, and storage/transfers over it."""
    profile = load_config(testbed.config_path).profile("testbed")
    site = profile.site()
    router = Router(site)
    creds = make_credentials(testbed, tmp_path)

    async def credentials() -> ClientCredentials:
        return creds

    pool = SessionPool(site, profile.username, credentials, profile.known_hosts)
    api = HpcApi(profile.resolved_api_url(), domain=site.domain or "pi")
    storage = Storage(router, pool, HOME, api)
    data_dir = tmp_path / "suan-data"
    transfers = Transfers(router, pool, storage, data_dir, profile="testbed")
    live = Live(site, router, pool, storage, transfers, api, data_dir, creds, profile)
    try:
        yield live
    finally:
        await api.aclose()
        await live.pool.close()


@asynccontextmanager
async def scratch_dirs(live: Live, *pools: str) -> AsyncIterator[dict[str, str]]:
    """A fresh test directory under the user's dir in each of ``pools``, removed after."""
    tag = f"suan-test-{uuid.uuid4().hex[:10]}"
    dirs = {p: f"{live.storage.personal_dir(p)}/{tag}" for p in pools}
    for path in dirs.values():
        await live.storage.mkdir(path, parents=True)
    try:
        yield dirs
    finally:
        # the data node writes every pool (it sees /dssg too); argv, so nothing is pasted
        data = live.pool.session("data")
        for path in dirs.values():
            await data.run(["rm", "-rf", "--", path], timeout=120)


@pytest.fixture
async def live(testbed: TestbedEnv, tmp_path: Path) -> AsyncIterator[Live]:
    async with live_env(testbed, tmp_path) as env:
        yield env


class Sentinel:
    """A name that runs ``touch pwned-…`` if anything pastes it into a shell line."""

    def __init__(self) -> None:
        self.name = f"pwned-{uuid.uuid4().hex[:12]}"
        self.evil = f"$(touch {self.name});touch {self.name}`touch {self.name}`"

    async def untouched(self, live: Live) -> bool:
        """No ``pwned-…`` in any home the shells start in, nor in /tmp."""
        for node, home in (("pilogin", HOME), ("sylogin", SY_HOME)):
            found = await live.pool.session(node).run(
                ["find", home, "/tmp", "-maxdepth", "1", "-name", self.name], timeout=60
            )
            if found.stdout.strip():
                return False
        return not (Path("/tmp") / self.name).exists()


async def test_personal_dir_in_every_pool_through_every_node(live: Live) -> None:
    real = [p for p, pool in live.site.pools.items() if pool.kind != "union"]
    async with scratch_dirs(live, *real) as dirs:
        tag = next(iter(dirs.values())).rsplit("/", 1)[1]
        for pool, path in dirs.items():
            await live.storage.mkdir(f"{path}/made-for-{pool}")
        for pool in live.site.pools:
            personal = live.storage.personal_dir(pool)
            nodes = [n.name for n in live.router.nodes_seeing(pool)]
            assert nodes, pool
            for node in nodes:
                listing = {e.name: e for e in await live.storage.list_dir(personal, via=node)}
                assert listing[tag].kind == "dir", (pool, node)
                inside = {
                    e.name for e in await live.storage.list_dir(f"{personal}/{tag}", via=node)
                }
                if pool == "union":
                    # the merged view shows what both cold pools hold
                    assert {"made-for-archive", "made-for-vault"} <= inside, node
                else:
                    assert inside == {f"made-for-{pool}"}, (pool, node)

    overview = {p.name: p for p in await live.storage.pools_overview()}
    assert set(overview) == {"lustre", "dssg", "archive", "vault", "union"}
    for info in overview.values():
        assert info.error is None, info
        assert info.personal_exists is True
        assert info.total_bytes is not None
        assert info.total_bytes > 0
        assert info.free_bytes is not None
    assert set(overview["archive"].writable_on) == {"data", "sydata"}
    assert overview["dssg"].node == "sylogin"


async def test_nasty_names_exact_and_never_executed(live: Live) -> None:
    mark = Sentinel()
    nasty = [
        "with space",
        "new\nline",
        "quote'\"both",
        "-leading-dash",
        "中文 名字",
        mark.evil,
        f"-{mark.evil} 'x'\n中",
    ]
    async with scratch_dirs(live, "lustre", "archive") as dirs:
        base = dirs["lustre"]
        async with live.pool.session("pilogin").sftp() as sftp:
            for i, name in enumerate(nasty):
                async with sftp.open(f"{base}/{name}".encode(), "wb") as f:
                    await f.write(f"content {i}\n".encode())
        listed = {e.name: e for e in await live.storage.list_dir(base)}
        assert set(listed) == set(nasty)
        for i, name in enumerate(nasty):
            assert listed[name].kind == "file"
            assert listed[name].size == len(f"content {i}\n")
            assert listed[name].owner == "hpcuser"
            preview = await live.storage.preview(f"{base}/{name}")
            assert preview.text == f"content {i}\n"

        renamed = f"{base}/renamed {mark.evil}"
        await live.storage.rename(f"{base}/{mark.evil}", renamed)
        assert (await live.storage.stat(renamed)).size == len("content 5\n")

        status = await live.transfers.copy([base], dirs["archive"])
        done = await live.transfers.wait(status.id, timeout=60)
        assert done.state == "finished", done
        copied = f"{dirs['archive']}/{base.rsplit('/', 1)[1]}"
        assert {e.name for e in await live.storage.list_dir(copied)} == (
            set(nasty) - {mark.evil}
        ) | {f"renamed {mark.evil}"}

        plan = await live.storage.delete_plan([f"{base}/{n}" for n in nasty if n != mark.evil])
        assert plan.entries == len(nasty) - 1
        assert [i.path for i in plan.items] == [f"{base}/{n}" for n in nasty if n != mark.evil]
        await live.storage.delete(plan)
        assert [e.name for e in await live.storage.list_dir(base)] == [f"renamed {mark.evil}"]
        assert await mark.untouched(live)
        await live.transfers.forget(status.id)


async def test_cold_write_refused_from_login_done_through_data(live: Live) -> None:
    async with scratch_dirs(live, "archive", "vault") as dirs:
        target = f"{dirs['archive']}/new dir"
        with pytest.raises(Refused) as info:
            await live.storage.mkdir(target, via="pilogin")
        words = info.value.message
        assert "/archive" in words
        assert "pilogin" in words
        assert "read-only" in words
        assert "data" in words  # where suan writes it instead
        assert not await live.storage.exists(target)

        await live.storage.mkdir(target)
        assert (await live.storage.stat(target)).kind == "dir"
        plan = await live.storage.delete_plan([target])
        assert plan.items[0].node == "data"
        with pytest.raises(Refused):
            await live.storage.delete_plan([target], via="sylogin")
        await live.storage.delete(plan)
        assert not await live.storage.exists(target)


async def test_quotas_from_the_api(live: Live) -> None:
    quotas = await live.storage.quotas()
    user = [q for q in quotas if q.kind == "user"]
    account = [q for q in quotas if q.kind == "account"]
    assert user
    assert account
    assert all(q.error is None for q in quotas)
    assert {q.subject for q in user} == {"hpcuser"}
    assert {q.subject for q in account} == {"acct-hpc"}
    lustre = next(q for q in user if "lustre" in q.filesystem)
    assert lustre.used_bytes is not None
    assert lustre.used_files is not None
    assert lustre.used_files >= 0
