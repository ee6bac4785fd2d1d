"""Routing one engine's events to the requests that submitted the jobs, one inbox per job."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Collection

from studio.core.events import FINAL_EVENTS, Event, PreviewReady


class JobInbox:
    """One job's events in order, waiting for its request to stream them; a newer preview of a
    lane (and grid cell) replaces one still waiting, so a slow client gets the latest, never a
    backlog."""

    def __init__(self) -> None:
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()

    def put(self, event: Event) -> None:
        if isinstance(event, PreviewReady):
            for index, waiting in enumerate(self._events):
                if isinstance(waiting, PreviewReady) and _same_pane(waiting, event):
                    del self._events[index]
                    break
        self._events.append(event)
        self._ready.set()

    async def get(self) -> Event:
        while not self._events:
            self._ready.clear()
            await self._ready.wait()
        return self._events.popleft()

    async def get_all(self) -> list[Event]:
        """Everything waiting, once at least one event is."""
        first = await self.get()
        rest = list(self._events)
        self._events.clear()
        return [first, *rest]

    def __len__(self) -> int:
        return len(self._events)


def _same_pane(one: PreviewReady, other: PreviewReady) -> bool:
    return one.lane == other.lane and one.cell == other.cell


class EventRouter:
    """Hands each event of an engine to its job's inbox; an event of no job (a status line, a
    settings answer) goes to every open inbox, and one of a job nobody waits for is dropped."""

    def __init__(self) -> None:
        self._inboxes: dict[str, JobInbox] = {}

    def open(self, job_id: str) -> JobInbox:
        if job_id in self._inboxes:
            raise ValueError(f"The job {job_id} is already running on this engine.")
        inbox = self._inboxes[job_id] = JobInbox()
        return inbox

    def close(self, job_id: str) -> None:
        self._inboxes.pop(job_id, None)

    def route(self, event: Event) -> None:
        if not event.job_id:
            for inbox in self._inboxes.values():
                inbox.put(event)
            return
        waiting = self._inboxes.get(event.job_id)
        if waiting is not None:
            waiting.put(event)

    @property
    def open_jobs(self) -> tuple[str, ...]:
        return tuple(self._inboxes)


def is_final(event: Event) -> bool:
    return isinstance(event, FINAL_EVENTS)


def relayed(events: list[Event], only: Collection[str]) -> list[Event]:
    """The events a request asked for by type name (all when it named none); a job's last
    event always goes, so the request knows when its job ended."""
    if not only:
        return events
    return [event for event in events if is_final(event) or type(event).__name__ in only]
