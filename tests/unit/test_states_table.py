"""The transition table's invariants (pure: no database)."""
from payments.states import IN_BETWEEN, SUCCESSFUL, TRANSITIONS, Status


def test_every_status_has_a_row():
    assert set(TRANSITIONS) == set(Status)


def test_money_taken_is_never_undone_into_failure():
    for status in SUCCESSFUL:
        assert Status.FAILED not in TRANSITIONS[status]
        assert Status.PENDING not in TRANSITIONS[status]
        assert Status.CREATED not in TRANSITIONS[status]


def test_nothing_returns_to_created_or_pending_once_decided():
    for source, targets in TRANSITIONS.items():
        if source not in IN_BETWEEN:
            assert not targets & {Status.CREATED, Status.PENDING}, source


def test_late_provider_confirmation_can_still_mark_paid():
    assert Status.CAPTURED in TRANSITIONS[Status.FAILED]
    assert Status.CAPTURED in TRANSITIONS[Status.EXPIRED]


def test_terminal_statuses():
    assert TRANSITIONS[Status.REFUNDED] == set()
    assert TRANSITIONS[Status.CANCELLED] == set()
