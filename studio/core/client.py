"""The protocol between the UI side and an engine, local or remote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from studio.core.commands import Command
from studio.core.events import Event


@runtime_checkable
class EngineClient(Protocol):
    """Accepts commands without blocking and streams events to one async consumer."""

    def send(self, command: Command) -> None: ...

    def listen(self) -> AsyncIterator[Event]: ...

    def close(self, timeout: float = 10.0) -> None: ...
