"""The protocol between the UI side and an engine, local or remote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from studio.core.commands import Command
from studio.core.events import Event


@runtime_checkable
class EngineClient(Protocol):
    """Accepts commands without blocking (new settings are the `Configure` command) and streams
    events to one async consumer; `alive` says whether it can still run jobs, `revive`
    restarts an engine that died without being stopped (False when it could not, or need not),
    and `restart` swaps in a fresh engine on the user's request, letting go of every model (the
    running job ends cancelled, the queued ones run on the fresh engine)."""

    def send(self, command: Command) -> None: ...

    def listen(self) -> AsyncIterator[Event]: ...

    def close(self, timeout: float = 10.0) -> None: ...

    @property
    def alive(self) -> bool: ...

    def revive(self) -> bool: ...

    def restart(self) -> bool: ...
