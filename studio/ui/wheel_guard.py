"""The mouse wheel scrolls a column of controls; it changes only the control that has focus."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollBar,
    QWidget,
)

GUARDED = (QAbstractSpinBox, QComboBox, QAbstractSlider)


class WheelGuard(QObject):
    """Keeps wheel events away from unfocused combo boxes, spin boxes and sliders, and hands
    them to the parent instead, so scrolling past a control never changes its value."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget):
            return False
        if watched.hasFocus():
            return False
        area = scroll_area_of(watched)
        if area is not None:
            QApplication.sendEvent(area.verticalScrollBar(), event)
        return True


def scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    """The nearest scroll area `widget` is shown in, if any."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QAbstractScrollArea):
        parent = parent.parentWidget()
    return parent


def guard_wheel(root: QWidget, guard: WheelGuard | None = None) -> WheelGuard:
    """Guard every value control under `root`; a wheel changes one only after a click or Tab
    gave it focus (which the wheel itself no longer does)."""
    guard = guard or WheelGuard(root)
    for control in root.findChildren(QWidget):
        if isinstance(control, GUARDED) and not isinstance(control, QScrollBar):
            if control.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            control.installEventFilter(guard)
    return guard
