"""The queue: the running job and the pending ones, each removable."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.viewmodels.queue import QueueViewModel

JOB_ROLE = Qt.ItemDataRole.UserRole + 1


class QueuePanel(QWidget):
    """Lists the queue view-model's jobs and discards the selected one on request.

    The list is rebuilt at most once per turn of the event loop, however many jobs were queued
    or ended in that turn (a Generate of 100 jobs changes the queue 100 times), and the selected
    job stays selected across rebuilds.
    """

    def __init__(self, queue: QueueViewModel) -> None:
        super().__init__()
        self.queue = queue
        self.title = QLabel()
        self.title.setObjectName("queueTitle")
        self.list = QListWidget()
        self.list.setObjectName("queueList")
        self.list.setToolTip("Jobs waiting for the engine; the running one first")
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeJobButton")
        self.remove_button.setToolTip("Discard the selected job")
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.currentRowChanged.connect(self._update_button)
        self._layout()
        self._pending_refresh = QTimer(self, singleShot=True, interval=0)
        self._pending_refresh.timeout.connect(self.refresh)
        queue.changed.connect(self._pending_refresh.start)
        self.refresh()

    def _layout(self) -> None:
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.remove_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addLayout(header)
        column.addWidget(self.list, 1)

    def refresh(self) -> None:
        self._pending_refresh.stop()
        selected = self.selected_job_id()
        self.list.clear()
        running = self.queue.running
        if running is not None:
            self._add(f"▶ {running.summary}", running.job_id, selected)
        for entry in self.queue.pending:
            self._add(f"• {entry.summary}", entry.job_id, selected)
        waiting = len(self.queue.pending)
        self.title.setText(f"Queue · {waiting} waiting" if waiting or running else "Queue · empty")
        self._update_button()

    def _add(self, text: str, job_id: str, selected: str) -> None:
        item = QListWidgetItem(text)
        item.setData(JOB_ROLE, job_id)
        item.setToolTip(text)
        self.list.addItem(item)
        if job_id == selected:
            self.list.setCurrentItem(item)

    def selected_job_id(self) -> str:
        item = self.list.currentItem()
        return item.data(JOB_ROLE) if item is not None else ""

    def remove_selected(self) -> None:
        job_id = self.selected_job_id()
        if job_id:
            self.queue.cancel(job_id)

    def _update_button(self, *_: object) -> None:
        self.remove_button.setEnabled(self.list.currentItem() is not None)
