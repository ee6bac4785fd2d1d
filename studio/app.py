"""The window's composition root: Qt application, settings, engine, view-models, window, event loop.

`run()` shows the window at once. The engine is a child process by default
(`studio.worker.process_engine`: torch is never imported here, a crash of the engine costs one
job, not the window); it starts with the window and reports its start as events. The thread
engine (`engine="thread"`, for tests and as an option) waits until the window is on screen
before it imports torch. Either warms the default pair. A served engine (`studio --engine URL`,
or File > Connect to engine… at run time) is a `RemoteEngine` instead; switching engines closes
the old one off the UI thread. Events are consumed by one task on the qasync loop (the UI
thread). Closing the window cancels all jobs, saves the settings and the geometry, and stops
the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from studio.core.client import EngineClient
from studio.core.commands import LoadModel
from studio.core.engine_options import EngineOptions
from studio.core.gallery import GalleryStore
from studio.core.model_presets import USER_FOLDER
from studio.core.model_resolver import ModelResolver
from studio.core.remote_api import EngineAddress
from studio.desktop import APP_ID, icon_path
from studio.ui.main_window import MainWindow
from studio.viewmodels.model_pairs import ModelPairs
from studio.viewmodels.recipe_presets import shipped_presets
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel
from studio.worker.host import EngineHost, JobRunner, default_runner_factory, judged_runner
from studio.worker.process_engine import ProcessEngine
from studio.worker.remote_engine import RemoteEngine

log = logging.getLogger(__name__)

APP_NAME = "Studio"
ORGANIZATION = "Studio"
STARTUP_PROBE_ENV = "STUDIO_STARTUP_PROBE"
SHOW_WAIT_S = 3.0
WATCH_MS = 2000
SIGNAL_PULSE_MS = 250
DEAD_ENGINE = "The engine thread stopped unexpectedly; restart Studio (the details are in the log)."
STARTING_LOCAL = "Starting: the engine loads torch and the model in the background."
CONNECTING = "Connecting to the engine at {url}…"
CANNOT_CONNECT = "Cannot use the engine at {url}: {why}"
LOCAL_AGAIN = "Starting the engine on this computer again…"
CLOSE_WAIT_S = 12.0
ENGINE_RESTARTED = (
    "The engine thread stopped unexpectedly and was restarted, so queued jobs go on: run the job "
    "that was running again (the details are in the log)."
)


def make_application(argv: Sequence[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    app = (
        existing if isinstance(existing, QApplication) else QApplication(list(argv or sys.argv[:1]))
    )
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName(APP_ID)
    if icon_path().is_file():
        app.setWindowIcon(QIcon(str(icon_path())))
    return app


class EngineKind(StrEnum):
    """Where the window's engine runs: a child process (the default) or a thread of its own."""

    process = "process"
    thread = "thread"


class EngineAbandoned(RuntimeError):
    """The window closed before the engine thread began to import torch."""


class EngineStartup:
    """Holds the engine's torch import until the window is on screen, then reports its phases.

    `runner_factory` runs on the engine thread before the engine's event stream has a runner
    behind it, so these phases reach the UI thread through the loop; everything the running
    engine reports (model loads included) travels as events on its stream.
    """

    def __init__(self, build: Callable[[], JobRunner] | None = None) -> None:
        self._build = build
        self._shown = threading.Event()
        self._abandoned = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._report: Callable[[str], None] = lambda text: None

    def attach(self, loop: asyncio.AbstractEventLoop, report: Callable[[str], None]) -> None:
        self._loop, self._report = loop, report

    def window_shown(self) -> None:
        self._shown.set()

    def abandon(self) -> None:
        """The studio is closing: an engine that has not started yet never will."""
        self._abandoned = True
        self._shown.set()

    def runner_factory(self) -> JobRunner:
        self._shown.wait(SHOW_WAIT_S)
        if self._abandoned:
            raise EngineAbandoned("The studio closed before the engine started.")
        self.post("Starting the engine: importing torch…")
        build = self._build or default_runner_factory
        runner = build()
        self.post("Engine ready.")
        return runner

    def post(self, text: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._report, text)


class ExposeWatcher(QObject):
    """Calls back once, when the window is first painted (and writes the startup probe)."""

    def __init__(self, window: MainWindow, callback: Callable[[], None]) -> None:
        super().__init__(window)
        self._callback = callback
        self._done = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self._done and event.type() in (QEvent.Type.Paint, QEvent.Type.Expose):
            self._done = True
            QTimer.singleShot(0, self._callback)
        return False


class StudioApp:
    """Owns one run of the studio: the engine, the view-models and the window, start to shutdown."""

    def __init__(
        self,
        *,
        settings_path: str | os.PathLike[str] | None = None,
        gallery_dir: str | os.PathLike[str] | None = None,
        geometry: QSettings | None = None,
        client: EngineClient | None = None,
        startup: EngineStartup | None = None,
        engine: EngineKind = EngineKind.process,
        engine_url: str = "",
        engine_token: str = "",
        local_engine: Callable[[], EngineClient] | None = None,
        remote_engine: Callable[[str, str], EngineClient] = RemoteEngine,
    ) -> None:
        self.settings = SettingsViewModel(settings_path)
        settings = self.settings.load()
        self.models = ModelResolver.shipped(self.settings.path.parent / USER_FOLDER)
        for warning in self.models.presets.warnings:
            log.warning(warning)
        self.startup = startup or EngineStartup(build=partial(judged_runner, settings.engine))
        kind = EngineKind.thread if startup is not None else engine
        self._local = local_engine or (
            lambda: _new_client(kind, self.startup, self.settings.engine)
        )
        self._remote = remote_engine
        if client is None and engine_url:
            client = remote_engine(engine_url, engine_token or self._remembered_token(engine_url))
        self.client = client if client is not None else self._local()
        folder = Path(gallery_dir) if gallery_dir else self.settings.gallery_dir()
        store = GalleryStore(folder)
        self.session = SessionViewModel(self.client, store, settings, models=self.models)
        pairs = ModelPairs(self.models).shipped()
        self.window = MainWindow(
            self.session,
            self.settings,
            geometry or QSettings(),
            pairs=pairs,
            recipe_presets=shipped_presets(),
        )
        self.engine_url = _served_url(self.client)
        self.window.show_engine(self.engine_url)
        self.window.set_status(
            CONNECTING.format(url=self.engine_url) if self.engine_url else STARTING_LOCAL
        )
        if self.settings.notice:
            self.window.show_notice(self.settings.notice)
        if not settings.welcomed:
            self.window.welcome.show()
        self.closed = asyncio.Event()
        self.window.closed.connect(self.closed.set)
        self._closing = False
        self._watch = QTimer(self.window, interval=WATCH_MS)
        self._watch.timeout.connect(self._check_engine)
        self._consumer: asyncio.Future[None] | None = None
        self._closers: list[threading.Thread] = []
        self.window.engineRestarted.connect(self._listen_again)
        self.window.engine_connect.connectRequested.connect(self.use_served_engine)
        self.window.engine_connect.localRequested.connect(self.use_local_engine)

    def _remembered_token(self, url: str) -> str:
        remembered, token = self.settings.remembered_engine()
        return token if remembered and remembered == _full_url(url) else ""

    async def run(self) -> int:
        QApplication.setQuitOnLastWindowClosed(False)
        self.startup.attach(asyncio.get_running_loop(), self.window.set_engine_status)
        self._consumer = consumer = asyncio.ensure_future(self._consume())
        ExposeWatcher(self.window, self._on_shown)
        self.window.show()
        self.warm()
        self._watch.start()
        await self.closed.wait()
        self.shutdown()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(consumer, timeout=2.0)
        return 0

    def _on_shown(self) -> None:
        probe = os.environ.get(STARTUP_PROBE_ENV)
        if probe:
            Path(probe).write_text(f"{time.time():.6f}\n", encoding="utf-8")
            self.window.close()
            return
        self.startup.window_shown()
        self.session.gallery.load()

    def warm(self) -> None:
        """Ask the engine to load the selected pair while the user types."""
        s = self.session
        names = dict.fromkeys([s.teacher_model] + ([s.student_model] if s.compare_mode else []))
        for name in names:
            try:
                self.client.send(LoadModel(ref=self.models.resolve(name, s.pickle_permissions)))
            except (ValueError, RuntimeError) as exc:
                log.warning("could not warm %s: %s", name, exc)

    async def _consume(self) -> None:
        try:
            await self.session.consume(self.client)
        except Exception:
            log.exception("the event stream failed")
        if not self._closing:
            reason = self.session.last_error or "The engine stopped."
            self.window.set_engine_failed(f"The engine is not running: {reason}")

    def _listen_again(self) -> None:
        """The user restarted an engine that had stopped: consume its new event stream."""
        if self._consumer is not None and self._consumer.done() and not self._closing:
            self._consumer = asyncio.ensure_future(self._consume())

    def use_served_engine(self, url: str, token: str) -> bool:
        """Send the next jobs to the engine served at `url`; whether it could be used."""
        try:
            client = self._remote(url, token)
        except ValueError as exc:
            self.window.show_error(CANNOT_CONNECT.format(url=url, why=exc))
            return False
        self._swap(client, _served_url(client) or url)
        self.window.set_status(CONNECTING.format(url=self.engine_url))
        return True

    def use_local_engine(self) -> None:
        """Send the next jobs to an engine on this computer again."""
        if not self.engine_url:
            return
        self._swap(self._local(), "")
        self.window.set_status(LOCAL_AGAIN)
        self.warm()

    def _swap(self, client: EngineClient, url: str) -> None:
        """Give the session `client` and consume its events; the old engine's jobs are
        cancelled, and it is closed on a thread of its own (closing may wait for a server or
        a child process)."""
        old, consumer = self.client, self._consumer
        self.session.cancel()
        self.client, self.engine_url = client, url
        self.session.use_engine(client)
        if consumer is not None:
            consumer.cancel()
            self._consumer = asyncio.ensure_future(self._consume())
        closer = threading.Thread(target=_close, args=(old,), name="studio-engine-close")
        closer.start()
        self._closers = [t for t in self._closers if t.is_alive()] + [closer]
        self.window.show_engine(url)

    def _check_engine(self) -> None:
        if self.client.alive or self._closing or self.window.engine_failure:
            return
        if self.engine_url:
            return  # a served engine's stream says why it stopped
        if self.client.revive():
            log.error("the engine thread had died and was restarted")
            self.window.show_error(ENGINE_RESTARTED)
        else:
            self.window.set_engine_failed(DEAD_ENGINE)

    def shutdown(self) -> None:
        """Cancel everything and join the engine thread (the window already saved its state)."""
        self._closing = True
        self._watch.stop()
        self.session.cancel()
        self.startup.abandon()
        _close(self.client)
        for closer in self._closers:
            closer.join(CLOSE_WAIT_S)


def _close(client: EngineClient) -> None:
    try:
        client.close()
    except Exception:
        log.exception("closing the engine failed")


def _served_url(client: EngineClient) -> str:
    """The URL of a served engine; "" for an engine on this computer."""
    return client.address.url if isinstance(client, RemoteEngine) else ""


def _full_url(url: str) -> str:
    try:
        return EngineAddress.parse(url).url
    except ValueError:
        return url


def _new_client(kind: EngineKind, startup: EngineStartup, options: EngineOptions) -> EngineClient:
    if kind is EngineKind.thread:
        return EngineHost(runner_factory=startup.runner_factory)
    return ProcessEngine(options=options)


@contextlib.contextmanager
def close_on_signals(window: MainWindow) -> Iterator[None]:
    """Ctrl+C or SIGTERM close the window (and so shut down cleanly) instead of killing it."""
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in handled}
    for sig in handled:
        signal.signal(sig, lambda *_: QTimer.singleShot(0, window.close))
    pulse = QTimer(window, interval=SIGNAL_PULSE_MS)
    pulse.timeout.connect(lambda: None)
    pulse.start()
    try:
        yield
    finally:
        pulse.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def _main(
    engine: EngineKind, engine_url: str, engine_token: str, client: EngineClient | None
) -> int:
    studio = StudioApp(
        engine=engine, engine_url=engine_url, engine_token=engine_token, client=client
    )
    with close_on_signals(studio.window):
        return await studio.run()


def run(
    argv: Sequence[str] | None = None,
    engine: EngineKind = EngineKind.process,
    engine_url: str = "",
    engine_token: str = "",
    client: EngineClient | None = None,
) -> int:
    """Open the studio window and run until it is closed; the exit status. With `engine_url`,
    the jobs run on that served engine (`studio serve`) from the start; `client` is an engine
    already started for the window (`studio.cli.window.early_engine`)."""
    import qasync

    make_application(argv)
    return qasync.run(_main(engine, engine_url, engine_token, client))
