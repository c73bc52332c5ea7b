"""The configuration file: where it is, what it holds, and how it says what is wrong."""

from __future__ import annotations

import getpass
from pathlib import Path

import platformdirs
import pytest

from core.config import Config, default_config_path, load_config
from core.errors import ConfigError

TESTBED_LIKE = """
default_profile = "testbed"

[profiles.testbed]
site = "sjtu"
username = "hpcuser"
api_url = "http://127.0.0.1:18765/"
known_hosts = "/tmp/suan-testbed/known_hosts"
data_dir = "data"
secrets = "file"
max_channels = 8
read_only = true
refresh_seconds = 2

[profiles.testbed.hosts]
pilogin = "127.0.0.2:2222"
sydata = "127.0.0.6"

[profiles.testbed.site_overrides.partitions.gpu]
group = "sy"
description = "added by the profile"

[profiles.other]
username = "someone"

[keys]
refresh = "ctrl+r"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_default_file_gives_a_default_sjtu_profile() -> None:
    config = load_config()
    assert config.path is None
    assert config.default_profile == "sjtu"
    profile = config.profile()
    assert profile.name == "sjtu"
    assert profile.site_name == "sjtu"
    assert profile.username == getpass.getuser()
    assert profile.secrets == "auto"
    assert profile.max_channels == 10
    assert profile.refresh_seconds == 5
    assert profile.read_only is False
    data_root = Path(platformdirs.user_data_dir("suan"))
    assert profile.known_hosts == data_root / "known_hosts"
    assert profile.data_dir == data_root / "sjtu"
    assert profile.api_url == "https://api.hpc.sjtu.edu.cn"
    assert profile.resolved_api_url() == "https://api.hpc.sjtu.edu.cn"
    assert profile.site().entry_nodes["pilogin"].host == "pilogin.hpc.sjtu.edu.cn"


def test_default_path_is_under_the_user_config_dir(tmp_path: Path) -> None:
    # conftest points XDG_CONFIG_HOME at a temporary directory.
    assert default_config_path() == Path(platformdirs.user_config_dir("suan")) / "config.toml"
    default_config_path().parent.mkdir(parents=True)
    default_config_path().write_text('[profiles.sjtu]\nusername = "fromdefault"\n')
    assert load_config().profile().username == "fromdefault"


def test_full_profile(tmp_path: Path) -> None:
    path = write(tmp_path, TESTBED_LIKE)
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.path == path
    assert config.warnings == ()
    assert config.keys == {"refresh": "ctrl+r"}
    profile = config.profile()
    assert profile.name == "testbed"
    assert profile.username == "hpcuser"
    assert profile.api_url == "http://127.0.0.1:18765"
    assert profile.resolved_api_url() == "http://127.0.0.1:18765"
    assert profile.known_hosts == Path("/tmp/suan-testbed/known_hosts")
    # Relative paths are relative to the config file.
    assert profile.data_dir == tmp_path / "data"
    assert profile.secrets == "file"
    assert profile.max_channels == 8
    assert profile.read_only is True
    assert profile.refresh_seconds == 2.0
    assert profile.source == str(path)
    other = config.profile("other")
    assert other.username == "someone"
    assert other.api_url == "https://api.hpc.sjtu.edu.cn"  # the site's
    assert other.data_dir == Path(platformdirs.user_data_dir("suan")) / "other"


def test_profile_site_applies_hosts_and_overrides(tmp_path: Path) -> None:
    site = load_config(write(tmp_path, TESTBED_LIKE)).profile("testbed").site()
    pilogin = site.entry_nodes["pilogin"]
    assert (pilogin.host, pilogin.port, pilogin.business) == ("127.0.0.2", 2222, "job")
    assert (site.entry_nodes["sydata"].host, site.entry_nodes["sydata"].port) == ("127.0.0.6", 22)
    assert site.entry_nodes["sylogin"].host == "sylogin.hpc.sjtu.edu.cn"
    assert site.partitions["gpu"].group == "sy"
    assert site.partitions["cpu"].group == "pi"


def test_flag_wins_over_suan_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = write(tmp_path, '[profiles.sjtu]\nusername = "fromenv"\n', "env.toml")
    flag_file = write(tmp_path, '[profiles.sjtu]\nusername = "fromflag"\n', "flag.toml")
    assert load_config(flag_file).profile().username == "fromflag"
    monkeypatch.setenv("SUAN_CONFIG", str(env_file))
    assert load_config(flag_file).profile().username == "fromflag"
    assert load_config().path == env_file


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TESTBED_LIKE))
    with pytest.raises(ConfigError, match=r"no profile called 'prod' \(known: testbed, other\)"):
        config.profile("prod")


def test_unknown_keys_are_warnings_not_errors(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, 'theme = "dark"\n[profiles.sjtu]\nusername = "u"\ncolour = 1\n')
    )
    assert len(config.warnings) == 2
    assert any("'theme'" in w for w in config.warnings)
    assert any("profiles.sjtu.'colour'" in w for w in config.warnings)
    assert config.profile().username == "u"


@pytest.mark.parametrize(
    "text",
    [
        '[profiles.sjtu]\npassword = "hunter2"\n',
        '[profiles.sjtu]\ntoken = "abc"\n',
        '[profiles.sjtu]\nhpc_token = "abc"\n',
        '[profiles.sjtu.site_overrides]\napi_token = "abc"\n',
        'Password = "x"\n',
    ],
)
def test_secrets_are_refused_without_echoing_them(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "secrets do not belong" in message
    assert "config.toml" in message
    for secret in ("hunter2", "abc", '"x"'):
        assert secret not in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[profiles.sjtu]\nmax_channels = 0\n", "profiles.sjtu.max_channels"),
        ('[profiles.sjtu]\nmax_channels = "10"\n', "profiles.sjtu.max_channels"),
        ("[profiles.sjtu]\nmax_channels = true\n", "profiles.sjtu.max_channels"),
        ("[profiles.sjtu]\nrefresh_seconds = 0\n", "profiles.sjtu.refresh_seconds"),
        ('[profiles.sjtu]\nsecrets = "keyring"\n', "profiles.sjtu.secrets"),
        ('[profiles.sjtu]\nread_only = "yes"\n', "profiles.sjtu.read_only"),
        ("[profiles.sjtu]\nusername = 5\n", "profiles.sjtu.username"),
        ('[profiles.sjtu]\nusername = " "\n', "profiles.sjtu.username"),
        ('[profiles.sjtu]\nknown_hosts = ""\n', "profiles.sjtu.known_hosts"),
        ('[profiles.sjtu]\nhosts = "pilogin"\n', "profiles.sjtu.hosts"),
        ("[profiles.sjtu.hosts]\npilogin = 2222\n", "profiles.sjtu.hosts.pilogin"),
        ('[profiles.sjtu.hosts]\npilogin = "h:99999"\n', "profiles.sjtu.hosts.pilogin"),
        ('[profiles.sjtu.hosts]\npilogin = ":22"\n', "profiles.sjtu.hosts.pilogin"),
        ('[profiles.sjtu.hosts]\nlogin = "h:22"\n', "profiles.sjtu.hosts.login"),
        ('[profiles.sjtu]\nsite = "elsewhere"\n', "profiles.sjtu.site"),
        (
            "[profiles.sjtu.site_overrides.partitions.cpu]\ngroup = 'zz'\n",
            "profiles.sjtu.site_overrides",
        ),
        ('profiles = "x"\n', "profiles"),
        ('[profiles]\nsjtu = "x"\n', "profiles.sjtu"),
        ('default_profile = "prod"\n', "default_profile"),
        ("[keys]\nrefresh = 1\n", "keys"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert str(tmp_path / "config.toml") in caught.value.message
    assert key in caught.value.message


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.toml: not valid TOML"):
        load_config(write(tmp_path, "[profiles.sjtu\n"))


def test_ipv6_host_addresses(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.sjtu.hosts]\npilogin = "[::1]:2222"\n')
    node = load_config(path).profile().site().entry_nodes["pilogin"]
    assert (node.host, node.port) == ("::1", 2222)


def test_profiles_are_frozen(tmp_path: Path) -> None:
    profile = load_config(write(tmp_path, TESTBED_LIKE)).profile()
    with pytest.raises(AttributeError):
        profile.username = "x"  # type: ignore[misc]


def test_api_url_follows_site_overrides_unless_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[profiles.a.site_overrides]\napi_url = "http://site.local"\n'
        '[profiles.b]\napi_url = "http://own.local"\n'
        '[profiles.b.site_overrides]\napi_url = "http://site.local"\n',
    )
    config = load_config(path)
    assert config.profile("a").api_url == "http://site.local"
    assert config.profile("b").api_url == "http://own.local"
    assert config.profile("b").site().api_url == "http://site.local"
