"""The user's configuration: profiles (which site, which user, which hosts) and key bindings.

One typed model read with ``tomllib``. Where the file is: ``$SUAN_CONFIG``, else the path
given on the command line (``--config``), else ``<platformdirs config dir>/suan/config.toml``.
A missing default file means one default ``sjtu`` profile. Secrets never live here: a key
named like a password or token is refused.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from core.errors import ConfigError
from core.site import Site, load_site

APP_NAME = "suan"
DEFAULT_PROFILE = "sjtu"
SECRETS_MODES = ("auto", "file")

_PROFILE_KEYS = frozenset(
    {
        "site",
        "username",
        "api_url",
        "known_hosts",
        "data_dir",
        "secrets",
        "max_channels",
        "read_only",
        "hosts",
        "site_overrides",
        "refresh_seconds",
    }
)
_TOP_KEYS = frozenset({"default_profile", "profiles", "keys"})
_SECRET_NAMES = frozenset(
    {"password", "passwd", "passphrase", "token", "hpc_token", "private_key", "secret"}
)


def default_config_path() -> Path:
    """``config.toml`` in the platform's user config directory for suan."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_data_root() -> Path:
    """The platform's user data directory for suan."""
    return Path(platformdirs.user_data_dir(APP_NAME))


def _local_username() -> str:
    # Like ssh: without a configured user name, the local one is the best guess.
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "user"


@dataclass(frozen=True)
class Profile:
    """One way of reaching one site as one user."""

    name: str
    site_name: str = "sjtu"
    """A shipped site name (``sjtu``) or the path of a site file."""
    username: str = field(default_factory=_local_username)
    """The HPC account; without one in the file, the local login name (as ssh does)."""
    api_url: str = ""
    """The HPC API base URL; ``load_config`` fills in the site's when the file has none."""
    known_hosts: Path = field(default_factory=lambda: default_data_root() / "known_hosts")
    data_dir: Path = field(default_factory=lambda: default_data_root() / DEFAULT_PROFILE)
    """Where secrets files and transfer records of this profile live."""
    secrets: str = "auto"
    """``"auto"``: the keyring when a backend exists, else 0600 files; ``"file"``: files."""
    max_channels: int = 10
    """SSH channels per connection; sshd's MaxSessions is 10 by default."""
    read_only: bool = False
    """Refuse every action that changes something on the cluster."""
    hosts: Mapping[str, str] = field(default_factory=dict)
    """Entry node name → ``host:port``, laid over the site's addresses."""
    site_overrides: Mapping[str, Any] = field(default_factory=dict)
    """Deep-merged over the site file."""
    refresh_seconds: float = 5.0
    """How often live views refresh."""
    source: str = "<defaults>"
    """The file this profile came from, for messages."""

    def site(self) -> Site:
        """The profile's site with ``site_overrides`` and then ``hosts`` applied."""
        try:
            site = load_site(self.site_name, self.site_overrides or None)
        except ConfigError as exc:
            # The site file is fine on its own; say which profile's settings broke it.
            key = "site_overrides" if self.site_overrides else "site"
            raise ConfigError(
                f"{self.source}: profiles.{self.name}.{key}: {exc.message}", hint=exc.hint
            ) from None
        if not self.hosts:
            return site
        nodes = dict(site.entry_nodes)
        for node, address in self.hosts.items():
            where = f"{self.source}: profiles.{self.name}.hosts.{node}"
            if node not in nodes:
                known = ", ".join(nodes)
                raise ConfigError(f"{where}: no entry node called {node!r} (known: {known})")
            host, port = _split_address(address, where)
            nodes[node] = replace(nodes[node], host=host, port=port)
        return replace(site, entry_nodes=nodes)

    def resolved_api_url(self) -> str:
        """``api_url`` if set, else the site's."""
        return self.api_url or self.site().api_url


def _split_address(address: str, where: str) -> tuple[str, int]:
    """``host:port``, ``host``, ``[v6]:port`` → (host, port)."""
    host, port_text = address, ""
    if address.startswith("["):
        inner, _, rest = address[1:].partition("]")
        host, port_text = inner, rest.removeprefix(":")
    elif address.count(":") == 1:
        host, _, port_text = address.partition(":")
    if not host:
        raise ConfigError(f"{where}: expected host:port, got {address!r}")
    if not port_text:
        return host, 22
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{where}: bad port in {address!r}")
    return host, int(port_text)


@dataclass(frozen=True)
class Config:
    """The whole configuration file."""

    profiles: Mapping[str, Profile]
    default_profile: str = DEFAULT_PROFILE
    keys: Mapping[str, str] = field(default_factory=dict)
    """Key binding id → keys (``"ctrl+r"``, ``"r,f5"``), for the TUI's keymap."""
    path: Path | None = None
    """The file read, or None when defaults were used."""
    warnings: tuple[str, ...] = ()
    """Things in the file suan did not understand (unknown keys): shown, not fatal."""

    def profile(self, name: str | None = None) -> Profile:
        """The profile called ``name``, or the default one."""
        wanted = name or self.default_profile
        try:
            return self.profiles[wanted]
        except KeyError:
            known = ", ".join(self.profiles) or "none"
            where = str(self.path) if self.path else "the configuration"
            raise ConfigError(
                f"{where}: no profile called {wanted!r} (known: {known})",
                hint=f"add a [profiles.{wanted}] table",
            ) from None


def default_profile(name: str = DEFAULT_PROFILE) -> Profile:
    """A profile for SJTU HPC with every default."""
    profile = Profile(name=name, data_dir=default_data_root() / name)
    return replace(profile, api_url=profile.site().api_url)


def config_path(path: Path | None = None) -> tuple[Path, bool]:
    """The file to read and whether it was named explicitly.

    ``--config`` (``path``) wins over ``$SUAN_CONFIG``, as a flag on the command line is
    the more specific wish; the platform's config directory comes last."""
    if path is not None:
        return Path(path).expanduser(), True
    env = os.environ.get("SUAN_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return default_config_path(), False


def load_config(path: Path | None = None) -> Config:
    """Read the configuration. A missing default file gives one default ``sjtu`` profile;
    a file named explicitly must exist."""
    file, explicit = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{file}: no such configuration file") from None
        return Config(profiles={DEFAULT_PROFILE: default_profile()})
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(data, file)


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Build the typed model from parsed TOML; errors name the file and the key."""
    _refuse_secrets(data, str(path), "")
    warnings = [f"{path}: unknown key {k!r} (ignored)" for k in data if k not in _TOP_KEYS]

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {problem}")

    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, Mapping):
        raise fail("profiles", "expected a table of profiles")
    profiles: dict[str, Profile] = {}
    for name, raw in raw_profiles.items():
        if not isinstance(raw, Mapping):
            raise fail(f"profiles.{name}", "expected a table")
        profile, unknown = _parse_profile(name, raw, path)
        profiles[name] = profile
        warnings += [f"{path}: unknown key profiles.{name}.{k!r} (ignored)" for k in unknown]
    default = data.get("default_profile", DEFAULT_PROFILE)
    if not isinstance(default, str):
        raise fail("default_profile", f"expected a profile name, got {default!r}")
    if default not in profiles:
        if default == DEFAULT_PROFILE and "default_profile" not in data:
            profiles.setdefault(DEFAULT_PROFILE, default_profile())
        else:
            known = ", ".join(profiles) or "none"
            raise fail("default_profile", f"no profile called {default!r} (known: {known})")
    keys = data.get("keys", {})
    if not isinstance(keys, Mapping) or not all(isinstance(v, str) for v in keys.values()):
        raise fail("keys", 'expected a table of binding id = "keys"')
    return Config(
        profiles=profiles,
        default_profile=default,
        keys=dict(keys),
        path=path,
        warnings=tuple(warnings),
    )


def _refuse_secrets(data: Mapping[str, Any], source: str, prefix: str) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        lowered = str(key).lower()
        if lowered in _SECRET_NAMES or lowered.endswith(("_password", "_token")):
            raise ConfigError(
                f"{source}: {dotted}: secrets do not belong in the configuration file",
                hint="remove it; `suan login` keeps what it needs in the keyring "
                "or in 0600 files in the data directory",
            )
        if isinstance(value, Mapping):
            _refuse_secrets(value, source, f"{dotted}.")


def _parse_profile(name: str, raw: Mapping[str, Any], path: Path) -> tuple[Profile, list[str]]:
    where = f"profiles.{name}"

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{path}: {where}.{key}: {problem}")

    def text(key: str) -> str | None:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(key, f"expected a string, got {value!r}")
        return value

    def a_path(key: str) -> Path | None:
        value = text(key)
        if value is None:
            return None
        if not value:
            raise fail(key, "expected a path, got an empty string")
        candidate = Path(value).expanduser()
        # Relative paths are relative to the configuration file, not to wherever suan runs.
        return candidate if candidate.is_absolute() else path.parent / candidate

    def flag(key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise fail(key, f"expected true or false, got {value!r}")
        return value

    def table(key: str) -> Mapping[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, Mapping):
            raise fail(key, "expected a table")
        return value

    max_channels = raw.get("max_channels", 10)
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
        raise fail("max_channels", f"expected a whole number ≥ 1, got {max_channels!r}")
    refresh = raw.get("refresh_seconds", 5.0)
    if isinstance(refresh, bool) or not isinstance(refresh, int | float) or refresh <= 0:
        raise fail("refresh_seconds", f"expected a number of seconds > 0, got {refresh!r}")
    secrets = text("secrets") or "auto"
    if secrets not in SECRETS_MODES:
        raise fail("secrets", f"expected one of {', '.join(SECRETS_MODES)}, got {secrets!r}")
    hosts = table("hosts")
    for node, address in hosts.items():
        if not isinstance(address, str):
            raise fail(f"hosts.{node}", f'expected "host:port", got {address!r}')
        _split_address(address, f"{path}: {where}.hosts.{node}")
    username = text("username")
    if username is not None and not username.strip():
        raise fail("username", "expected a user name, got an empty string")

    defaults = default_profile(name)
    profile = Profile(
        name=name,
        site_name=text("site") or "sjtu",
        username=username or defaults.username,
        api_url=(text("api_url") or "").rstrip("/"),
        known_hosts=a_path("known_hosts") or defaults.known_hosts,
        data_dir=a_path("data_dir") or defaults.data_dir,
        secrets=secrets,
        max_channels=max_channels,
        read_only=flag("read_only", False),
        hosts=dict(hosts),
        site_overrides=dict(table("site_overrides")),
        refresh_seconds=float(refresh),
        source=str(path),
    )
    # Build the site now so a bad site name or override is reported when the file is read.
    # Build the site now so a bad site name or override is reported when the file is read,
    # and so api_url always holds the URL in use.
    site = profile.site()
    if not profile.api_url:
        profile = replace(profile, api_url=site.api_url)
    unknown = [k for k in raw if k not in _PROFILE_KEYS]
    return profile, unknown
