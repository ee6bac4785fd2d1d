"""The window's menus and keyboard shortcuts, and the About box."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow

from studio.ui.about import AboutDialog
from studio.ui.comparison import MODE_LABELS, MODES


def _action(
    parent: QObject,
    text: str,
    *shortcuts: QKeySequence | QKeySequence.StandardKey | str,
    tip: str = "",
) -> QAction:
    action = QAction(text, parent)
    if shortcuts:
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    return action


class WindowActions(QObject):
    """Creates the File, View and Help menus and the run shortcuts; the window connects them."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._run_actions()
        self._file_actions()
        self._view_actions()
        self.about = _action(self, "&About Studio", tip="Version, licences and credits")
        self.about.triggered.connect(self.show_about)
        self.welcome = _action(self, "&Welcome", tip="Show the first-run welcome again")
        self._menus()

    def _run_actions(self) -> None:
        self.generate = _action(
            self, "&Generate", "Ctrl+Return", "Ctrl+Enter", tip="Generate with these settings"
        )
        self.cancel = _action(self, "&Cancel", "Esc", tip="Discard the running job and the queue")
        self.stop = _action(self, "&Stop and keep", "Ctrl+.", tip="Stop and keep the partial image")
        self.restart_engine = _action(
            self,
            "&Restart engine",
            "Ctrl+Shift+R",
            tip="Start a fresh engine: every model's memory is freed; the running job is "
            "cancelled and the queued ones go on",
        )
        for action in (self.generate, self.cancel, self.stop, self.restart_engine):
            self.window.addAction(action)

    def _file_actions(self) -> None:
        self.open_model = _action(
            self, "Open &model folder…", "Ctrl+Shift+O", tip="Add a local diffusers model folder"
        )
        self.open_hub = _action(
            self, "Open &hub model…", "Ctrl+Shift+H", tip="Use a model from the hub by its org/name"
        )
        self.choose_models = _action(
            self, "Choose models &folder…", tip="Scan a folder of models and list them in Models"
        )
        self.open_image = _action(
            self, "&Open image…", QKeySequence.StandardKey.Open, tip="Load a PNG's parameters"
        )
        self.save_image = _action(
            self,
            "&Save image as…",
            "Ctrl+Shift+S",
            tip="Save the focused pane's image (else the teacher's) as a PNG",
        )
        self.copy_image = _action(
            self,
            "&Copy image",
            "Ctrl+Shift+C",
            tip="Copy the focused pane's image (else the teacher's) at full size",
        )
        self.export_grid = _action(
            self, "&Export grid…", tip="Save the Grid tab's grid as one labelled PNG"
        )
        self.export_comparison = _action(
            self,
            "Export &comparison…",
            tip="Save the last comparison forming step by step as an animated WebP or GIF (or an "
            "MP4 where PyAV is installed)",
        )
        self.export_comparison.setEnabled(False)
        self.export_grid_row = _action(
            self,
            "Export grid &row animation…",
            "Ctrl+Shift+A",
            tip="Save a row of the last grid forming step by step, each cell on its own clock, "
            "as an animation (the grid must have run with previews on)",
        )
        self.export_grid_row.setEnabled(False)
        for action in (self.save_image, self.copy_image):
            self.window.addAction(action)
        self.reveal_output = _action(
            self, "&Reveal output folder", tip="Show the folder the images are saved in"
        )
        self.choose_output = _action(
            self, "Choose output &folder…", tip="Save the images into another folder"
        )
        self.engine_settings = _action(
            self, "&Engine settings…", "Ctrl+,", tip="Device, CPU offload and how many models stay"
        )
        self.engine_settings.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.connect_engine = _action(
            self,
            "Co&nnect to engine…",
            "Ctrl+Shift+E",
            tip="Run the jobs on an engine served by `studio serve` on another computer",
        )
        self.local_engine = _action(
            self, "Use the &local engine", tip="Run the jobs on this computer again"
        )
        self.window.addAction(self.connect_engine)
        self.quit = _action(self, "&Quit", QKeySequence.StandardKey.Quit)
        self.quit.setMenuRole(QAction.MenuRole.QuitRole)

    def _view_actions(self) -> None:
        self.mode_group = QActionGroup(self)
        self.modes: dict[str, QAction] = {}
        for index, key in enumerate(MODES):
            action = _action(self, MODE_LABELS[key], f"Ctrl+Alt+{index + 1}")
            action.setCheckable(True)
            action.setData(key)
            self.mode_group.addAction(action)
            self.modes[key] = action
        self.fit = _action(self, "&Fit to pane", "Ctrl+0", tip="Show the whole image in each pane")
        self.actual_size = _action(
            self, "&Actual size (100%)", "Ctrl+1", tip="One image pixel per screen pixel"
        )
        self.zoom_in = _action(self, "Zoom &in", QKeySequence.StandardKey.ZoomIn, "Ctrl+=")
        self.zoom_out = _action(self, "Zoom &out", QKeySequence.StandardKey.ZoomOut)
        self.smooth = _action(
            self, "&Smooth scaling", tip="Bilinear filtering instead of crisp pixels when zoomed in"
        )
        self.smooth.setCheckable(True)

    def _menus(self) -> None:
        bar = self.window.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.open_model, self.open_hub, self.choose_models, self.open_image])
        file_menu.addSeparator()
        file_menu.addActions(
            [
                self.save_image,
                self.copy_image,
                self.export_comparison,
                self.export_grid,
                self.export_grid_row,
            ]
        )
        file_menu.addSeparator()
        file_menu.addActions([self.reveal_output, self.choose_output])
        file_menu.addSeparator()
        file_menu.addActions([self.engine_settings, self.connect_engine, self.local_engine])
        file_menu.addSeparator()
        file_menu.addAction(self.quit)
        run_menu = bar.addMenu("&Run")
        run_menu.addActions([self.generate, self.stop, self.cancel])
        run_menu.addSeparator()
        run_menu.addAction(self.restart_engine)
        view_menu = bar.addMenu("&View")
        view_menu.addActions(list(self.modes.values()))
        view_menu.addSeparator()
        view_menu.addActions([self.fit, self.actual_size, self.zoom_in, self.zoom_out])
        view_menu.addSeparator()
        view_menu.addAction(self.smooth)
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.welcome, self.about])

    def show_about(self) -> AboutDialog:
        """Open the About box (window-modal, without blocking); it deletes itself when closed."""
        dialog = AboutDialog(self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog
