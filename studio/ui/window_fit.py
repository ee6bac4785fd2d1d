"""Where the window opens: a size that fits the screen's available area, title bar included."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize

DEFAULT_SIZE = QSize(1400, 900)
# The window manager's frame is unknown before the window is shown; leave room for a title bar
# and a border so that the frame, not only the client area, fits the available area.
FRAME_ALLOWANCE = QSize(16, 40)


def first_geometry(available: QRect, preferred: QSize = DEFAULT_SIZE) -> QRect:
    """The client rectangle of a first start: `preferred`, or less where the screen is smaller,
    centred in the screen's available area (the area without task bars and docks)."""
    room = available.size() - FRAME_ALLOWANCE
    size = preferred.boundedTo(room).expandedTo(QSize(1, 1))
    rect = QRect(available.topLeft(), size)
    rect.moveCenter(available.center())
    rect.moveTop(max(rect.top(), available.top() + FRAME_ALLOWANCE.height() - 8))
    return rect


def fits(client: QRect, available: QRect) -> bool:
    """Whether a restored client rectangle lies inside the available area (a screen that was
    unplugged or made smaller since the last run leaves it partly off-screen)."""
    return available.contains(client)
