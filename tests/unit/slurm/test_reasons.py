"""Pending reasons in words."""

from __future__ import annotations

import pytest

from core.slurm.reasons import REASONS, explain_reason, is_stuck, reason_key


@pytest.mark.parametrize(
    "reason",
    [
        "Resources",
        "Priority",
        "Dependency",
        "DependencyNeverSatisfied",
        "JobHeldUser",
        "JobHeldAdmin",
        "BeginTime",
        "PartitionDown",
        "PartitionTimeLimit",
        "QOSMaxJobsPerUserLimit",
        "AssocGrpCpuLimit",
        "ReqNodeNotAvail",
        "JobArrayTaskLimit",
        "launch failed requeued held",
    ],
)
def test_known_reasons_have_words(reason: str) -> None:
    words = explain_reason(reason)
    assert words == REASONS[reason]
    assert words != reason


def test_req_node_not_avail_keeps_detail() -> None:
    words = explain_reason("ReqNodeNotAvail, UnavailableNodes:cas[001-002]")
    assert words.startswith(REASONS["ReqNodeNotAvail"][:20])
    assert "cas[001-002]" in words


def test_parenthesised_and_underscored_forms() -> None:
    assert reason_key("(Resources)") == "Resources"
    assert reason_key("launch_failed_requeued_held") == "launch failed requeued held"
    assert explain_reason("(Priority)") == REASONS["Priority"]


def test_unknown_reason_is_returned_as_is() -> None:
    assert explain_reason("SomethingNew") == "SomethingNew"
    assert "QOSGrpSomethingLimit" in explain_reason("QOSGrpSomethingLimit")
    assert explain_reason("") == ""


def test_stuck() -> None:
    assert is_stuck("DependencyNeverSatisfied")
    assert is_stuck("JobHeldUser")
    assert not is_stuck("Priority")
    assert not is_stuck("Resources")
