"""admission.Admission: the hard cap and the standing-queue rule, on a fake clock."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from privacy_router.admission import Admission
from privacy_router.errors import Overloaded


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def shed(reason: str) -> float:
    return REGISTRY.get_sample_value("privacy_router_shed_total", {"reason": reason}) or 0.0


def test_the_hard_cap_refuses_past_limit_and_frees_on_exit() -> None:
    a = Admission(2, target_s=None)
    before = shed("detection_queue")
    with a.slot(), a.slot():
        with pytest.raises(Overloaded) as info, a.slot():
            pass
        assert info.value.retry_after_s == 1
    assert shed("detection_queue") == before + 1
    with a.slot():
        assert a.pending == 1
    assert a.pending == 0


def test_a_standing_queue_sheds_until_a_detection_is_fast_again() -> None:
    clock = Clock()
    a = Admission(None, target_s=0.5, interval_s=1.0, parallelism=1, clock=clock)
    a.observe(0.9)
    a.observe(0.7)  # the fastest of this window is still above the target
    clock.now = 1.1
    before = shed("standing_queue")
    with a.slot():  # one in detection: never refused (no starvation)
        with pytest.raises(Overloaded), a.slot():
            pass
        assert shed("standing_queue") == before + 1
        a.observe(0.2)  # a fast one: the queue drained
        with a.slot():
            assert a.pending == 2


def test_a_burst_with_one_fast_detection_in_the_window_is_not_shed() -> None:
    clock = Clock()
    a = Admission(None, target_s=0.5, interval_s=1.0, parallelism=1, clock=clock)
    a.observe(2.0)
    a.observe(0.1)  # the queue emptied at least once during the window
    clock.now = 1.5
    with a.slot(), a.slot(), a.slot():
        assert a.pending == 3


def test_an_idle_window_clears_the_standing_queue() -> None:
    clock = Clock()
    a = Admission(None, target_s=0.5, interval_s=1.0, parallelism=1, clock=clock)
    a.observe(3.0)
    clock.now = 1.0
    assert a._refuse() is None  # nobody waits: admitted
    with a.slot():
        assert a.standing_queue
        clock.now = 2.0  # nothing finished, but the one in detection keeps the state
        with pytest.raises(Overloaded), a.slot():
            pass
    clock.now = 3.5  # a whole window with nothing waiting and nothing finishing
    with a.slot(), a.slot():
        assert not a.standing_queue
