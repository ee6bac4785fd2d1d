"""Observable attributes: the change signal named from the attribute, coercion, no loops."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QObject, Signal

from studio.viewmodels.convergence import ConvergenceViewModel
from studio.viewmodels.grid import GridViewModel
from studio.viewmodels.lane import LaneViewModel
from studio.viewmodels.observable import Observable, signal_name
from studio.viewmodels.session import SessionViewModel


class Box(QObject):
    countChanged = Signal(int)
    stepCountsChanged = Signal(object)

    count = Observable(int)
    step_counts: Observable[tuple[int, ...]] = Observable(tuple)

    def __init__(self) -> None:
        super().__init__()
        self._count, self._step_counts = 0, ()
        self.changed: list[str] = []

    def _changed(self, name: str) -> None:
        self.changed.append(name)


@pytest.mark.parametrize(
    ("attribute", "signal"),
    [
        ("prompt", "promptChanged"),
        ("num_inference_steps", "numInferenceStepsChanged"),
        ("x_axis", "xAxisChanged"),
    ],
)
def test_the_signal_is_named_from_the_attribute(attribute: str, signal: str) -> None:
    assert signal_name(attribute) == signal


def test_every_view_model_observable_has_its_signal() -> None:
    for owner in (SessionViewModel, LaneViewModel, GridViewModel, ConvergenceViewModel):
        for name, member in vars(owner).items():
            if isinstance(member, Observable):
                assert member.name == name and hasattr(owner, member.signal)


def test_a_class_without_the_signal_is_refused() -> None:
    with pytest.raises((TypeError, RuntimeError)):

        class Bare(QObject):
            speed = Observable(float)


def test_a_new_value_is_coerced_and_emitted_once(qapp, qtbot) -> None:
    box = Box()
    with qtbot.waitSignal(box.countChanged) as blocker:
        box.count = "3"  # type: ignore[assignment]
    assert box.count == 3 and blocker.args == [3] and box.changed == ["count"]
    with qtbot.assertNotEmitted(box.countChanged):
        box.count = 3
    box.step_counts = [1, 2]  # type: ignore[assignment]
    assert box.step_counts == (1, 2) and box.changed == ["count", "step_counts"]
