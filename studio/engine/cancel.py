"""Cancel tokens shared between the thread that cancels and the thread that runs."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class Cancelled(Exception):
    """Raised inside a running job to discard it."""


class StopAndKeep(Exception):
    """Raised inside a running job to stop early and keep what it has so far."""

    def __init__(self, latents: torch.Tensor, x0: torch.Tensor | None, step: int) -> None:
        super().__init__(f"stopped after step {step}")
        self.latents = latents
        self.x0 = x0
        self.step = step


class CancelToken:
    """One job's cancel request: set once from any thread, read by the runner between phases."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._keep_partial = False

    def cancel(self, keep_partial: bool = False) -> None:
        if not self._event.is_set():
            self._keep_partial = keep_partial
            self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def keep_partial(self) -> bool:
        return self._event.is_set() and self._keep_partial

    def check(self) -> None:
        """Raise Cancelled when a discard was requested (stop-and-keep is the observer's job)."""
        if self._event.is_set() and not self._keep_partial:
            raise Cancelled()
