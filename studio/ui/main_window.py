"""The studio window: the session's view-models wired to controls, previews, queue, gallery."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.gallery import GalleryStore
from studio.core.presets import RecipePreset
from studio.core.settings import Upscale
from studio.ui.actions import WindowActions
from studio.ui.banner import MessageBanner
from studio.ui.connect_dialog import EngineConnectMenu
from studio.ui.controls import ControlsColumn
from studio.ui.convergence_panel import ConvergencePanel
from studio.ui.drops import PngDropRouter
from studio.ui.engine_dialog import EngineSettingsMenu
from studio.ui.gallery_strip import GalleryStrip, history_box
from studio.ui.grid_panel import GridPanel, cell_pane, pair_summary
from studio.ui.history_panes import HistoryPanes
from studio.ui.hub_dialog import HubModelMenu
from studio.ui.library_use import LibraryUse
from studio.ui.model_library import ModelLibraryPanel
from studio.ui.opened_image import show_opened
from studio.ui.pair_controller import PairController
from studio.ui.pickle_opt_in import PickleOptIn
from studio.ui.preset_picker import PresetController
from studio.ui.preview_area import PreviewArea
from studio.ui.queue_panel import QueuePanel
from studio.ui.save_again import SaveAgainButton
from studio.ui.study_actions import StudyActions
from studio.ui.welcome import welcome_for
from studio.ui.wheel_guard import guard_wheel
from studio.ui.window_exports import WindowExports
from studio.ui.window_fit import DEFAULT_SIZE, first_geometry, fits
from studio.viewmodels.model_library import ModelLibraryViewModel
from studio.viewmodels.model_pairs import ModelPair, ModelPairs
from studio.viewmodels.recipe_presets import shipped_presets
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel

READY_PREFIX = "Ready · "
RESTARTING = "Restarting the engine: every model is let go…"
RESTART_REFUSED = "The engine cannot restart now: it has been shut down."
RESTART_REMOTE = (
    "A served engine restarts on its server (stop and start `studio serve` there), "
    "not from this window."
)
LOCAL_ENGINE = "this computer"
GEOMETRY_KEY = "window/geometry"
SPLITTER_KEY = "window/splitter"


def scrolling(panel: QWidget) -> QScrollArea:
    """`panel` in a frameless scroll area, so a tall tab never sets the window's minimum height."""
    area = QScrollArea()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return area


def page_panel(page: QWidget | None) -> QWidget | None:
    """The panel a centre tab shows: the page itself, or the panel inside its scroll area."""
    return page.widget() if isinstance(page, QScrollArea) else page


class MainWindow(QMainWindow):
    """Connects one SessionViewModel to every widget of the window, and saves its state on close.

    The window never talks to an engine: it calls the session (generate, cancel, stop), and the
    composition root feeds the session's events. The engine's status lines reach
    `set_engine_status` as the session's `engineStatus` (the startup phases before the engine
    runs come from the composition root), and a dead engine `set_engine_failed`.
    """

    closed = Signal()
    engineRestarted = Signal()

    def __init__(
        self,
        session: SessionViewModel,
        settings: SettingsViewModel,
        geometry: QSettings | None = None,
        pairs: list[ModelPair] | None = None,
        recipe_presets: tuple[RecipePreset, ...] | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.geometry_store = geometry
        self.engine_failure = ""
        self.engine_url = ""
        self._generate_tip = ""
        self._activity = ""
        self.setWindowTitle("Studio")
        presets = shipped_presets() if recipe_presets is None else recipe_presets
        pairs = pairs or ModelPairs(session.models).shipped()
        self.controls = ControlsColumn(session, pairs, presets)
        self.preview = PreviewArea(session)
        self.comparison = self.preview.comparison
        self.banner = MessageBanner()
        self.queue_panel = QueuePanel(session.queue)
        self.gallery_strip = GalleryStrip(session.gallery)
        self.window_actions = WindowActions(self)
        self.grid_panel = GridPanel(session.grid)
        self.convergence_panel = ConvergencePanel(session.convergence)
        self.library = ModelLibraryViewModel(settings.models_folder, self)
        self.pickles = PickleOptIn(session, self.save_settings, self)
        self.library_panel = ModelLibraryPanel(self.library, self.pickles)
        self.study_actions = StudyActions(self)
        self._status_bar()
        self._layout()
        self._connect()
        self.pairs = PairController(session, self.controls, self.preview, self.show_error)
        self.presets = PresetController(
            session,
            self.controls.preset_combo,
            self.controls.model_combo,
            self.pairs,
            self.set_status,
            self.show_notice,
        )
        self.pairs.start()
        self.library_use = LibraryUse(
            self.library, self.pairs, self.pickles, self.set_status, self.show_error
        )
        self._connect_library()
        a = self.window_actions
        self.hub_models = HubModelMenu(a.open_hub, self.use_library_model, self.set_status, self)
        self.engine_settings = EngineSettingsMenu(
            a.engine_settings, session, settings, self.save_settings, self.set_engine_status, self
        )
        self.engine_connect = EngineConnectMenu(
            a.connect_engine, a.local_engine, settings, lambda: self.engine_url, self
        )
        self.show_engine("")
        self.drops = PngDropRouter(self, self.load_image_parameters)
        self.exports = WindowExports(
            self, session, self.comparison, self.grid_panel, a, self.set_status, self.show_error
        )
        self.wheel_guard = guard_wheel(self.controls)
        for panel in (self.grid_panel, self.convergence_panel):
            guard_wheel(panel, self.wheel_guard)
        self._restore_view()
        self.welcome = welcome_for(self)

    # --- construction --------------------------------------------------------------------------

    def _status_bar(self) -> None:
        self.status_line = QLabel("Ready")
        self.status_line.setObjectName("statusLine")
        self.output_label = QLabel()
        self.output_label.setObjectName("outputLabel")
        self.save_again_button = SaveAgainButton(self.session.gallery)
        self.engine_label = QLabel()
        self.engine_label.setObjectName("engineLabel")
        self.engine_label.setContentsMargins(8, 0, 8, 0)
        self.statusBar().addWidget(self.status_line, 1)
        self.statusBar().addPermanentWidget(self.save_again_button)
        self.statusBar().addPermanentWidget(self.engine_label)
        self.statusBar().addPermanentWidget(self.output_label)
        self._show_output_folder()

    def _layout(self) -> None:
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        history = history_box(self.gallery_strip)
        bottom.addWidget(history, 3)
        bottom.addWidget(self.queue_panel, 1)
        self.queue_panel.setFixedHeight(history.sizeHint().height())
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(4, 6, 8, 4)
        column.setSpacing(6)
        column.addWidget(self.banner)
        column.addWidget(self._tabs(), 1)
        column.addLayout(bottom)
        self.centre_column = column
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.controls)
        self.splitter.addWidget(centre)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([360, DEFAULT_SIZE.width() - 360])
        self.setCentralWidget(self.splitter)

    def _tabs(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.tabs.setObjectName("centreTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.preview, "Compare")
        self.tabs.addTab(scrolling(self.grid_panel), "Grid")
        self.tabs.addTab(scrolling(self.convergence_panel), "Convergence")
        self.tabs.addTab(self.library_panel, "Models")
        return self.tabs

    def show_page(self, panel: QWidget) -> None:
        """Show the centre tab that holds `panel` (directly or in its scroll area)."""
        for index in range(self.tabs.count()):
            if page_panel(self.tabs.widget(index)) is panel:
                self.tabs.setCurrentIndex(index)
                return

    def current_page(self) -> QWidget | None:
        """The panel of the centre tab shown now."""
        return page_panel(self.tabs.currentWidget())

    def _connect_studies(self) -> None:
        s, a = self.session, self.study_actions
        a.run_grid.triggered.connect(self.run_grid)
        a.run_curves.triggered.connect(self.run_curves)
        for index, action in enumerate(a.tabs):
            action.triggered.connect(lambda _=False, i=index: self.tabs.setCurrentIndex(i))
        self.grid_panel.runRequested.connect(self.run_grid)
        self.convergence_panel.runRequested.connect(self.run_curves)
        self.grid_panel.view.cellActivated.connect(self.open_grid_cell)
        s.grid.error.connect(self.show_error)
        s.convergence.error.connect(self.show_error)

    def _connect(self) -> None:
        s, a, c = self.session, self.window_actions, self.controls
        c.generate_button.clicked.connect(self.generate)
        c.stop_button.clicked.connect(s.stop)
        c.cancel_button.clicked.connect(s.cancel)
        a.generate.triggered.connect(self.generate)
        a.stop.triggered.connect(s.stop)
        a.cancel.triggered.connect(s.cancel)
        s.busyChanged.connect(self._on_busy)
        self.history = HistoryPanes(s, self.gallery_strip, self.tabs, self.preview, self.set_status)
        s.error.connect(self.show_error)
        s.notice.connect(self.show_notice)
        s.engineStatus.connect(self.set_engine_status)
        for lane in (s.teacher, s.student):
            lane.recipeChanged.connect(self._dismiss_stale_error)
        for changed in (s.teacherModelChanged, s.studentModelChanged, s.compareModeChanged):
            changed.connect(self._dismiss_stale_error)
        self.settings.error.connect(self.show_error)
        self._connect_menus()
        self._connect_studies()
        self._on_busy(s.busy)

    def _connect_menus(self) -> None:
        a = self.window_actions
        a.open_model.triggered.connect(self.choose_model_folder)
        a.open_image.triggered.connect(self.choose_image)
        a.reveal_output.triggered.connect(self.reveal_output)
        a.choose_output.triggered.connect(self.choose_output_folder)
        a.quit.triggered.connect(self.close)
        a.restart_engine.triggered.connect(self.restart_engine)
        for key, action in a.modes.items():
            action.triggered.connect(lambda _=False, k=key: self.comparison.set_mode(k))
        self.comparison.modeChanged.connect(lambda key: a.modes[key].setChecked(True))
        a.modes[self.comparison.mode()].setChecked(True)
        a.smooth.toggled.connect(self.comparison.set_smooth)
        for name in ("fit", "actual_size", "zoom_in", "zoom_out"):
            getattr(a, name).triggered.connect(
                lambda _=False, n=name: self.comparison.zoom_shown(n)
            )
        self.comparison.smoothChanged.connect(self._on_smooth)

    def _restore_view(self) -> None:
        self.comparison.set_smooth(self.settings.upscale is Upscale.smooth)
        store = self.geometry_store
        geometry = store.value(GEOMETRY_KEY) if store is not None else None
        screen = self.screen() or QGuiApplication.primaryScreen()
        available = screen.availableGeometry()
        restored = isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)
        if not restored or not fits(self.geometry(), available):
            self.setGeometry(first_geometry(available))
        splitter = store.value(SPLITTER_KEY) if store is not None else None
        if splitter:
            self.splitter.restoreState(splitter)

    # --- running -------------------------------------------------------------------------------

    def generate(self) -> list[str]:
        """Send the current parameters to the engine (Ctrl+Enter); the job ids sent."""
        if self.engine_failure:
            self.show_error(self.engine_failure)
            return []
        if self.banner.kind == "error":
            self.banner.dismiss()
        sent = self.session.generate()
        if sent:
            self.show_page(self.preview)
            jobs = "1 job" if len(sent) == 1 else f"{len(sent)} jobs"
            self.set_status(f"Queued {jobs}.")
        return sent

    def run_grid(self) -> str:
        """Send the Grid tab's grid (Ctrl+G) and show that tab; the job id, or ""."""
        job_id = self._run_study(self.session.grid.run, self.grid_panel)
        if job_id and self.session.grid.grid is not None:
            self.set_status("Queued a grid.")
        return job_id

    def run_curves(self) -> str:
        """Send the Convergence tab's curves (Ctrl+Shift+G) and show that tab; a long run
        only after the user confirmed its estimate."""
        if not self.engine_failure and not self.convergence_panel.confirm_run():
            return ""
        job_id = self._run_study(self.session.convergence.run, self.convergence_panel)
        if job_id:
            self.set_status("Queued convergence curves: the references come first.")
        return job_id

    def _run_study(self, run, panel: QWidget) -> str:
        if self.engine_failure:
            self.show_error(self.engine_failure)
            return ""
        self.show_page(panel)
        return run()

    def open_grid_cell(self, x: int, y: int) -> None:
        """Show cell (x, y) in the comparison view beside the pinned cell."""
        grid = self.session.grid
        cell, pinned = grid.cell(x, y), grid.cell(*self.grid_panel.view.pinned)
        if cell is None or cell.image is None:
            return
        left = pinned if pinned is not None and pinned.image is not None else cell
        self.preview.show_pair(cell_pane(left), cell_pane(cell), pair_summary(left, cell))
        self.show_page(self.preview)
        self.set_status(f"Showing grid cell {cell.label}; Alt+2 goes back to the grid.")

    def _on_busy(self, busy: bool) -> None:
        if not busy and self.status_line.text().startswith("Queued"):
            self.set_status("Ready.")
        if not busy:
            self._end_activity("Ready.")
        self.controls.set_busy(busy)
        self.window_actions.stop.setEnabled(busy)
        self.window_actions.cancel.setEnabled(busy)

    # --- messages ------------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.banner.show_message(text, "error")
        self._end_activity("Stopped: the message above says why.")

    def _end_activity(self, text: str) -> None:
        """An engine activity on the status line ("Loading …") ended: replace it with `text`."""
        if self._activity and self.status_line.text() == self._activity:
            self.set_status(text)
        self._activity = ""

    def _dismiss_stale_error(self, *_: object) -> None:
        """The user changed what an error was about: the error no longer describes the window."""
        stale = self.banner.kind == "error" and self.banner.message() != self.engine_failure
        if stale:
            self.banner.dismiss()

    def show_notice(self, text: str) -> None:
        self.banner.show_message(text, "notice")

    def set_status(self, text: str) -> None:
        self.status_line.setText(text)

    def set_engine_status(self, text: str) -> None:
        """What the engine is doing in the background (importing torch, loading a model); an
        activity ("…") lasts until the next report, the end of the work, or an error; so does
        any report made while a job runs."""
        if not self.engine_failure:
            busy = self.session.busy
            if busy:
                text = text.removeprefix(READY_PREFIX)  # a job runs: the engine is not idle
            self.set_status(text)
            self._activity = text if busy or text.endswith("…") else ""

    def restart_engine(self) -> bool:
        """Swap in a fresh engine (all model memory freed), also after it had stopped."""
        if not self.session.restart_engine():
            self.show_error(RESTART_REMOTE if self.engine_url else RESTART_REFUSED)
            return False
        self._clear_engine_failure()
        self.set_status(RESTARTING)
        self._activity = RESTARTING
        self.engineRestarted.emit()
        return True

    def show_engine(self, url: str) -> None:
        """Name the engine the jobs now go to: the served one at `url`, or "" for this computer;
        a failure of the engine before it no longer holds."""
        self.engine_url = url
        self.engine_label.setText(f"Engine: {url or LOCAL_ENGINE}")
        self.engine_label.setToolTip(
            f"The jobs run on the engine served at {url}" if url else "The jobs run here"
        )
        self.window_actions.local_engine.setEnabled(bool(url))
        self._clear_engine_failure()

    def _clear_engine_failure(self) -> None:
        if self.engine_failure:
            self.engine_failure = ""
            self.controls.generate_button.setEnabled(True)
            self.controls.generate_button.setToolTip(self._generate_tip)
            self.window_actions.generate.setEnabled(True)
            self.banner.dismiss()

    def set_engine_failed(self, text: str) -> None:
        """The engine cannot run jobs: say so, and keep everything else usable."""
        if not self.engine_failure:
            self._generate_tip = self.controls.generate_button.toolTip()
        self.engine_failure = text
        self.controls.generate_button.setEnabled(False)
        self.controls.generate_button.setToolTip(text)
        self.window_actions.generate.setEnabled(False)
        self.set_status(text)
        self.show_error(text)

    # --- models --------------------------------------------------------------------------------

    def apply_pair(self, pair: ModelPair) -> None:
        """Use `pair` as if the user picked it in the model picker."""
        self.pairs.apply(pair)

    def sync_pair(self) -> None:
        self.pairs.sync()

    def add_model_folder(self, folder: Path) -> ModelPair | None:
        """Offer a local diffusers folder in the picker and use it; None when it is no model."""
        pair = self.pairs.add_folder(folder)
        if pair is not None:
            self.set_status(f"Added the model folder {folder}.")
        return pair

    def _connect_library(self) -> None:
        self.window_actions.choose_models.triggered.connect(self.choose_models_folder)
        self.library_panel.chooseRequested.connect(self.choose_models_folder)
        self.library_panel.useRequested.connect(self.use_library_model)
        self.library_panel.adapterRequested.connect(self.library_use.use_adapter)
        self.library_panel.forgetPicklesRequested.connect(self.library_use.forget_pickles)
        self.library.entriesChanged.connect(self._offer_library)
        if self.library.folder:
            self.library.scan()

    def _offer_library(self) -> None:
        self.pairs.offer([entry.model_name() for entry in self.library.models()])

    def set_models_folder(self, folder: Path) -> None:
        """Scan `folder` for models, list them in Models and the picker, and remember it."""
        self.settings.models_folder = str(folder)
        self.library.set_folder(str(folder))
        self.show_page(self.library_panel)
        self.set_status(self.library.summary())

    def use_library_model(self, name: str, as_student: bool) -> ModelPair | None:
        """Use a Models-tab entry; a pickle file only after the user allows that one file."""
        return self.library_use.use_model(name, as_student)

    # --- files ---------------------------------------------------------------------------------

    def choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a diffusers model folder")
        if folder:
            self.add_model_folder(Path(folder))

    def choose_models_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the folder your models are in", self.library.folder
        )
        if folder:
            self.set_models_folder(Path(folder))

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Load the parameters of an image",
            str(self.session.gallery.store.folder),
            "PNG images (*.png)",
        )
        if path:
            self.load_image_parameters(Path(path))

    def load_image_parameters(self, path: Path) -> bool:
        parsed = self.session.gallery.import_png(path)
        if parsed is not None:
            self.set_status(f"Loaded the parameters of {path.name}.")
            show_opened(self.preview, self.tabs, path, parsed)
        return parsed is not None

    def reveal_output(self) -> None:
        folder = self.session.gallery.store.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.show_error(f"Could not create {folder}: {exc.strerror or exc}.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def choose_output_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Save images into", str(self.session.gallery.store.folder)
        )
        if folder:
            self.set_output_folder(Path(folder))

    def set_output_folder(self, folder: Path) -> None:
        self.settings.output_dir = str(folder)
        self.session.gallery.store = GalleryStore(folder)
        self.session.gallery.load()
        self._show_output_folder()

    def _show_output_folder(self) -> None:
        folder = self.session.gallery.store.folder
        self.output_label.setText(f"Saving to {folder}")
        self.output_label.setToolTip(str(folder))

    def _on_smooth(self, smooth: bool) -> None:
        self.settings.upscale = Upscale.smooth if smooth else Upscale.nearest
        self.window_actions.smooth.setChecked(smooth)

    # --- closing ----------------------------------------------------------------

    def save_settings(self) -> None:
        """Write the session's values to the settings file now (a pickle permission given or
        taken back must not wait for the window to close)."""
        self.settings.snapshot_from(self.session)
        self.settings.save()

    def save_state(self) -> None:
        """Remember the parameters (settings file) and the window's geometry (QSettings)."""
        self.save_settings()
        if self.geometry_store is not None:
            self.geometry_store.setValue(GEOMETRY_KEY, self.saveGeometry())
            self.geometry_store.setValue(SPLITTER_KEY, self.splitter.saveState())
            self.geometry_store.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.session.cancel()
        self.save_state()
        event.accept()
        self.closed.emit()
