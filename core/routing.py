"""Which entry node serves a request, by the site's rules.

A partition belongs to one group and is submitted to from that group's job node. A path
belongs to the pool mounted at its top directory; a pool is seen by the nodes of the groups
it is visible to. Cold pools (and their union) are written only through data nodes: pi and
kp users go through ``data``, sy users through ``sydata``. Reading works from any node that
sees the pool.
"""

from __future__ import annotations

import posixpath

from core.errors import NotFound, Refused
from core.site import EntryNode, Pool, Site


class Router:
    """Answers "where do I run this" from site data alone (no I/O)."""

    def __init__(self, site: Site) -> None:
        self.site = site

    # --- partitions and job nodes ----------------------------------------------------------

    def group_of_partition(self, partition: str) -> str:
        """The group a partition (or one of its aliases) belongs to; NotFound if unknown."""
        return self.site.partition(partition).group

    def job_node(self, group: str) -> EntryNode:
        """The job entry node of ``group``."""
        return self.site.job_node(group)

    def node_for_partition(self, partition: str) -> EntryNode:
        """The job node that can submit to ``partition``."""
        return self.job_node(self.group_of_partition(partition))

    def controllers(self) -> dict[str, EntryNode]:
        """Each Slurm cluster of the site → one job node whose commands reach it.

        The first group (in site-file order) of each controller wins, so pi's queue is read
        through pilogin rather than armlogin.
        """
        found: dict[str, EntryNode] = {}
        for group in self.site.groups.values():
            if group.controller not in found:
                found[group.controller] = self.job_node(group.name)
        return found

    def controller_of_partition(self, partition: str) -> str:
        """The Slurm cluster that schedules ``partition``."""
        return self.site.group(self.group_of_partition(partition)).controller

    # --- paths and pools -------------------------------------------------------------------

    @staticmethod
    def _normal(path: str) -> str:
        if not path.startswith("/"):
            raise NotFound(f"{path!r} is not an absolute path on the cluster.")
        # posixpath.normpath keeps a leading "//"; one slash is what every mount table uses.
        return "/" + posixpath.normpath(path).lstrip("/")

    def pool_of_path(self, path: str) -> Pool:
        """The pool holding ``path`` (by its mount point); NotFound if none does."""
        normal = self._normal(path)
        best: Pool | None = None
        for pool in self.site.pools.values():
            inside = normal == pool.mount or normal.startswith(pool.mount + "/")
            if inside and (best is None or len(pool.mount) > len(best.mount)):
                best = pool
        if best is None:
            mounts = ", ".join(p.mount for p in self.site.pools.values())
            raise NotFound(f"{path} is on no storage pool of {self.site.label} ({mounts}).")
        return best

    def group_of_path(self, path: str) -> str:
        """The group whose home pool holds ``path`` (first in site order): a home → its group.

        Only hot pools are homes; a path on cold storage has no group (NotFound).
        """
        pool = self.pool_of_path(path)
        for group in self.site.groups.values():
            if group.hot_pool == pool.name:
                return group.name
        raise NotFound(f"{pool.mount} is not the home pool of any group.")

    def _sees(self, node: EntryNode, pool: Pool) -> bool:
        return node.name in pool.also_on or any(g in pool.visible_to for g in node.groups)

    def nodes_seeing(self, pool: str) -> list[EntryNode]:
        """Entry nodes that mount ``pool`` (a name or a mount), job nodes first."""
        found = self.site.pool(pool)
        nodes = [n for n in self.site.entry_nodes.values() if self._sees(n, found)]
        return sorted(nodes, key=lambda n: n.business == "data")

    def _node_writes(self, node: EntryNode, pool: Pool) -> bool:
        if not self._sees(node, pool):
            return False
        return "*" in pool.writable_on or node.name in pool.writable_on

    def can_write(self, node: str, path: str) -> bool:
        """Whether ``node`` may write ``path`` by the site's rules."""
        return self._node_writes(self.site.node(node), self.pool_of_path(path))

    def node_for_read(self, path: str, prefer_group: str | None = None) -> EntryNode:
        """A node that sees ``path``: ``prefer_group``'s job node when it does, else the
        first job node that does, data nodes last."""
        pool = self.pool_of_path(path)
        nodes = self.nodes_seeing(pool.name)
        if not nodes:
            raise NotFound(f"No entry node of {self.site.label} sees {pool.mount}.")
        if prefer_group is not None:
            for node in nodes:
                if prefer_group in node.groups:
                    return node
        return nodes[0]

    def node_for_write(self, path: str, prefer_group: str | None = None) -> EntryNode:
        """A node allowed to write ``path``. Cold storage goes through the data node of
        ``prefer_group`` (the group of the caller's home: pi/kp → data, sy → sydata)."""
        pool = self.pool_of_path(path)
        nodes = [n for n in self.nodes_seeing(pool.name) if self._node_writes(n, pool)]
        if not nodes:
            raise Refused(f"{pool.mount} is read-only on every entry node of {self.site.label}.")
        if prefer_group is not None:
            self.site.group(prefer_group)
            wanted = "data" if pool.is_cold else "job"
            for business in (wanted, "job", "data"):
                for node in nodes:
                    if node.business == business and prefer_group in node.groups:
                        return node
        if pool.is_cold:
            data = [n for n in nodes if n.business == "data"]
            if data:
                return data[0]
        return nodes[0]

    def explain_write_refusal(self, node: str, path: str) -> str:
        """Why ``node`` may not write ``path`` and where suan writes it instead, for a user.

        Returns a sentence saying the node may write it when it can.
        """
        entry = self.site.node(node)
        pool = self.pool_of_path(path)
        if self._node_writes(entry, pool):
            return f"{pool.mount} is writable on {entry.name}."
        group = entry.groups[0] if entry.groups else None
        try:
            instead = self.node_for_write(path, prefer_group=group).name
        except Refused:
            instead = None
        tail = f"; suan writes it through {instead}" if instead else ""
        if not self._sees(entry, pool):
            return f"{pool.mount} is not visible on {entry.name}{tail}."
        if pool.is_cold:
            what = "cold storage" if pool.kind == "cold" else "a view of cold storage"
            return f"{pool.mount} is {what}: it is read-only on {entry.name}{tail}."
        return f"{pool.mount} is read-only on {entry.name}{tail}."

    # --- personal directories --------------------------------------------------------------

    def personal_dir(self, home: str, pool: str) -> str:
        """The user's directory on ``pool``: the top directory of ``home`` replaced.

        ``/lustre/home/acct-hpc/u`` on ``archive`` → ``/archive/home/acct-hpc/u``.
        """
        target = self.site.pool(pool)
        normal = self._normal(home)
        parts = normal.strip("/").split("/")
        if len(parts) < 2:
            raise NotFound(f"{home!r} does not look like a home directory.")
        return target.mount + "/" + "/".join(parts[1:])

    @staticmethod
    def account_of_home(home: str) -> str:
        """The account (group) name: the parent directory of home (``acct-hpc``)."""
        parent = posixpath.basename(posixpath.dirname(posixpath.normpath(home)))
        if not parent:
            raise NotFound(f"{home!r} does not look like a home directory.")
        return parent
