"""sinfo: partitions with nodes, CPUs and GPUs, from captured real output."""

from __future__ import annotations

import pytest

from core.errors import RemoteCommandError
from core.slurm.markers import Marker
from core.slurm.models import Partition
from core.slurm.sinfo import (
    build_partitions,
    nodes_argv,
    parse_nodes,
    parse_partition_rows,
    partitions,
    partitions_argv,
)
from tests.unit.slurm.captured import ReplayRunner, ScriptedRunner, load


def group_of(partition: str) -> str:
    return (
        "kp"
        if partition == "arm128c256g"
        else ("sy" if partition in {"small", "64c512g", "a100"} else "pi")
    )


def parsed(cluster: str) -> dict[str, Partition]:
    parts = load(f"{cluster}-sinfo-partitions")
    nodes = load(f"{cluster}-sinfo-nodes")
    assert parts.marker is not None
    assert nodes.marker is not None
    result = build_partitions(
        parse_partition_rows(parts.stdout, parts.marker),
        parse_nodes(nodes.stdout, nodes.marker),
        cluster=cluster,
        group_of=group_of,
    )
    return {p.name: p for p in result}


def test_argv_shapes() -> None:
    marker = Marker("2" * 16)
    assert partitions_argv(marker)[:3] == ["sinfo", "-h", "-o"]
    argv = nodes_argv(marker)
    assert argv[:4] == ["sinfo", "-h", "-N", "-O"]
    specs = argv[4].split(",")
    assert all(":0" + marker.field in spec for spec in specs[:-1])
    assert specs[-1].endswith(":0" + marker.record)


def test_pi_partitions() -> None:
    parts = parsed("pi")
    assert list(parts) == ["cpu", "debug", "huge", "arm128c256g"]
    cpu = parts["cpu"]
    assert cpu.is_default
    assert cpu.time_limit == 7 * 86400
    assert cpu.nodes_total == 3
    assert cpu.cpus_total == 120
    assert cpu.memory_mb == 192000
    assert cpu.gpus_total == 0
    assert cpu.group == "pi"
    assert [n.name for n in cpu.nodes] == ["cas001", "cas002", "cas003"]
    debug = parts["debug"]
    assert not debug.is_default
    assert debug.time_limit == 20 * 60
    huge = parts["huge"]
    assert huge.available == "down"
    assert huge.state == "down"
    assert cpu.state == "up"
    assert parts["arm128c256g"].group == "kp"
    assert parts["arm128c256g"].cpus_total == 256


def test_sy_gpus_and_shared_nodes() -> None:
    parts = parsed("sy")
    assert list(parts) == ["small", "64c512g", "a100"]
    a100 = parts["a100"]
    assert a100.gpus_total == 8
    assert 0 <= a100.gpus_used <= 8
    assert a100.nodes[0].gres == "gpu:a100:4"
    assert parts["small"].is_default
    # sy001/sy002 belong to small and 64c512g: each partition lists them.
    assert [n.name for n in parts["small"].nodes] == ["sy001", "sy002"]
    assert [n.name for n in parts["64c512g"].nodes] == ["sy001", "sy002"]
    small = parts["small"]
    assert small.cpus_alloc + small.cpus_idle + small.cpus_other == small.cpus_total
    assert small.cpus_alloc > 0


def test_gpu_use_is_counted() -> None:
    marker = Marker("3" * 16)
    text = marker.format(
        ["gpu01", "a100", "mixed", "16/48/0/64", "512000", "gpu:a100:4", "gpu:a100:2(IDX:0-1)"]
    )
    nodes = parse_nodes(text + "\n", marker)
    rows = parse_partition_rows(marker.format(["a100", "up", "infinite", "1"]) + "\n", marker)
    (part,) = build_partitions(rows, nodes, cluster="sy", group_of=group_of)
    assert part.gpus_used == 2
    assert part.gpus_total == 4
    assert part.time_limit is None
    assert part.nodes_by_state == {"mixed": 1}


async def test_partitions_end_to_end() -> None:
    runner = ReplayRunner([load("sy-sinfo-partitions"), load("sy-sinfo-nodes")])
    result = await partitions(runner, cluster="sy", group_of=group_of)
    assert [p.name for p in result] == ["small", "64c512g", "a100"]
    assert len(runner.calls) == 2


async def test_partitions_failure() -> None:
    runner = ScriptedRunner(
        lambda argv, n: (1, "", "sinfo: error: Unable to contact slurm controller\n")
    )
    with pytest.raises(RemoteCommandError) as caught:
        await partitions(runner, cluster="pi", group_of=group_of)
    assert "Unable to contact" in caught.value.message
