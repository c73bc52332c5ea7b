"""Every routing rule of the SJTU site, from site data alone."""

from __future__ import annotations

import pytest

from core.errors import NotFound, Refused
from core.routing import Router
from core.site import load_site


@pytest.fixture
def router() -> Router:
    return Router(load_site())


@pytest.mark.parametrize(
    ("partition", "group", "node"),
    [
        ("cpu", "pi", "pilogin"),
        ("debug", "pi", "pilogin"),
        ("dgx2", "pi", "pilogin"),
        ("huge", "pi", "pilogin"),
        ("192c6t", "pi", "pilogin"),
        ("debugarm", "kp", "armlogin"),
        ("arm128c256g", "kp", "armlogin"),
        ("scnet_arm", "kp", "armlogin"),
        ("small", "sy", "sylogin"),
        ("64c512g", "sy", "sylogin"),
        ("el9", "sy", "sylogin"),
        ("debug64c512g", "sy", "sylogin"),
        ("win32", "sy", "sylogin"),
        ("a100", "sy", "sylogin"),
        ("a800", "sy", "sylogin"),
        ("debuga100", "sy", "sylogin"),
        ("debug100", "sy", "sylogin"),
    ],
)
def test_a_partition_goes_to_its_groups_job_node(
    router: Router, partition: str, group: str, node: str
) -> None:
    assert router.group_of_partition(partition) == group
    assert router.node_for_partition(partition).name == node
    assert router.node_for_partition(partition).business == "job"


def test_unknown_partition(router: Router) -> None:
    with pytest.raises(NotFound, match="'gpu'"):
        router.group_of_partition("gpu")
    with pytest.raises(NotFound):
        router.node_for_partition("gpu")


def test_job_nodes(router: Router) -> None:
    assert router.job_node("pi").name == "pilogin"
    assert router.job_node("kp").name == "armlogin"
    assert router.job_node("sy").name == "sylogin"
    with pytest.raises(NotFound):
        router.job_node("xx")


def test_controllers_one_job_node_each(router: Router) -> None:
    controllers = router.controllers()
    assert {name: node.name for name, node in controllers.items()} == {
        "pi": "pilogin",
        "sy": "sylogin",
    }
    assert router.controller_of_partition("arm128c256g") == "pi"
    assert router.controller_of_partition("a100") == "sy"


@pytest.mark.parametrize(
    ("path", "pool"),
    [
        ("/lustre", "lustre"),
        ("/lustre/home/acct-hpc/u/x.txt", "lustre"),
        ("/dssg/home/acct-hpc/u", "dssg"),
        ("/archive/home/acct-hpc/u", "archive"),
        ("/vault/x", "vault"),
        ("/union/home/acct-hpc/u/", "union"),
        ("//lustre//home/../home/u", "lustre"),
    ],
)
def test_pool_of_path(router: Router, path: str, pool: str) -> None:
    assert router.pool_of_path(path).name == pool


@pytest.mark.parametrize(
    "path", ["/lustrefs/x", "/tmp/x", "/", "relative/lustre", "/archive/../etc"]
)
def test_paths_on_no_pool(router: Router, path: str) -> None:
    with pytest.raises(NotFound):
        router.pool_of_path(path)


def test_group_of_path(router: Router) -> None:
    assert router.group_of_path("/lustre/home/acct-hpc/u") == "pi"
    assert router.group_of_path("/dssg/home/acct-hpc/u") == "sy"
    with pytest.raises(NotFound):
        router.group_of_path("/archive/home/acct-hpc/u")


def test_nodes_seeing_each_pool_data_nodes_last(router: Router) -> None:
    def names(pool: str) -> list[str]:
        return [n.name for n in router.nodes_seeing(pool)]

    assert names("lustre") == ["pilogin", "armlogin", "data"]
    assert names("dssg") == ["sylogin", "data", "sydata"]
    for cold in ("archive", "vault", "union", "/union"):
        assert names(cold) == ["pilogin", "armlogin", "sylogin", "data", "sydata"]
    with pytest.raises(NotFound):
        router.nodes_seeing("scratch")


@pytest.mark.parametrize(
    ("path", "prefer", "node"),
    [
        ("/lustre/home/acct-hpc/u", None, "pilogin"),
        ("/lustre/home/acct-hpc/u", "kp", "armlogin"),
        ("/lustre/home/acct-hpc/u", "sy", "pilogin"),  # sy nodes do not see /lustre
        ("/dssg/home/acct-hpc/u", None, "sylogin"),
        ("/dssg/home/acct-hpc/u", "pi", "data"),  # data mounts /dssg for transfers
        ("/archive/x", None, "pilogin"),  # cold data is readable from any node
        ("/archive/x", "sy", "sylogin"),
        ("/union/x", "kp", "armlogin"),
    ],
)
def test_node_for_read(router: Router, path: str, prefer: str | None, node: str) -> None:
    assert router.node_for_read(path, prefer_group=prefer).name == node


@pytest.mark.parametrize(
    ("path", "prefer", "node"),
    [
        ("/lustre/home/acct-hpc/u/f", None, "pilogin"),
        ("/lustre/home/acct-hpc/u/f", "kp", "armlogin"),
        ("/dssg/home/acct-hpc/u/f", "sy", "sylogin"),
        # Cold writes only through data nodes, chosen by the group of the caller's home.
        ("/archive/home/acct-hpc/u/f", "pi", "data"),
        ("/archive/home/acct-hpc/u/f", "kp", "data"),
        ("/archive/home/acct-hpc/u/f", "sy", "sydata"),
        ("/vault/f", "sy", "sydata"),
        ("/union/f", "pi", "data"),
        ("/union/f", None, "data"),
    ],
)
def test_node_for_write(router: Router, path: str, prefer: str | None, node: str) -> None:
    assert router.node_for_write(path, prefer_group=prefer).name == node


def test_node_for_write_unknown_group(router: Router) -> None:
    with pytest.raises(NotFound):
        router.node_for_write("/archive/x", prefer_group="zz")


def test_a_pool_nobody_may_write_is_refused() -> None:
    router = Router(load_site("sjtu", {"pools": {"vault": {"writable_on": []}}}))
    with pytest.raises(Refused, match="/vault is read-only"):
        router.node_for_write("/vault/x")


@pytest.mark.parametrize(
    ("node", "path", "allowed"),
    [
        ("pilogin", "/lustre/x", True),
        ("armlogin", "/lustre/x", True),
        ("data", "/lustre/x", True),
        ("sylogin", "/lustre/x", False),
        ("sydata", "/lustre/x", False),
        ("sylogin", "/dssg/x", True),
        ("sydata", "/dssg/x", True),
        ("data", "/dssg/x", True),
        ("pilogin", "/dssg/x", False),
        ("pilogin", "/archive/x", False),
        ("armlogin", "/vault/x", False),
        ("sylogin", "/union/x", False),
        ("data", "/archive/x", True),
        ("sydata", "/vault/x", True),
        ("data", "/union/x", True),
    ],
)
def test_can_write(router: Router, node: str, path: str, allowed: bool) -> None:
    assert router.can_write(node, path) is allowed


def test_explain_write_refusal(router: Router) -> None:
    assert (
        router.explain_write_refusal("pilogin", "/archive/home/acct-hpc/u")
        == "/archive is cold storage: it is read-only on pilogin; suan writes it through data."
    )
    assert (
        router.explain_write_refusal("sylogin", "/vault/x")
        == "/vault is cold storage: it is read-only on sylogin; suan writes it through sydata."
    )
    assert router.explain_write_refusal("armlogin", "/union/x") == (
        "/union is a view of cold storage: it is read-only on armlogin; "
        "suan writes it through data."
    )
    assert router.explain_write_refusal("sylogin", "/lustre/x") == (
        "/lustre is not visible on sylogin; suan writes it through pilogin."
    )
    assert router.explain_write_refusal("data", "/archive/x") == "/archive is writable on data."
    with pytest.raises(NotFound):
        router.explain_write_refusal("nowhere", "/archive/x")


def test_personal_dir(router: Router) -> None:
    home = "/lustre/home/acct-hpc/hpcrobot"
    assert router.personal_dir(home, "archive") == "/archive/home/acct-hpc/hpcrobot"
    assert router.personal_dir(home, "/vault") == "/vault/home/acct-hpc/hpcrobot"
    assert router.personal_dir(home + "/", "union") == "/union/home/acct-hpc/hpcrobot"
    assert router.personal_dir("/dssg/home/acct-hpc/u", "lustre") == "/lustre/home/acct-hpc/u"
    with pytest.raises(NotFound):
        router.personal_dir("/lustre", "archive")
    with pytest.raises(NotFound):
        router.personal_dir(home, "scratch")


def test_account_of_home(router: Router) -> None:
    assert router.account_of_home("/lustre/home/acct-hpc/hpcrobot") == "acct-hpc"
    assert router.account_of_home("/dssg/home/acct-hpc/u/") == "acct-hpc"
