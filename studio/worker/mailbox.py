"""Event delivery from the worker thread to one asyncio consumer, previews coalesced per lane."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable

from studio.core.events import EngineStopped, Event, LaneFinished, PreviewReady
from studio.core.jobs import Lane


class EventChannel:
    """Thread-safe outbox: ordered events plus a one-slot preview mailbox per lane.

    The producing thread never blocks on the consumer: it appends, and wakes the event loop
    only when no wake-up is already pending. A preview is rendered only when its lane's slot is
    empty, so the consumer never holds more than one preview per lane.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: deque[Event] = deque()
        self._slots: dict[Lane, PreviewReady] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._wake_pending = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        with self._lock:
            self._loop = loop
            self._wake = asyncio.Event()
            self._wake_pending = False
            if self._events or self._slots:
                self._wake.set()
            return self._wake

    def emit(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, LaneFinished):
                self._slots.pop(event.lane, None)
            self._events.append(event)
        self._notify()

    def offer_preview(self, lane: Lane, make: Callable[[], PreviewReady]) -> bool:
        with self._lock:
            if lane in self._slots:
                return False
        preview = make()
        with self._lock:
            self._slots[lane] = preview
        self._notify()
        return True

    def replace_preview(self, preview: PreviewReady) -> None:
        """Put a preview that arrived made (from a remote engine) in its lane's slot, in place
        of one the consumer has not taken yet."""
        with self._lock:
            self._slots[preview.lane] = preview
        self._notify()

    def clear_previews(self) -> None:
        with self._lock:
            self._slots.clear()

    def drain(self) -> list[Event]:
        """Everything waiting, previews first (they are older than any event queued after)."""
        with self._lock:
            self._wake_pending = False
            out: list[Event] = list(self._slots.values())
            self._slots.clear()
            out.extend(self._events)
            self._events.clear()
        return out

    def _notify(self) -> None:
        with self._lock:
            if self._wake_pending or self._loop is None or self._wake is None:
                return
            self._wake_pending = True
            loop, wake = self._loop, self._wake
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wake.set)


async def stream_of(channel: EventChannel) -> AsyncIterator[Event]:
    """Every event of `channel`, in order, to the one async consumer, until EngineStopped."""
    wake = channel.bind(asyncio.get_running_loop())
    while True:
        await wake.wait()
        wake.clear()
        for event in channel.drain():
            yield event
            if isinstance(event, EngineStopped):
                return
