"""Two-way bindings between input widgets and observable view-model attributes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QSignalBlocker, SignalInstance
from PySide6.QtWidgets import QComboBox, QWidget

log = logging.getLogger(__name__)


class Binding(QObject):
    """Keeps one view-model attribute and the value its widgets show equal, in both directions.

    The binding is a child of the first widget, so it and its connections die with the widget.
    A value the view-model refuses (ValueError) is put back into the widgets.
    """

    def __init__(
        self,
        widgets: Sequence[QWidget],
        widget_signals: Sequence[SignalInstance],
        read: Callable[[], Any],
        write: Callable[[Any], None],
        source: QObject,
        attr: str,
        source_signal: SignalInstance,
    ) -> None:
        super().__init__(widgets[0])
        self._widgets = list(widgets)
        self._read, self._write = read, write
        self._source, self._attr = source, attr
        for signal in widget_signals:
            signal.connect(self.to_source)
        source_signal.connect(self.to_widgets)
        self.to_widgets()

    def to_source(self, *_: Any) -> None:
        try:
            setattr(self._source, self._attr, self._read())
        except (ValueError, TypeError):
            log.debug("%s refused %r", self._attr, self._read())
            self.to_widgets()

    def to_widgets(self, *_: Any) -> None:
        value = getattr(self._source, self._attr)
        if self._read() == value:
            return
        blockers = [QSignalBlocker(widget) for widget in self._widgets]
        try:
            self._write(value)
        finally:
            del blockers


def bind_spin(spin: Any, source: QObject, attr: str, signal: SignalInstance) -> Binding:
    """A QSpinBox or QDoubleSpinBox bound to a number attribute."""
    whole = not hasattr(spin, "decimals") or spin.decimals() == 0

    def read() -> Any:
        return round(spin.value()) if whole else float(spin.value())

    return Binding([spin], [spin.valueChanged], read, spin.setValue, source, attr, signal)


def bind_check(box: Any, source: QObject, attr: str, signal: SignalInstance) -> Binding:
    """A QCheckBox (any checkable button) bound to a bool attribute."""
    return Binding([box], [box.toggled], box.isChecked, box.setChecked, source, attr, signal)


def bind_combo_data(
    combo: QComboBox, source: QObject, attr: str, signal: SignalInstance
) -> Binding:
    """A QComboBox whose items carry the attribute's text values (e.g. StrEnum members) as data."""

    def write(value: Any) -> None:
        index = combo.findData(str(value))
        if index >= 0:
            combo.setCurrentIndex(index)

    return Binding(
        [combo], [combo.currentIndexChanged], combo.currentData, write, source, attr, signal
    )


def bind_combo_text(
    combo: QComboBox, source: QObject, attr: str, signal: SignalInstance
) -> Binding:
    """A QComboBox whose item texts are the attribute's values."""

    def write(value: Any) -> None:
        index = combo.findText(str(value))
        if index >= 0:
            combo.setCurrentIndex(index)

    return Binding(
        [combo], [combo.currentIndexChanged], combo.currentText, write, source, attr, signal
    )


def bind_text(edit: Any, source: QObject, attr: str, signal: SignalInstance) -> Binding:
    """A QPlainTextEdit bound to a text attribute; the cursor stays put while typing."""
    return Binding(
        [edit], [edit.textChanged], edit.toPlainText, edit.setPlainText, source, attr, signal
    )
