"""Control messages that only an engine's transport sends: never a command of the UI's."""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.jobs import Lane


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewTaken:
    """The window's consumer took (or dropped) the preview of `job_id`'s `lane` at `step`, so
    the engine process may render and send that lane's next one."""

    job_id: str
    lane: Lane
    step: int


ControlMessage = PreviewTaken
