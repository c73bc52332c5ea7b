"""What a site is: node groups, partitions, entry nodes and storage pools, read from data.

The facts live in a TOML file (``core/sites/sjtu.toml`` for SJTU HPC), never in code, so a
profile can override any of them and another Slurm site is one more file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from core.errors import ConfigError, NotFound

BUSINESSES = ("job", "data")
POOL_KINDS = ("hot", "cold", "union")


@dataclass(frozen=True)
class EntryNode:
    """A login or data node users reach over SSH."""

    name: str
    host: str
    port: int
    business: str
    """``"job"`` (submits to its groups' partitions) or ``"data"`` (transfers, cold writes)."""
    groups: tuple[str, ...]
    """The node groups whose data and partitions this node sees."""

    @property
    def address(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Group:
    """A node group: partitions, a hot pool for homes and the Slurm cluster scheduling it."""

    name: str
    label: str
    hot_pool: str
    controller: str
    """The Slurm cluster that schedules the group (kp shares pi's)."""


@dataclass(frozen=True)
class PartitionInfo:
    """What the site says about a partition (the live state comes from Slurm)."""

    name: str
    group: str
    description: str
    default_time_limit: int | None
    """Minutes, or None when the site does not say."""
    max_time_limit: int | None = None
    """Minutes, or None when the site does not say."""
    aliases: tuple[str, ...] = ()
    """Other names the sources use for this partition."""
    note: str = ""
    """Where sources disagree, what the other one says."""


@dataclass(frozen=True)
class Pool:
    """A storage pool mounted at one top-level directory."""

    name: str
    mount: str
    kind: str
    """``"hot"``, ``"cold"`` or ``"union"`` (a merged view of cold pools)."""
    visible_to: tuple[str, ...]
    """Group names whose entry nodes mount it."""
    writable_on: tuple[str, ...]
    """Entry-node names that may write it, or ``("*",)`` for everywhere it is visible."""
    also_on: tuple[str, ...] = ()
    """Entry nodes outside ``visible_to`` that mount it too."""
    description: str = ""
    env: str = ""
    """The environment variable the site sets to this pool's personal directory."""

    @property
    def is_cold(self) -> bool:
        """Cold pools (and the union of them) are written only through data nodes."""
        return self.kind in ("cold", "union")


@dataclass(frozen=True)
class Site:
    """Everything suan knows about one HPC site."""

    name: str
    label: str
    api_url: str
    domain: str
    groups: dict[str, Group]
    partitions: dict[str, PartitionInfo]
    entry_nodes: dict[str, EntryNode]
    pools: dict[str, Pool]
    security_docs_url: str = ""
    support_email: str = ""
    old_hostnames: tuple[str, ...] = ()
    default_time_limit: int | None = None

    def group(self, name: str) -> Group:
        """The group called ``name``; NotFound names the known ones."""
        try:
            return self.groups[name]
        except KeyError:
            known = ", ".join(self.groups)
            raise NotFound(f"No node group {name!r} at {self.label} (known: {known}).") from None

    def partition(self, name: str) -> PartitionInfo:
        """The partition called ``name`` or one of its aliases."""
        info = self.partitions.get(name)
        if info is not None:
            return info
        for info in self.partitions.values():
            if name in info.aliases:
                return info
        known = ", ".join(self.partitions)
        raise NotFound(f"No partition {name!r} at {self.label} (known: {known}).")

    def node(self, name: str) -> EntryNode:
        """The entry node called ``name``."""
        try:
            return self.entry_nodes[name]
        except KeyError:
            known = ", ".join(self.entry_nodes)
            raise NotFound(f"No entry node {name!r} at {self.label} (known: {known}).") from None

    def pool(self, name: str) -> Pool:
        """The pool called ``name`` (``archive``) or mounted at ``name`` (``/archive``)."""
        for pool in self.pools.values():
            if name in (pool.name, pool.mount):
                return pool
        known = ", ".join(p.mount for p in self.pools.values())
        raise NotFound(f"No storage pool {name!r} at {self.label} (known: {known}).")

    def _node_for(self, group: str, business: str) -> EntryNode:
        self.group(group)
        for node in self.entry_nodes.values():
            if node.business == business and group in node.groups:
                return node
        raise NotFound(f"{self.label} has no {business} node for group {group!r}.")

    def job_node(self, group: str) -> EntryNode:
        """The entry node that submits to ``group``'s partitions."""
        return self._node_for(group, "job")

    def data_node(self, group: str) -> EntryNode:
        """The data node serving ``group`` (transfers, cold-storage writes)."""
        return self._node_for(group, "data")


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it: tables merge, anything else replaces."""
    merged = dict(base)
    for key, value in overrides.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def shipped_sites() -> list[str]:
    """Names of the site files that come with suan."""
    root = resources.files("core.sites")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_site(name: str = "sjtu", overrides: Mapping[str, Any] | None = None) -> Site:
    """Read a shipped site (``"sjtu"``) or a site file (a path), with ``overrides`` merged in."""
    if name.endswith(".toml") or "/" in name:
        path = Path(name).expanduser()
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read the site file: {exc.strerror}") from None
    else:
        resource = resources.files("core.sites") / f"{name}.toml"
        source = f"site {name!r}"
        if not resource.is_file():
            known = ", ".join(shipped_sites())
            raise ConfigError(f"No site called {name!r} (shipped: {known}).")
        text = resource.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    if overrides:
        data = deep_merge(data, overrides)
        source += " (with overrides)"
    return parse_site(data, source=source, default_name=Path(name).stem)


# --- parsing -------------------------------------------------------------------------------


class _Reader:
    """Typed access to a TOML table that names the offending key in every error."""

    def __init__(self, data: Mapping[str, Any], source: str, where: str = "") -> None:
        self.data = data
        self.source = source
        self.where = where

    def key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.key(key)}: {problem}")

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise self.fail(key, "missing")
            return None
        return self.data[key]

    def text(self, key: str, default: str | None = None) -> str:
        value = self._get(key, default is None)
        if value is None:
            assert default is not None
            return default
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}")
        return value

    def int_or_none(self, key: str) -> int | None:
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, f"expected a whole number ≥ 0, got {value!r}")
        return value

    def port(self, key: str) -> int:
        value = self._get(key, False)
        if value is None:
            return 22
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise self.fail(key, f"expected a port number, got {value!r}")
        return value

    def texts(self, key: str, required: bool = False) -> tuple[str, ...]:
        value = self._get(key, required)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of strings, got {value!r}")
        return tuple(value)

    def table(self, key: str) -> dict[str, _Reader]:
        value = self._get(key, True)
        if not isinstance(value, Mapping):
            raise self.fail(key, "expected a table")
        tables: dict[str, _Reader] = {}
        for name, sub in value.items():
            if not isinstance(sub, Mapping):
                raise self.fail(f"{key}.{name}", "expected a table")
            tables[name] = _Reader(sub, self.source, self.key(f"{key}.{name}"))
        return tables


def parse_site(data: Mapping[str, Any], *, source: str, default_name: str = "site") -> Site:
    """Build a ``Site`` from parsed TOML; every inconsistency is a ConfigError naming the key."""
    top = _Reader(data, source)
    groups = {
        name: Group(name, r.text("label", name), r.text("hot_pool"), r.text("controller"))
        for name, r in top.table("groups").items()
    }
    pools: dict[str, Pool] = {}
    for name, r in top.table("pools").items():
        kind = r.text("kind")
        if kind not in POOL_KINDS:
            raise r.fail("kind", f"expected one of {', '.join(POOL_KINDS)}, got {kind!r}")
        mount = r.text("mount")
        if not mount.startswith("/") or mount == "/":
            raise r.fail("mount", f"expected an absolute top directory, got {mount!r}")
        pools[name] = Pool(
            name=name,
            mount=mount.rstrip("/"),
            kind=kind,
            visible_to=r.texts("visible_to", required=True),
            writable_on=r.texts("writable_on"),
            also_on=r.texts("also_on"),
            description=r.text("description", ""),
            env=r.text("env", ""),
        )
    nodes: dict[str, EntryNode] = {}
    for name, r in top.table("entry_nodes").items():
        business = r.text("business")
        if business not in BUSINESSES:
            raise r.fail("business", f"expected one of {', '.join(BUSINESSES)}, got {business!r}")
        nodes[name] = EntryNode(
            name, r.text("host"), r.port("port"), business, r.texts("groups", required=True)
        )
    partitions = {
        name: PartitionInfo(
            name=name,
            group=r.text("group"),
            description=r.text("description", ""),
            default_time_limit=r.int_or_none("default_time_limit"),
            max_time_limit=r.int_or_none("max_time_limit"),
            aliases=r.texts("aliases"),
            note=r.text("note", ""),
        )
        for name, r in top.table("partitions").items()
    }
    site = Site(
        name=top.text("name", default_name),
        label=top.text("label", default_name),
        api_url=top.text("api_url", ""),
        domain=top.text("domain", ""),
        groups=groups,
        partitions=partitions,
        entry_nodes=nodes,
        pools=pools,
        security_docs_url=top.text("security_docs_url", ""),
        support_email=top.text("support_email", ""),
        old_hostnames=top.texts("old_hostnames"),
        default_time_limit=top.int_or_none("default_time_limit"),
    )
    _check_references(site, source)
    return site


def _check_references(site: Site, source: str) -> None:
    """Every name a table mentions must exist, so routing never meets a dangling one."""

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {problem}")

    for g in site.groups.values():
        if g.hot_pool not in site.pools:
            raise fail(f"groups.{g.name}.hot_pool", f"no pool called {g.hot_pool!r}")
    for p in site.partitions.values():
        if p.group not in site.groups:
            raise fail(f"partitions.{p.name}.group", f"no group called {p.group!r}")
    for n in site.entry_nodes.values():
        for g_name in n.groups:
            if g_name not in site.groups:
                raise fail(f"entry_nodes.{n.name}.groups", f"no group called {g_name!r}")
    for pool in site.pools.values():
        for g_name in pool.visible_to:
            if g_name not in site.groups:
                raise fail(f"pools.{pool.name}.visible_to", f"no group called {g_name!r}")
        for key, names in (("also_on", pool.also_on), ("writable_on", pool.writable_on)):
            for n_name in names:
                if n_name != "*" and n_name not in site.entry_nodes:
                    raise fail(f"pools.{pool.name}.{key}", f"no entry node called {n_name!r}")
    for g in site.groups.values():
        if not any(n.business == "job" and g.name in n.groups for n in site.entry_nodes.values()):
            raise fail(f"groups.{g.name}", "no job entry node serves this group")
