"""Storage against a fake cluster: a real SFTP server (asyncssh, chrooted in tmp_path) that
every "entry node" shares, the real SJTU site and router, and a runner that executes argv
locally (never through a shell) with cluster paths mapped under the chroot."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from core.errors import ApiError, NotFound, Refused
from core.routing import Router
from core.runner import CommandResult
from core.site import load_site
from core.storage import (
    Storage,
    dec,
    enc,
    looks_binary,
    normalize,
    parse_df,
    parse_quota,
    parse_size,
)

HOME = "/lustre/home/acct-hpc/hpcuser"
MOUNTS = ("lustre", "dssg", "archive", "vault", "union")

NASTY = (
    "with space",
    "new\nline",
    "quote'\"both",
    "-leading-dash",
    "中文 名字",
    "tab\there",
    "back\\slash",
    "semi;colon&amp|pipe",
    "`backtick`",
)


class _NoAuth(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False  # no authentication: a test server on loopback


class _SFTPServer(asyncssh.SFTPServer):
    """asyncssh's server, but ``readlink`` answers the raw target as OpenSSH does (the
    chrooted default resolves it against the server's working directory)."""

    def readlink(self, path: bytes) -> bytes:
        return os.readlink(self.map_path(path))


class LocalCluster:
    """One chrooted SFTP server standing in for every entry node, and a local runner."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.sftp_nodes: list[str] = []
        self.env: dict[str, str] = {}
        self.fail_nodes: set[str] = set()
        self._conn: asyncssh.SSHClientConnection | None = None

    def local(self, path: str) -> Path:
        """Where a cluster path lives on this machine."""
        return Path(os.fsdecode(enc(str(self.root) + path)))

    def map_arg(self, arg: str) -> str:
        return str(self.root) + arg if arg.startswith("/") else arg

    async def connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            self._conn = await asyncssh.connect(
                "127.0.0.1", self.port, known_hosts=None, username="hpcuser"
            )
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()


class FakeSession:
    """A ``Session`` lookalike on the local cluster."""

    def __init__(self, cluster: LocalCluster, node: str) -> None:
        self.cluster = cluster
        self.node = node

    async def run(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        self.cluster.calls.append((self.node, tuple(argv)))
        if self.node in self.cluster.fail_nodes:
            from core.errors import NetworkError

            raise NetworkError(f"{self.node} is down")
        mapped = [self.cluster.map_arg(a) for a in argv]
        env = {**os.environ, **self.cluster.env}
        proc = await asyncio.create_subprocess_exec(
            *[os.fsencode(os.fsdecode(enc(a))) for a in mapped],
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), timeout or 60
        )
        root = str(self.cluster.root)
        return CommandResult(
            tuple(argv),
            proc.returncode if proc.returncode is not None else 255,
            out.decode("utf-8", "surrogateescape").replace(root, ""),
            err.decode("utf-8", "surrogateescape").replace(root, ""),
        )

    def sftp(self) -> AbstractAsyncContextManager[asyncssh.SFTPClient]:
        return self._sftp()

    @asynccontextmanager
    async def _sftp(self) -> AsyncIterator[asyncssh.SFTPClient]:
        self.cluster.sftp_nodes.append(self.node)
        if self.node in self.cluster.fail_nodes:
            from core.errors import NetworkError

            raise NetworkError(f"{self.node} is down")
        conn = await self.cluster.connection()
        async with conn.start_sftp_client() as client:
            yield client


class FakePool:
    """A ``SessionPool`` lookalike: one FakeSession per node name."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster

    def session(self, node: str) -> FakeSession:
        return FakeSession(self.cluster, node)


class FakeQuotas:
    """A quota source answering from a dict, or failing for some kinds."""

    def __init__(self, answers: Mapping[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    async def get_quota(self, kind: str, name: str) -> Any:
        self.asked.append((kind, name))
        answer = self.answers[(kind, name)]
        if isinstance(answer, Exception):
            raise answer
        return answer


@asynccontextmanager
async def local_cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    """A running fake cluster rooted at ``tmp_path/root`` with the user's dir in every pool."""
    root = tmp_path / "root"
    for mount in MOUNTS:
        (root / mount / "home/acct-hpc/hpcuser").mkdir(parents=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[key],
        server_factory=_NoAuth,
        sftp_factory=lambda chan: _SFTPServer(chan, chroot=os.fsencode(root)),
    )
    port = server.sockets[0].getsockname()[1]
    cluster = LocalCluster(root, port)
    try:
        yield cluster
    finally:
        await cluster.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    async with local_cluster(tmp_path) as c:
        yield c


@pytest.fixture
def router() -> Router:
    return Router(load_site("sjtu"))


@pytest.fixture
def storage(cluster: LocalCluster, router: Router) -> Storage:
    return Storage(router, FakePool(cluster), HOME, None)


class Sentinel:
    """A file name that runs ``touch`` if anything ever pastes it into a shell line, and the
    check that nothing did (a name cannot hold "/", so the touch lands in a working dir)."""

    def __init__(self, *dirs: Path) -> None:
        self.name = f"pwned-{uuid.uuid4().hex[:12]}"
        self.evil = f"$(touch {self.name});touch {self.name}`touch {self.name}`"
        self.dirs = (Path.cwd(), Path("/tmp"), Path.home(), *dirs)

    def untouched(self) -> bool:
        return not any((d / self.name).exists() for d in self.dirs)


# --- places --------------------------------------------------------------------------------


def test_personal_dirs_in_every_pool(storage: Storage) -> None:
    assert storage.personal_dirs() == {
        "lustre": "/lustre/home/acct-hpc/hpcuser",
        "dssg": "/dssg/home/acct-hpc/hpcuser",
        "archive": "/archive/home/acct-hpc/hpcuser",
        "vault": "/vault/home/acct-hpc/hpcuser",
        "union": "/union/home/acct-hpc/hpcuser",
    }
    assert storage.username == "hpcuser"
    assert storage.account == "acct-hpc"
    assert [p.name for p in storage.cold_pools()] == ["archive", "vault"]
    union = storage.union_pool()
    assert union is not None
    assert union.mount == "/union"


def test_normalize_refuses_relative_and_collapses() -> None:
    assert normalize("//lustre/./home/../home/x/") == "/lustre/home/x"
    with pytest.raises(Refused):
        normalize("lustre/home")


# --- listing -------------------------------------------------------------------------------


async def test_list_dir_nasty_names_exactly(storage: Storage, cluster: LocalCluster) -> None:
    base = cluster.local(HOME)
    mark = Sentinel(base)
    names = (*NASTY, mark.evil)
    for i, name in enumerate(names):
        (base / name).write_bytes(b"x" * i)
    (base / "adir").mkdir()
    (base / "zdir").mkdir()
    os.symlink("with space", base / "link")
    os.symlink("/nowhere", base / "dangling")
    raw = os.fsencode(base) + b"/bad-\xff\xfe-utf8"
    with open(raw, "wb") as f:
        f.write(b"abc")

    entries = await storage.list_dir(HOME)
    by_name = {e.name: e for e in entries}
    bad = dec(b"bad-\xff\xfe-utf8")
    assert set(by_name) == {*names, "adir", "zdir", "link", "dangling", bad}
    # directories first, then by name
    assert [e.name for e in entries[:2]] == ["adir", "zdir"]
    for i, name in enumerate(names):
        e = by_name[name]
        assert e.kind == "file"
        assert e.size == i
        assert e.path == f"{HOME}/{name}"
        assert e.permissions.startswith("-rw")
        assert e.owner  # a name or a uid, never empty
    assert by_name["adir"].kind == "dir"
    assert by_name["adir"].permissions.startswith("d")
    assert by_name["link"].kind == "link"
    assert by_name["link"].target == "with space"
    assert by_name["dangling"].kind == "link"
    assert by_name["dangling"].target == "/nowhere"
    assert by_name[bad].size == 3
    assert mark.untouched()


async def test_list_dir_reads_on_a_node_that_sees_the_pool(
    storage: Storage, cluster: LocalCluster, router: Router
) -> None:
    await storage.list_dir("/dssg/home/acct-hpc/hpcuser")
    await storage.list_dir("/lustre/home/acct-hpc/hpcuser")
    await storage.list_dir("/archive/home/acct-hpc/hpcuser")
    assert cluster.sftp_nodes == ["sylogin", "pilogin", "pilogin"]
    sy = Storage(router, FakePool(cluster), "/dssg/home/acct-hpc/hpcuser", group="sy")
    await sy.list_dir("/union/home/acct-hpc/hpcuser")
    assert cluster.sftp_nodes[-1] == "sylogin"


async def test_list_dir_missing_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        await storage.list_dir(HOME + "/nope")


async def test_stat_link_and_missing(storage: Storage, cluster: LocalCluster) -> None:
    os.symlink("target file", cluster.local(HOME) / "ln")
    entry = await storage.stat(HOME + "/ln")
    assert entry.kind == "link"
    assert entry.target == "target file"
    assert await storage.exists(HOME + "/ln")
    assert not await storage.exists(HOME + "/missing")
    with pytest.raises(NotFound):
        await storage.stat(HOME + "/missing")


# --- preview -------------------------------------------------------------------------------


async def test_preview_text_binary_truncated(storage: Storage, cluster: LocalCluster) -> None:
    base = cluster.local(HOME)
    (base / "t.txt").write_text("hello 世界\n" * 3)
    (base / "b.bin").write_bytes(b"\x7fELF\x00\x01\x02")
    (base / "big.txt").write_text("中" * 100)  # 300 bytes, the cut lands inside a character
    text = await storage.preview(HOME + "/t.txt")
    assert text.text == "hello 世界\n" * 3
    assert not text.binary
    assert not text.truncated
    binary = await storage.preview(HOME + "/b.bin")
    assert binary.binary
    assert binary.text is None
    assert binary.size == 7
    cut = await storage.preview(HOME + "/big.txt", max_bytes=100)
    assert not cut.binary
    assert cut.truncated
    assert cut.size == 300
    assert cut.text is not None
    assert cut.text.startswith("中" * 33)
    with pytest.raises(Refused):
        await storage.preview(HOME)


def test_looks_binary() -> None:
    assert not looks_binary(b"")
    assert not looks_binary("plain 文本\n\tindent\r\n\x1b[31mred\x1b[0m".encode())
    assert looks_binary(b"abc\x00def")
    assert looks_binary(b"\xff\xfe\xfdabcdef" * 10)
    assert looks_binary(bytes(range(1, 32)) * 4)


# --- pools and quotas ------------------------------------------------------------------------


async def test_pools_overview(storage: Storage, cluster: LocalCluster) -> None:
    import shutil

    shutil.rmtree(cluster.local("/vault/home/acct-hpc/hpcuser"))
    pools = {p.name: p for p in await storage.pools_overview()}
    assert list(pools) == list(MOUNTS)
    lustre, archive, vault = pools["lustre"], pools["archive"], pools["vault"]
    assert lustre.mount == "/lustre"
    assert lustre.kind == "hot"
    assert lustre.visible_to == ("pi", "kp")
    assert set(lustre.writable_on) == {"pilogin", "armlogin", "data"}
    assert set(archive.writable_on) == {"data", "sydata"}
    assert set(pools["dssg"].writable_on) == {"sylogin", "sydata", "data"}
    assert archive.personal_dir == "/archive/home/acct-hpc/hpcuser"
    assert archive.personal_exists is True
    assert vault.personal_exists is False
    for p in pools.values():
        assert p.error is None
        assert p.total_bytes
        assert p.total_bytes > 0
        assert p.free_bytes is not None
        assert 0 <= p.free_bytes <= p.total_bytes
        assert p.used_fraction is not None
    assert pools["dssg"].node == "sylogin"
    assert lustre.node == "pilogin"


async def test_pools_overview_reports_a_dead_node_per_pool(
    storage: Storage, cluster: LocalCluster
) -> None:
    cluster.fail_nodes.add("sylogin")
    pools = {p.name: p for p in await storage.pools_overview()}
    assert pools["dssg"].error
    assert "sylogin" in pools["dssg"].error
    assert pools["dssg"].free_bytes is None
    assert pools["dssg"].personal_exists is None
    assert pools["lustre"].error is None
    assert pools["lustre"].free_bytes is not None


async def test_free_space_falls_back_to_df(
    storage: Storage, cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_statvfs(self: asyncssh.SFTPClient, path: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("statvfs not supported")

    monkeypatch.setattr(asyncssh.SFTPClient, "statvfs", no_statvfs)
    space = await storage.free_space("archive")
    assert space is not None
    assert space[1] >= space[0] > 0
    assert ("pilogin", ("df", "-P", "-B1", "--", "/archive")) in cluster.calls


def test_parse_df() -> None:
    out = (
        "Filesystem        1-blocks       Used   Available Capacity Mounted on\n"
        "/dev/sda1      52589998080 1234567890 48671199232       3% /archive\n"
    )
    assert parse_df(out) == (52589998080, 48671199232)
    assert parse_df("Filesystem 1-blocks\n") is None


def test_parse_size() -> None:
    assert parse_size(12) == 12
    assert parse_size("1,024") == 1024
    assert parse_size("1.5K") == 1536
    assert parse_size("20 GiB") == 20 * 1024**3
    assert parse_size("3T") == 3 * 1024**4
    assert parse_size(10, "kb") == 10240
    assert parse_size("lots") is None
    assert parse_size(-1) is None
    assert parse_size(True) is None


def test_parse_quota_testbed_shape() -> None:
    data = {
        "name": "hpcuser",
        "quota_type": "user",
        "quotas": [
            {
                "filesystem": "lustre",
                "used_bytes": 1234,
                "limit_bytes": 3 * 1024**4,
                "used_files": 7,
                "limit_files": None,
            },
            {"filesystem": "archive", "used_bytes": 0, "used_files": 0, "extra": "kept"},
        ],
    }
    q = parse_quota(data, kind="user", subject="hpcuser")
    assert [x.filesystem for x in q] == ["lustre", "archive"]
    assert q[0].used_bytes == 1234
    assert q[0].limit_bytes == 3 * 1024**4
    assert q[0].used_files == 7
    assert q[0].limit_files is None
    assert q[1].raw["extra"] == "kept"
    assert q[1].limit_bytes is None
    assert all(x.kind == "user" and x.subject == "hpcuser" for x in q)


def test_parse_quota_other_shapes() -> None:
    keyed = {"lustre": {"used": "1.5T", "limit": "3T", "files": 10, "file_limit": "1,000"}}
    (q,) = parse_quota(keyed, kind="account", subject="acct-hpc")
    assert q.filesystem == "lustre"
    assert q.used_bytes == int(1.5 * 1024**4)
    assert q.limit_bytes == 3 * 1024**4
    assert q.used_files == 10
    assert q.limit_files == 1000

    nested = [{"fs": "/dssg", "space": {"used": 5, "hard": 9}, "inodes": {"used": 1, "limit": 2}}]
    (q,) = parse_quota(nested, kind="user", subject="u")
    assert (q.filesystem, q.used_bytes, q.limit_bytes, q.used_files, q.limit_files) == (
        "/dssg",
        5,
        9,
        1,
        2,
    )

    kb = {"data": [{"mount": "/lustre", "kbytes": 4, "block_limit": 8, "unit": "ignored"}]}
    (q,) = parse_quota(kb, kind="user", subject="u")
    assert q.used_bytes == 4096
    assert q.limit_bytes == 8192

    flat = {"name": "u", "used": 100, "quota": 200}
    (q,) = parse_quota(flat, kind="user", subject="u")
    assert q.filesystem == ""
    assert q.used_bytes == 100
    assert q.limit_bytes == 200

    (q,) = parse_quota({"message": "maintenance"}, kind="user", subject="u")
    assert q.used_bytes is None
    assert q.raw == {"message": "maintenance"}
    (q,) = parse_quota("weird", kind="user", subject="u")
    assert q.raw == {"value": "weird"}


async def test_quotas_asks_user_and_account(cluster: LocalCluster, router: Router) -> None:
    source = FakeQuotas(
        {
            ("user", "hpcuser"): {"quotas": [{"filesystem": "lustre", "used_bytes": 5}]},
            ("account", "acct-hpc"): ApiError("account quota unavailable"),
        }
    )
    storage = Storage(router, FakePool(cluster), HOME, source)
    quotas = await storage.quotas()
    assert sorted(source.asked) == [("account", "acct-hpc"), ("user", "hpcuser")]
    assert quotas[0].kind == "user"
    assert quotas[0].used_bytes == 5
    assert quotas[0].error is None
    assert quotas[1].kind == "account"
    assert quotas[1].error == "account quota unavailable"


async def test_quotas_without_source_refused(storage: Storage) -> None:
    with pytest.raises(Refused):
        await storage.quotas()


# --- writes ----------------------------------------------------------------------------------


async def test_cold_write_through_login_refused_with_words(
    storage: Storage, cluster: LocalCluster
) -> None:
    path = "/archive/home/acct-hpc/hpcuser/new dir"
    with pytest.raises(Refused) as info:
        await storage.mkdir(path, via="pilogin")
    assert "/archive" in info.value.message
    assert "pilogin" in info.value.message
    assert "read-only" in info.value.message
    assert "data" in info.value.message
    assert not cluster.local(path).exists()
    assert cluster.sftp_nodes == []  # refused before any connection

    await storage.mkdir(path)
    assert cluster.local(path).is_dir()
    assert cluster.sftp_nodes == ["data"]
    sy = Storage(storage.router, FakePool(cluster), "/dssg/home/acct-hpc/hpcuser", group="sy")
    await sy.mkdir("/vault/home/acct-hpc/hpcuser/a/b", parents=True)
    assert cluster.sftp_nodes[-1] == "sydata"
    assert cluster.local("/vault/home/acct-hpc/hpcuser/a/b").is_dir()


async def test_rename_exact_and_never_overwrites(storage: Storage, cluster: LocalCluster) -> None:
    base = cluster.local(HOME)
    mark = Sentinel(base)
    evil = f"{mark.evil} -rf 'x'\n中"
    (base / evil).write_text("data")
    (base / "taken").write_text("keep")
    await storage.rename(f"{HOME}/{evil}", f"{HOME}/-{evil} renamed")
    assert (base / f"-{evil} renamed").read_text() == "data"
    assert not (base / evil).exists()
    with pytest.raises(Refused):
        await storage.rename(f"{HOME}/-{evil} renamed", f"{HOME}/taken")
    assert (base / "taken").read_text() == "keep"
    with pytest.raises(Refused):
        await storage.rename(f"{HOME}/taken", "/archive/home/acct-hpc/hpcuser/taken")
    with pytest.raises(NotFound):
        await storage.rename(f"{HOME}/absent", f"{HOME}/absent2")
    assert mark.untouched()


async def test_delete_plan_names_exactly_and_delete_removes_it(
    storage: Storage, cluster: LocalCluster
) -> None:
    base = cluster.local(HOME)
    mark = Sentinel(base)
    tree = base / f"run {mark.evil}"
    (tree / "sub\nline" / "deeper").mkdir(parents=True)
    (tree / "a").write_bytes(b"1" * 10)
    (tree / "sub\nline" / "-b").write_bytes(b"2" * 20)
    (tree / "sub\nline" / "deeper" / "c 中").write_bytes(b"3" * 30)
    os.symlink("/lustre", tree / "link-out")  # removed as a link; its target is untouched
    (base / "single.txt").write_bytes(b"x" * 5)
    (base / "keep").write_text("stays")

    paths = [f"{HOME}/run {mark.evil}", f"{HOME}/single.txt"]
    plan = await storage.delete_plan(paths)
    d, f = plan.items
    assert (d.kind, d.entries, d.size, d.node) == ("dir", 7, 60, "pilogin")
    assert (f.kind, f.entries, f.size) == ("file", 1, 5)
    assert plan.entries == 8
    assert plan.size == 65
    lines = plan.describe()
    assert lines[0].startswith(paths[0] + "/ (directory, 6 entries inside")
    assert lines[1].startswith(paths[1] + " (file")
    assert lines[-1] == "In total: 8 entries, 65 B."
    assert tree.exists()  # planning removes nothing

    seen: list[tuple[int, int]] = []
    await storage.delete(plan, on_progress=lambda done, total: seen.append((done, total)))
    assert not tree.exists()
    assert not (base / "single.txt").exists()
    assert (base / "keep").read_text() == "stays"
    assert cluster.local("/lustre").is_dir()
    assert seen[-1] == (8, 8)
    assert mark.untouched()


async def test_delete_refuses_when_the_tree_changed(
    storage: Storage, cluster: LocalCluster
) -> None:
    base = cluster.local(HOME)
    (base / "d" / "e").mkdir(parents=True)
    (base / "d" / "f").write_text("1")
    plan = await storage.delete_plan([f"{HOME}/d"])
    (base / "d" / "e" / "new").write_text("added after the plan")
    with pytest.raises(Refused) as info:
        await storage.delete(plan)
    assert "changed" in info.value.message
    assert (base / "d" / "f").exists()
    assert (base / "d" / "e" / "new").exists()

    plan = await storage.delete_plan([f"{HOME}/d/f"])
    (base / "d" / "f").write_text("1 but longer")
    with pytest.raises(Refused):
        await storage.delete(plan)
    assert (base / "d" / "f").exists()

    plan = await storage.delete_plan([f"{HOME}/d/f"])
    (base / "d" / "f").unlink()
    with pytest.raises(Refused) as info:
        await storage.delete(plan)
    assert "gone" in info.value.message


async def test_delete_guards(storage: Storage, cluster: LocalCluster) -> None:
    for path in ("/lustre", HOME, "/archive/home", "/lustre/home/acct-hpc", "/union"):
        with pytest.raises(Refused):
            await storage.delete_plan([path])
    (cluster.local(HOME) / "x" / "y").mkdir(parents=True)
    with pytest.raises(Refused):
        await storage.delete_plan([f"{HOME}/x", f"{HOME}/x/y"])
    with pytest.raises(NotFound):
        await storage.delete_plan([f"{HOME}/absent"])


async def test_delete_on_cold_goes_through_data(storage: Storage, cluster: LocalCluster) -> None:
    cold = "/archive/home/acct-hpc/hpcuser"
    (cluster.local(cold) / "old").mkdir()
    (cluster.local(cold) / "old" / "f").write_text("1")
    with pytest.raises(Refused):
        await storage.delete_plan([cold + "/old"], via="sylogin")
    plan = await storage.delete_plan([cold + "/old"])
    assert plan.items[0].node == "data"
    await storage.delete(plan)
    assert not cluster.local(cold + "/old").exists()


async def test_read_only_refuses_every_write(cluster: LocalCluster, router: Router) -> None:
    storage = Storage(router, FakePool(cluster), HOME, read_only=True)
    (cluster.local(HOME) / "f").write_text("x")
    with pytest.raises(Refused) as info:
        await storage.mkdir(HOME + "/d")
    assert "read-only" in info.value.message
    with pytest.raises(Refused):
        await storage.rename(HOME + "/f", HOME + "/g")
    with pytest.raises(Refused):
        await storage.delete_plan([HOME + "/f"])
    assert [e.name for e in await storage.list_dir(HOME)] == ["f"]  # reads still work
    assert cluster.sftp_nodes == ["pilogin"]


async def test_rename_refuses_own_directories(storage: Storage) -> None:
    with pytest.raises(Refused):
        await storage.rename(HOME, HOME + "-old")
    with pytest.raises(Refused):
        await storage.rename("/lustre/home/acct-hpc", "/lustre/home/acct-x")
