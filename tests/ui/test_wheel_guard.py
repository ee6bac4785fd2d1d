"""The wheel scrolls the controls column and changes only a focused control."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

from tests.ui.test_main_window import child, window  # noqa: F401 (the window fixture)


def wheel(widget: QWidget, notches: int = -1) -> None:
    """One real wheel event over the middle of `widget` (negative: scroll down)."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_a_wheel_over_unfocused_controls_leaves_their_values_and_scrolls_the_column(
    window,  # noqa: F811
) -> None:
    window.resize(1000, 680)
    QApplication.processEvents()
    sampler, top = child(window, "teacherSampler"), child(window, "teacherSkipTop")
    steps = child(window, "teacherSteps")
    before = (sampler.currentText(), top.value(), steps.value())
    scroll = window.findChild(QScrollArea, "controlsScroll")
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0, "the column must be taller than its viewport for this test"
    for control in (sampler, top, steps):
        wheel(control, -1)
    assert (sampler.currentText(), top.value(), steps.value()) == before
    assert bar.value() > 0


def test_a_focused_control_takes_the_wheel(window) -> None:  # noqa: F811
    steps = child(window, "teacherSteps")
    steps.setFocus(Qt.FocusReason.MouseFocusReason)
    QApplication.processEvents()
    value = steps.value()
    wheel(steps, 1)
    assert steps.value() == value + steps.singleStep()
