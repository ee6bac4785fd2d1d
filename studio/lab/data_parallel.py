"""The seam a distillation run shares its steps through: one process by default, DDP workers
when studio.cluster runs it (the lab itself never imports Ray)."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.lab.batch import pick_device


def shard_rows(size: int, rank: int, count: int) -> slice:
    """Worker `rank`'s rows of a global batch of `size`: one of `count` equal contiguous shares."""
    if count < 1 or not 0 <= rank < count:
        raise ValueError(f"worker {rank} of {count} does not exist.")
    if size % count:
        raise ValueError(
            f"a batch of {size} does not split evenly over {count} workers: "
            f"pass a batch that is a multiple of {count}."
        )
    share = size // count
    return slice(rank * share, (rank + 1) * share)


class DataParallel:
    """How a run trains on one process: all rows of each batch, the module as it is, its own
    loss, and it writes its checkpoints, logs and exports itself. A distributed worker (rank r
    of n) overrides each of these."""

    rank = 0
    count = 1

    @property
    def writes(self) -> bool:
        """Whether this worker writes the run's files (checkpoint, loss logs, exports)."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        return pick_device()

    def rows(self, size: int) -> slice:
        return shard_rows(size, self.rank, self.count)

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module to train through (a distributed worker wraps it to average gradients)."""
        return module

    def mean(self, value: float) -> float:
        """The mean of `value` over the workers (a loss of the whole global batch)."""
        return value

    def checkpointed(self, path: Path, step: int, keep: tuple[Path, ...] = ()) -> None:
        """Called on every worker after the writer saved the run's state to `path` at `step`;
        `keep` names files beside `path` that resuming needs too (a distributed run restores
        them with it)."""


ONE_PROCESS = DataParallel()
