"""The Analyse menu: run a grid or convergence curves, and switch the centre tabs."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

TAB_TITLES = ("Compare", "Grid", "Convergence", "Models")


def _action(parent: QObject, text: str, shortcut: str, tip: str) -> QAction:
    action = QAction(text, parent)
    action.setShortcut(QKeySequence(shortcut))
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.setStatusTip(tip)
    action.setToolTip(f"{tip} ({shortcut})")
    return action


class StudyActions(QObject):
    """Creates the grid, convergence and tab actions and puts them in an Analyse menu."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.run_grid = _action(self, "Run &grid", "Ctrl+G", "Run the X/Y grid of the Grid tab")
        self.run_curves = _action(
            self, "Run convergence &curves", "Ctrl+Shift+G", "Measure the samplers' convergence"
        )
        self.tabs = [
            _action(self, f"Show {title}", f"Alt+{index + 1}", f"Show the {title} tab")
            for index, title in enumerate(TAB_TITLES)
        ]
        menu = QMenu("&Analyse", window)
        menu.addActions([self.run_grid, self.run_curves])
        menu.addSeparator()
        menu.addActions(self.tabs)
        bar = window.menuBar()
        help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_menu is None:
            bar.addMenu(menu)
        else:
            bar.insertMenu(help_menu, menu)
        self.menu = menu
        for action in (self.run_grid, self.run_curves, *self.tabs):
            window.addAction(action)
