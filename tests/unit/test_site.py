"""The shipped SJTU site file and the site loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError, NotFound
from core.site import deep_merge, load_site, shipped_sites


def test_sjtu_is_shipped_and_loads() -> None:
    assert "sjtu" in shipped_sites()
    site = load_site()
    assert site.name == "sjtu"
    assert site.api_url == "https://api.hpc.sjtu.edu.cn"
    assert site.domain == "pi"
    assert site.security_docs_url == "https://docs.hpc.sjtu.edu.cn/accounts/security.html"
    assert site.support_email == "hpc@sjtu.edu.cn"
    assert "login.hpc.sjtu.edu.cn" in site.old_hostnames
    assert site.default_time_limit == 7 * 24 * 60


def test_groups_and_controllers() -> None:
    site = load_site()
    assert {g: (x.hot_pool, x.controller) for g, x in site.groups.items()} == {
        "pi": ("lustre", "pi"),
        "kp": ("lustre", "pi"),
        "sy": ("dssg", "sy"),
    }
    assert site.groups["pi"].label == "π 2.0"
    assert "鲲鹏" in site.groups["kp"].label
    assert site.groups["sy"].label == "思源一号"


@pytest.mark.parametrize(
    ("group", "partitions"),
    [
        ("pi", {"cpu", "debug", "dgx2", "huge", "192c6t"}),
        ("kp", {"debugarm", "arm128c256g", "scnet_arm"}),
        (
            "sy",
            {"small", "64c512g", "el9", "debug64c512g", "win32", "a100", "a800", "debuga100"},
        ),
    ],
)
def test_every_partition_of_the_skill_table(group: str, partitions: set[str]) -> None:
    site = load_site()
    assert {p.name for p in site.partitions.values() if p.group == group} == partitions


def test_partition_facts_and_time_limits() -> None:
    site = load_site()
    assert "Xeon 6248" in site.partitions["cpu"].description
    assert "A100" in site.partitions["a100"].description
    assert site.partitions["cpu"].default_time_limit == 10080
    assert site.partitions["huge"].default_time_limit == 2880
    assert site.partitions["192c6t"].default_time_limit == 2880
    assert site.partitions["debug"].max_time_limit == 20
    assert site.partitions["debug64c512g"].max_time_limit == 60


def test_disputed_facts_are_kept_and_the_skill_wins() -> None:
    site = load_site()
    assert site.partitions["small"].group == "sy"
    assert "π 2.0" in site.partitions["small"].note
    assert site.partition("debug100") is site.partitions["debuga100"]
    assert "debug100" in site.partitions["debuga100"].note


def test_entry_nodes() -> None:
    site = load_site()
    nodes = {n.name: (n.host, n.port, n.business, n.groups) for n in site.entry_nodes.values()}
    assert nodes == {
        "pilogin": ("pilogin.hpc.sjtu.edu.cn", 22, "job", ("pi",)),
        "armlogin": ("armlogin.hpc.sjtu.edu.cn", 22, "job", ("kp",)),
        "sylogin": ("sylogin.hpc.sjtu.edu.cn", 22, "job", ("sy",)),
        "data": ("data.hpc.sjtu.edu.cn", 22, "data", ("pi", "kp")),
        "sydata": ("sydata.hpc.sjtu.edu.cn", 22, "data", ("sy",)),
    }
    assert site.job_node("pi").name == "pilogin"
    assert site.job_node("kp").name == "armlogin"
    assert site.job_node("sy").name == "sylogin"
    assert site.data_node("pi").name == "data"
    assert site.data_node("kp").name == "data"
    assert site.data_node("sy").name == "sydata"


def test_pools() -> None:
    site = load_site()
    summary = {
        p.name: (p.mount, p.kind, set(p.visible_to), set(p.writable_on))
        for p in site.pools.values()
    }
    everyone = {"pi", "kp", "sy"}
    data_nodes = {"data", "sydata"}
    assert summary == {
        "lustre": ("/lustre", "hot", {"pi", "kp"}, {"*"}),
        "dssg": ("/dssg", "hot", {"sy"}, {"*"}),
        "archive": ("/archive", "cold", everyone, data_nodes),
        "vault": ("/vault", "cold", everyone, data_nodes),
        "union": ("/union", "union", everyone, data_nodes),
    }
    assert site.pools["dssg"].also_on == ("data",)
    assert site.pool("/archive") is site.pools["archive"]
    assert site.pools["union"].is_cold and not site.pools["lustre"].is_cold


def test_lookups_of_unknown_names_say_what_exists() -> None:
    site = load_site()
    with pytest.raises(NotFound, match="known: .*cpu"):
        site.partition("gpu")
    with pytest.raises(NotFound, match="pilogin"):
        site.node("login")
    with pytest.raises(NotFound, match="/archive"):
        site.pool("/tmp")
    with pytest.raises(NotFound, match="'zz'"):
        site.job_node("zz")


def test_overrides_deep_merge() -> None:
    site = load_site(
        "sjtu",
        {
            "api_url": "http://127.0.0.1:1",
            "entry_nodes": {"pilogin": {"host": "127.0.0.2", "port": 2222}},
            "partitions": {"gpu": {"group": "pi", "description": "new"}},
        },
    )
    assert site.api_url == "http://127.0.0.1:1"
    assert site.entry_nodes["pilogin"].host == "127.0.0.2"
    assert site.entry_nodes["pilogin"].port == 2222
    # Merged, not replaced: the rest of the node and the other partitions survive.
    assert site.entry_nodes["pilogin"].business == "job"
    assert site.partitions["gpu"].group == "pi"
    assert "cpu" in site.partitions


def test_deep_merge_does_not_touch_its_inputs() -> None:
    base = {"a": {"b": 1, "c": 2}}
    merged = deep_merge(base, {"a": {"b": 3}, "d": 4})
    assert merged == {"a": {"b": 3, "c": 2}, "d": 4}
    assert base == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"partitions": {"x": {"group": "nope"}}}, "partitions.x.group"),
        ({"entry_nodes": {"pilogin": {"business": "web"}}}, "entry_nodes.pilogin.business"),
        ({"entry_nodes": {"pilogin": {"port": 70000}}}, "entry_nodes.pilogin.port"),
        ({"entry_nodes": {"pilogin": {"port": "22"}}}, "entry_nodes.pilogin.port"),
        ({"pools": {"archive": {"writable_on": ["nowhere"]}}}, "pools.archive.writable_on"),
        ({"pools": {"archive": {"kind": "warm"}}}, "pools.archive.kind"),
        ({"pools": {"archive": {"mount": "archive"}}}, "pools.archive.mount"),
        ({"groups": {"pi": {"hot_pool": "gone"}}}, "groups.pi.hot_pool"),
        ({"groups": {"xx": {"hot_pool": "lustre", "controller": "x"}}}, "groups.xx"),
        (
            {"partitions": {"cpu": {"default_time_limit": "7d"}}},
            "partitions.cpu.default_time_limit",
        ),
        ({"partitions": {"cpu": {"aliases": "c"}}}, "partitions.cpu.aliases"),
        ({"groups": {"pi": {"controller": 1}}}, "groups.pi.controller"),
    ],
)
def test_bad_site_data_names_the_key(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_site("sjtu", overrides)
    assert key in caught.value.message
    assert "sjtu" in caught.value.message


def test_unknown_site_name() -> None:
    with pytest.raises(ConfigError, match="shipped: .*sjtu"):
        load_site("nowhere")


def test_site_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mini.toml"
    path.write_text(
        """
label = "Mini"
[groups.g]
hot_pool = "home"
controller = "c"
[partitions.p]
group = "g"
[entry_nodes.login]
host = "login.example"
business = "job"
groups = ["g"]
[pools.home]
mount = "/home/"
kind = "hot"
visible_to = ["g"]
writable_on = ["*"]
"""
    )
    site = load_site(str(path))
    assert site.name == "mini"
    assert site.entry_nodes["login"].port == 22
    assert site.pools["home"].mount == "/home"
    assert site.partitions["p"].default_time_limit is None
    assert site.job_node("g").name == "login"


def test_site_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("label = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_site(str(bad))
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        load_site(str(tmp_path / "missing.toml"))
    incomplete = tmp_path / "incomplete.toml"
    incomplete.write_text("[groups.g]\nhot_pool = 'x'\ncontroller = 'c'\n")
    with pytest.raises(ConfigError, match=r"incomplete\.toml: pools: missing"):
        load_site(str(incomplete))
