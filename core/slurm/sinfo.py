"""Partitions and their nodes: ``sinfo``.

Two calls: one line per partition (in the cluster's configured order, partitions with no
nodes included) and one line per node and partition (``-N``) for CPUs, memory and GPUs.
GPU use has no ``-o`` letter, so the node call uses ``-O`` with size 0 (printed whole,
never padded or cut) and a marker suffix after every field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from core.runner import CommandRunner
from core.slurm.common import command_error, run_slurm, safe_group
from core.slurm.markers import Marker
from core.slurm.models import Node, Partition
from core.slurm.units import (
    parse_cpu_states,
    parse_duration,
    parse_gres_gpus,
    parse_int,
)

PARTITION_FIELDS: tuple[str, ...] = ("%P", "%a", "%l", "%D")

#: sinfo -O field names for the per-node call.
NODE_FIELDS: tuple[str, ...] = (
    "NodeList",
    "Partition",
    "StateLong",
    "CPUsState",
    "Memory",
    "Gres",
    "GresUsed",
)


def partitions_argv(marker: Marker) -> list[str]:
    """``sinfo -h -o <partition, availability, time limit, node count>``."""
    return ["sinfo", "-h", "-o", marker.format(PARTITION_FIELDS)]


def nodes_argv(marker: Marker) -> list[str]:
    """``sinfo -h -N -O Name:0<marker>,...``: one line per node and partition."""
    specs = [
        f"{name}:0{marker.field if i < len(NODE_FIELDS) - 1 else marker.record}"
        for i, name in enumerate(NODE_FIELDS)
    ]
    return ["sinfo", "-h", "-N", "-O", ",".join(specs)]


@dataclass(frozen=True, slots=True)
class PartitionRow:
    """One line of :func:`partitions_argv` output."""

    name: str
    is_default: bool
    available: str
    time_limit: int | None
    nodes: int


def parse_partition_rows(text: str, marker: Marker) -> list[PartitionRow]:
    """Partition lines, in the order sinfo printed them (the configured order)."""
    rows: list[PartitionRow] = []
    for name, avail, limit, count in marker.records(text, len(PARTITION_FIELDS)):
        rows.append(
            PartitionRow(
                name=name.rstrip("*"),
                is_default=name.endswith("*"),
                available=avail,
                time_limit=parse_duration(limit),
                nodes=parse_int(count),
            )
        )
    return rows


def parse_nodes(text: str, marker: Marker) -> list[Node]:
    """Node lines (one per node and partition) from :func:`nodes_argv` output."""
    nodes: list[Node] = []
    for name, partition, state, cpus, memory, gres, used in marker.records(text, len(NODE_FIELDS)):
        alloc, idle, _other, total = parse_cpu_states(cpus)
        nodes.append(
            Node(
                name=name.strip(),
                partition=partition.strip().rstrip("*"),
                state=state.strip(),
                cpus_alloc=alloc,
                cpus_idle=idle,
                cpus_total=total,
                memory_mb=parse_int(memory),
                gres=_null(gres.strip()),
                gres_used=_null(used.strip()),
            )
        )
    return nodes


def _null(value: str) -> str:
    return "" if value in ("(null)", "N/A") else value


def build_partitions(
    rows: list[PartitionRow],
    nodes: list[Node],
    *,
    cluster: str,
    group_of: Callable[[str], str],
) -> list[Partition]:
    """Partitions with their nodes and totals, in ``rows`` order.

    CPU "other" counts come from the node lines too (down or drained CPUs).
    """
    by_partition: dict[str, list[Node]] = {}
    for node in nodes:
        by_partition.setdefault(node.partition, []).append(node)
    out: list[Partition] = []
    for row in rows:
        members = by_partition.get(row.name, [])
        states: dict[str, int] = {}
        for node in members:
            states[node.state] = states.get(node.state, 0) + 1
        alloc = sum(n.cpus_alloc for n in members)
        idle = sum(n.cpus_idle for n in members)
        total = sum(n.cpus_total for n in members)
        out.append(
            Partition(
                name=row.name,
                group=safe_group(group_of, row.name, cluster),
                cluster=cluster,
                is_default=row.is_default,
                available=row.available,
                time_limit=row.time_limit,
                nodes_total=len(members) or row.nodes,
                nodes_by_state=states,
                cpus_alloc=alloc,
                cpus_idle=idle,
                cpus_other=max(total - alloc - idle, 0),
                cpus_total=total,
                gpus_total=sum(parse_gres_gpus(n.gres) for n in members),
                gpus_used=sum(parse_gres_gpus(n.gres_used) for n in members),
                memory_mb=min((n.memory_mb for n in members), default=0),
                nodes=tuple(members),
            )
        )
    return out


async def partitions(
    runner: CommandRunner, *, cluster: str, group_of: Callable[[str], str]
) -> list[Partition]:
    """Every partition one controller knows, with its nodes, CPUs and GPUs."""
    part_marker, node_marker = Marker.new(), Marker.new()
    part_result, node_result = await asyncio.gather(
        run_slurm(runner, partitions_argv(part_marker)),
        run_slurm(runner, nodes_argv(node_marker)),
    )
    for result in (part_result, node_result):
        if not result.ok:
            raise command_error(result, "Listing the partitions")
    return build_partitions(
        parse_partition_rows(part_result.stdout, part_marker),
        parse_nodes(node_result.stdout, node_marker),
        cluster=cluster,
        group_of=group_of,
    )
