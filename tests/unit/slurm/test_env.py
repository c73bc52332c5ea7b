"""The neutral environment for every Slurm command."""

from __future__ import annotations

from core.slurm.env import UNSET_VARS, slurm_argv


def test_slurm_argv_unsets_then_sets() -> None:
    argv = slurm_argv(["squeue", "-h"])
    assert argv[0] == "env"
    assert argv[-2:] == ["squeue", "-h"]
    assert "SLURM_TIME_FORMAT=standard" in argv
    first_assignment = argv.index("SLURM_TIME_FORMAT=standard")
    for name in ("SQUEUE_FORMAT", "SACCT_FORMAT", "SINFO_FORMAT", "SCANCEL_INTERACTIVE"):
        position = argv.index(name)
        assert argv[position - 1] == "-u"
        assert position < first_assignment


def test_slurm_conf_is_kept() -> None:
    assert "SLURM_CONF" not in UNSET_VARS
