"""A plan's lifecycle refuses what its status does not allow, in the same words everywhere;
an acknowledgement of allergies and medications must name exactly what is recorded."""

from __future__ import annotations

import pytest

from plans.domain.lifecycle import PlanStatus, TransitionRefused, require
from plans.domain.safety import AcknowledgementMismatch, SafetyRecord, check_acknowledgement


@pytest.mark.parametrize(
    ("status", "action", "words"),
    [
        (PlanStatus.ACTIVE, "activate", "plan is active; only a draft plan can be activated"),
        (PlanStatus.CANCELLED, "activate", "only a draft plan can be activated"),
        (PlanStatus.DRAFT, "pause", "only an active plan can be paused"),
        (PlanStatus.ACTIVE, "resume", "only a paused plan can be resumed"),
        (PlanStatus.COMPLETED, "cancel", "only a draft or active or paused plan can be cancelled"),
        (PlanStatus.ACTIVE, "change", "only a draft plan can be changed"),
    ],
)
def test_an_action_the_status_does_not_allow_is_refused_saying_which_status_would(
    status: PlanStatus, action: str, words: str
) -> None:
    with pytest.raises(TransitionRefused, match=words):
        require(status, action)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "action"),
    [("draft", "activate"), ("active", "pause"), ("paused", "resume"), ("paused", "cancel")],
)
def test_the_lifecycle_allows_draft_active_paused_and_cancel_before_the_end(
    status: str, action: str
) -> None:
    require(status, action)  # type: ignore[arg-type]


def test_a_record_with_allergies_medications_or_notes_is_flagged() -> None:
    assert not SafetyRecord.of([], []).flagged
    assert SafetyRecord.of(["Lidocaine"], []).flagged
    assert SafetyRecord.of([], ["warfarin"]).flagged
    assert SafetyRecord.of([], [], "reacts to adhesive films").flagged


def test_an_acknowledgement_matches_whatever_the_order_case_and_spacing() -> None:
    record = SafetyRecord.of(["Lidocaine", "latex"], ["Warfarin"])
    check_acknowledgement(record, allergies=[" LATEX", "lidocaine"], medications=["warfarin"])


def test_acknowledging_the_wrong_thing_says_what_is_missing_and_what_is_not_on_record() -> None:
    record = SafetyRecord.of(["lidocaine"], ["warfarin"])
    with pytest.raises(AcknowledgementMismatch) as refused:
        check_acknowledgement(record, allergies=["latex"], medications=["warfarin"])
    assert "recorded allergies not acknowledged: lidocaine" in str(refused.value)
    assert "acknowledged allergies not on the record: latex" in str(refused.value)


def test_the_fingerprint_changes_with_the_record_and_only_with_it() -> None:
    record = SafetyRecord.of(["lidocaine"], ["warfarin"])
    assert record.fingerprint() == SafetyRecord.of(["Lidocaine "], ["WARFARIN"]).fingerprint()
    assert record.fingerprint() != SafetyRecord.of(["lidocaine"], []).fingerprint()
    assert record.fingerprint() != SafetyRecord.of(["lidocaine"], ["warfarin"], "x").fingerprint()
